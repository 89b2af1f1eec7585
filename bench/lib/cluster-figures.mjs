// @ts-check
/**
 * The service on a Redis Cluster of 3 masters of the bench's own, beside the
 * service on the bench's single Redis, in one run:
 * - the nearest search among the Berlin fleet: p50 on the cluster against
 *   the same search on the single Redis (target ≤ 2x);
 * - location ingest through 2 service processes sharing the cluster against
 *   1 process on it (target: more than 1x);
 * - and, for the capacity model, Redis' memory per driver once reconciled.
 * Every key of the service sits in one slot on a cluster (the hash tag of its
 * prefix), so both figures measure the client and the cluster's overhead,
 * not a spread of the index over shards.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitForSync } from './bench-context.mjs';
import { BERLIN } from './city.mjs';
import { compare, plainRow, ratioRow } from './compare.mjs';
import { runLoad } from './load-runner.mjs';
import { startRedisCluster } from './redis-servers.mjs';
import { log } from './report.mjs';
import { ROOT } from './service.mjs';
import { fixed } from './stats.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */
/** @typedef {import('./load-runner.mjs').Measurement} Measurement */

const MASTERS = 3;

/**
 * Two measurements taken at the same time as one: rates and counts add up, latencies are the worse of the two.
 * @param {Measurement[]} parts
 * @returns {Measurement}
 */
function together(parts) {
  const sum = (/** @type {(m: Measurement) => number} */ pick) => parts.reduce((total, m) => total + pick(m), 0);
  return {
    count: sum((m) => m.count),
    seconds: Math.max(...parts.map((m) => m.seconds)),
    rps: sum((m) => m.rps),
    p50: Math.max(...parts.map((m) => m.p50)),
    p99: Math.max(...parts.map((m) => m.p99)),
    errors: sum((m) => m.errors),
    non2xx: sum((m) => m.non2xx),
  };
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function clusterFigures(bench) {
  const { keyPrefixFor } = await import(pathToFileURL(join(ROOT, 'dist/src/redis/key-prefix.js')).href);
  const { locationDrivers, locationConnections, searchConnections, workDir } = bench.settings;
  log(`cluster: starting a Redis Cluster of ${MASTERS} masters and a service instance on it, waiting for its reconciliation`);
  const cluster = await startRedisCluster(MASTERS);
  const redis = cluster.client(keyPrefixFor('cluster', ''));
  const env = { REDIS_CLUSTER_NODES: cluster.nodes };
  const instances = [];
  try {
    const usedMemory = async () => {
      const infos = await Promise.all(redis.nodes('master').map((node) => node.info('memory')));
      return infos.reduce((total, info) => total + Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), 0);
    };
    const emptyBytes = await usedMemory();
    const first = await bench.startService({ name: 'service-cluster-1', redis: false, env });
    instances.push(first);
    await waitForSync(/** @type {any} */ (redis));
    const { rows } = await bench.sql.query(`SELECT count(*)::int AS drivers FROM drivers`);
    const bytesPerDriver = ((await usedMemory()) - emptyBytes) / rows[0].drivers;
    log(`cluster: ${rows[0].drivers} drivers reconciled, ${fixed(bytesPerDriver, 0)} B of Redis memory each`);

    const nearby = (/** @type {string} */ url) => (/** @type {number} */ seconds) =>
      runLoad(
        { kind: 'nearby', url, connections: searchConnections, seconds, city: BERLIN.name, adminKey: bench.secrets.adminKey },
        workDir,
      );
    const search = await compare(bench, 'nearest, cluster vs single Redis', {
      service: nearby(first.url),
      baseline: nearby(bench.service.url),
    });

    log('cluster: a second service instance on the cluster');
    const second = await bench.startService({ name: 'service-cluster-2', redis: false, env });
    instances.push(second);
    const drivers = bench.berlin.slice(0, locationDrivers);
    const halves = [drivers.filter((_, i) => i % 2 === 0), drivers.filter((_, i) => i % 2 === 1)];
    const pings = (
      /** @type {string} */ url,
      /** @type {typeof drivers} */ some,
      /** @type {number} */ connections,
      /** @type {number} */ seconds,
    ) => runLoad({ kind: 'location', url, connections, seconds, city: BERLIN.name, drivers: some }, workDir);
    const ingest = await compare(bench, 'location ingest over the cluster, 2 processes vs 1', {
      service: async (seconds) =>
        together(await Promise.all([first, second].map((instance, i) => pings(instance.url, halves[i], locationConnections / 2, seconds)))),
      baseline: (seconds) => pings(first.url, drivers, locationConnections, seconds),
    });

    const clean = (/** @type {Measurement} */ m) => m.non2xx === 0 && m.errors === 0;
    return [
      plainRow(
        `Redis memory per driver after the reconciliation, ${rows[0].drivers} drivers (used_memory over the masters)`,
        `${fixed(bytesPerDriver, 0)} B`,
        'measured',
        bytesPerDriver > 0,
      ),
      ratioRow(
        `nearest on a Redis Cluster of ${MASTERS} masters vs a single Redis: p50, ${bench.settings.fleet} drivers`,
        'ms',
        search.service.p50,
        search.baseline.p50,
        { text: '≤ 2x', holds: (r) => clean(search.service) && r <= 2 },
      ),
      ratioRow(
        `location ingest over the cluster, 2 service processes vs 1, ${locationConnections} conn: req/s`,
        'req/s',
        ingest.service.rps,
        ingest.baseline.rps,
        { text: '> 1x', holds: (r) => clean(ingest.service) && clean(ingest.baseline) && r > 1 },
      ),
    ];
  } finally {
    await Promise.allSettled(instances.map((instance) => instance.stop()));
    redis.disconnect();
    await cluster.stop();
  }
}
