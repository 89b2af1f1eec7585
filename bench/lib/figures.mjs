// @ts-check
/**
 * The figures of `npm run bench`, each a function of the bench returning
 * its table rows (see docs/benchmarks.md for what each one measures).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { claimDirect, fullScanNearest, releaseDeferredOutbox } from './baselines.mjs';
import { BERLIN, HAMBURG, MUNICH } from './city.mjs';
import { cellFigures } from './cell-figures.mjs';
import { clusterFigures } from './cluster-figures.mjs';
import { compare, describe, plainRow, ratioRow } from './compare.mjs';
import { doubleAssignments, insertFleet } from './database.mjs';
import { denseAssignmentFigure } from './dense-figures.mjs';
import { dispatchFigures } from './dispatch-figures.mjs';
import { closedLoop, runLoad } from './load-runner.mjs';
import { redisHungFigure } from './redis-hung.mjs';
import { slowClientsFigure } from './slow-clients.mjs';
import { writeBehindFigure } from './write-behind.mjs';
import { log } from './report.mjs';
import { fixed, percentile } from './stats.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */

/** @param {Bench} bench @returns {Promise<Row[]>} */
async function locationFigure(bench) {
  const { locationDrivers, locationConnections } = bench.settings;
  const drivers = bench.berlin.slice(0, locationDrivers);
  const load = (/** @type {string} */ url) => (/** @type {number} */ seconds) =>
    runLoad({ kind: 'location', url, connections: locationConnections, seconds, city: BERLIN.name, drivers }, bench.settings.workDir);
  const { service, baseline } = await compare(bench, 'location ingest', {
    service: load(bench.service.url),
    baseline: load(bench.baseline.url),
  });
  const clean = service.non2xx === 0 && service.errors === 0;
  const figure = `location ingest, ${drivers.length} drivers, ${locationConnections} conn`;
  return [
    ratioRow(`${figure}: req/s`, 'req/s', service.rps, baseline.rps, { text: '≥ 40 %', percent: true, holds: (r) => clean && r >= 0.4 }),
    ratioRow(`${figure}: p99`, 'ms', service.p99, baseline.p99, { text: '≤ 3x', holds: (r) => clean && r <= 3 }),
  ];
}

/**
 * The same ingest with the drivers on the move, as a fleet is, instead of
 * jumping anywhere in the city: then most of the write-behind's updates
 * leave the search index's position alone (it lags up to 200 m) and are HOT
 * updates. Other drivers than the first figure's, so each starts where it
 * was inserted.
 * @param {Bench} bench @returns {Promise<Row[]>}
 */
async function locationMovingFigure(bench) {
  const { locationDrivers, locationConnections } = bench.settings;
  const drivers = bench.berlin.slice(locationDrivers, 2 * locationDrivers);
  const load = (/** @type {string} */ url) => (/** @type {number} */ seconds) =>
    runLoad(
      { kind: 'location', moving: true, url, connections: locationConnections, seconds, city: BERLIN.name, drivers },
      bench.settings.workDir,
    );
  const { service, baseline } = await compare(bench, 'location ingest, fleet on the move', {
    service: load(bench.service.url),
    baseline: load(bench.baseline.url),
  });
  const clean = service.non2xx === 0 && service.errors === 0;
  const figure = `location ingest, fleet on the move, ${drivers.length} drivers, ${locationConnections} conn`;
  return [
    ratioRow(`${figure}: req/s`, 'req/s', service.rps, baseline.rps, { text: 'measured', percent: true, holds: () => clean }),
    ratioRow(`${figure}: p99`, 'ms', service.p99, baseline.p99, { text: 'measured', holds: () => clean }),
  ];
}

/**
 * Batches against single pings, both on the service in the same run: points
 * a second carried by `POST /drivers/:id/locations` (100 a request) over
 * single `PATCH /drivers/:id/location` requests a second.
 * @param {Bench} bench @returns {Promise<Row[]>}
 */
async function locationBatchFigure(bench) {
  const { locationDrivers, locationConnections } = bench.settings;
  const drivers = bench.berlin.slice(0, locationDrivers);
  const batchPoints = 100;
  const load = (/** @type {'location' | 'locations'} */ kind) => (/** @type {number} */ seconds) =>
    runLoad(
      { kind, url: bench.service.url, connections: locationConnections, seconds, city: BERLIN.name, drivers, batchPoints },
      bench.settings.workDir,
    );
  const { service: batches, baseline: singles } = await compare(bench, 'location batches', {
    service: load('locations'),
    baseline: load('location'),
  });
  const clean = batches.non2xx === 0 && batches.errors === 0 && singles.non2xx === 0;
  const figure = `location batches of ${batchPoints} vs single pings, ${locationConnections} conn: points/s`;
  return [ratioRow(figure, 'points/s', batches.rps * batchPoints, singles.rps, { text: '≥ 10x', holds: (r) => clean && r >= 10 })];
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
async function memoryFigure(bench) {
  const drivers = bench.berlin;
  log(`memory: every one of ${drivers.length} drivers pings once`);
  const pings = await runLoad(
    {
      kind: 'location',
      url: bench.service.url,
      connections: bench.settings.locationConnections,
      amount: drivers.length,
      city: BERLIN.name,
      drivers,
    },
    bench.settings.workDir,
  );
  log(`memory: ${describe(pings)} (${pings.non2xx} non-2xx)`);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const { rssMb, peakMb } = bench.service.memory();
  bench.notes.push(`memory: after the pings, ${await heapStatistics(bench.service.url)}.`);
  if (process.env.BENCH_HEAP_SNAPSHOT === '1') await heapSnapshot(bench);
  const figure = `memory: RSS after ${drivers.length} drivers pinged`;
  return [plainRow(figure, `${fixed(rssMb, 0)} MB (peak ${fixed(peakMb, 0)} MB)`, '≤ 256 MB', rssMb <= 256 && pings.non2xx === 0)];
}

/**
 * The V8 heap as the service's own /metrics reports it (prom-client's default metrics).
 * @param {string} url
 */
async function heapStatistics(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const mb = (/** @type {string} */ name) =>
    fixed(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]) / 2 ** 20, 0);
  return `V8 heap used ${mb('nodejs_heap_size_used_bytes')} MB of ${mb('nodejs_heap_size_total_bytes')} MB, external ${mb('nodejs_external_memory_bytes')} MB`;
}

/**
 * For profiling (BENCH_HEAP_SNAPSHOT=1, which also starts the service with
 * --heapsnapshot-signal): a heap snapshot of the service, in the work
 * directory; waits until the file stops growing.
 * @param {Bench} bench
 */
async function heapSnapshot(bench) {
  const dir = bench.settings.workDir;
  const snapshots = () => readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
  const before = new Set(snapshots());
  bench.service.child.kill('SIGUSR2');
  let size = -1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const file = snapshots().find((name) => !before.has(name));
    if (!file) continue;
    const now = statSync(join(dir, file)).size;
    if (now === size) return log(`memory: heap snapshot ${join(dir, file)}`);
    size = now;
  }
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
async function redisSearchFigure(bench) {
  const load = (/** @type {string} */ city) => (/** @type {number} */ seconds) =>
    runLoad(
      {
        kind: 'nearby',
        url: bench.service.url,
        connections: bench.settings.searchConnections,
        seconds,
        city,
        adminKey: bench.secrets.adminKey,
      },
      bench.settings.workDir,
    );
  const { service, baseline } = await compare(bench, 'nearest (Redis)', { service: load(BERLIN.name), baseline: load(HAMBURG.name) });
  const figure = `nearest, Redis path: p50 at ${bench.settings.fleet} vs ${bench.settings.smallFleet} drivers`;
  return [ratioRow(figure, 'ms', service.p50, baseline.p50, { text: '≤ 2x', holds: (r) => service.non2xx === 0 && r <= 2 })];
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
async function postgresSearchFigure(bench) {
  const concurrency = bench.settings.searchConnections;
  log('starting a second service instance without Redis');
  const pgService = await bench.startService({ name: 'service-pg', redis: false });
  const { service, baseline } = await bench.withPool(concurrency, (pool) =>
    compare(bench, 'nearest (PostgreSQL)', {
      service: (seconds) =>
        runLoad(
          { kind: 'nearby', url: pgService.url, connections: concurrency, seconds, city: BERLIN.name, adminKey: bench.secrets.adminKey },
          bench.settings.workDir,
        ),
      baseline: (seconds) => closedLoop({ concurrency, seconds, task: () => fullScanNearest(pool, BERLIN.randomPoint()) }),
    }),
  );
  bench.notes.push(`The PostgreSQL-only service instance used ${fixed(pgService.memory().rssMb, 0)} MB RSS after its figure.`);
  await pgService.stop();
  const figure = `nearest, PostgreSQL path: p50 vs full-scan haversine, ${bench.settings.fleet} drivers`;
  return [ratioRow(figure, 'ms', service.p50, baseline.p50, { text: '≤ 1/25 (0.04x)', holds: (r) => service.non2xx === 0 && r <= 1 / 25 })];
}

/**
 * The service assigns in Berlin (its fleet, known to Redis); the direct
 * baseline claims drivers of its own fleet in Munich, inserted now: were it
 * to claim Berlin drivers behind the service's back, Redis would keep
 * offering them and the service would pay for repairs the baseline caused.
 * @param {Bench} bench
 * @returns {Promise<Row[]>}
 */
async function assignmentFigures(bench) {
  const { assignConcurrency: concurrency, claimFleet } = bench.settings;
  log(`assignments: inserting ${claimFleet} drivers in ${MUNICH.name} for the direct baseline`);
  await insertFleet(
    bench.sql,
    Array.from({ length: claimFleet }, () => MUNICH.randomPoint()),
  );
  const prefix = `bench-${Date.now().toString(36)}`;
  const { service, baseline } = await bench.withPool(concurrency, (pool) =>
    compare(bench, 'assignments', {
      service: serviceAssignments(bench, `${prefix}-s`),
      baseline: directAssignments(pool, concurrency, `${prefix}-b`),
    }),
  );
  if (service.noDriver || baseline.noDriver)
    bench.notes.push(`assignments: NO_DRIVER_AVAILABLE answers: service ${service.noDriver}, baseline ${baseline.noDriver}.`);
  const doubles = await doubleAssignments(bench.sql);
  if (doubles.notBusy) bench.notes.push(`${doubles.notBusy} live deliveries have a driver that is not BUSY.`);
  return [
    ratioRow(`assignments/s, signed seller-order-ready, ${concurrency} conc`, '/s', service.rps, baseline.rps, {
      text: '≥ 50 %',
      percent: true,
      holds: (r) => service.non2xx === 0 && r >= 0.5,
    }),
    ...(await relayFigures(bench, service.rps)),
    plainRow(
      `double assignments (${doubles.deliveries} deliveries checked)`,
      `${doubles.drivers} drivers, ${doubles.orders} orders`,
      '0',
      doubles.drivers === 0 && doubles.orders === 0 && doubles.notBusy === 0,
    ),
  ];
}

/**
 * Rounds of signed seller-order-ready through the load generator; `rps` counts assignments only.
 * @param {Bench} bench
 * @param {string} prefix of the seller order ids
 * @returns {(seconds: number) => Promise<import('./load-runner.mjs').Measurement>}
 */
function serviceAssignments(bench, prefix) {
  let round = 0;
  return async (seconds) => {
    const { assignConcurrency: connections, workDir } = bench.settings;
    const spec = {
      kind: /** @type {const} */ ('order'),
      url: bench.service.url,
      connections,
      seconds,
      city: BERLIN.name,
      vendureSecret: bench.secrets.vendureSecret,
      orderPrefix: `${prefix}${round++}`,
    };
    const m = await runLoad(spec, workDir);
    return { ...m, rps: (m.count - m.non2xx - m.errors - (m.noDriver ?? 0)) / m.seconds };
  };
}

/**
 * Rounds of the claim transaction issued with `pg`, in Munich; `rps` counts assignments only.
 * @param {import('pg').Pool} pool
 * @param {number} concurrency
 * @param {string} prefix of the seller order ids
 * @returns {(seconds: number) => Promise<import('./load-runner.mjs').Measurement>}
 */
function directAssignments(pool, concurrency, prefix) {
  let order = 0;
  const task = () => {
    const pickup = MUNICH.randomPoint();
    return claimDirect(pool, { sellerOrderId: `${prefix}${order++}`, pickup, dropoff: MUNICH.near(pickup, 3_000) });
  };
  return async (seconds) => {
    const m = await closedLoop({ concurrency, seconds, task });
    return { ...m, rps: (m.outcomes.assigned ?? 0) / m.seconds, noDriver: m.outcomes['no-driver'] ?? 0 };
  };
}

/**
 * Commit→receiver latency of the messages the service's assignments wrote
 * (sent while the load ran), then the drain rate of a backlog: the
 * baseline's outbox rows, released to the relay all at once.
 * @param {Bench} bench
 * @param {number} assignmentRate the service's assignments per second
 * @returns {Promise<Row[]>}
 */
async function relayFigures(bench, assignmentRate) {
  const { rows: sent } = await bench.sql.query(
    `SELECT id, (extract(epoch FROM created_at) * 1000)::float8 AS created FROM webhook_messages WHERE next_attempt_at < created_at + interval '1 hour'`,
  );
  await bench.receiver.waitFor(sent.map((m) => m.id));
  const latencies = sent.map((m) => /** @type {number} */ (bench.receiver.arrivals.get(m.id)) - m.created);
  const [p50, p99] = [percentile(latencies, 50), percentile(latencies, 99)];
  const latency = `p50 ${fixed(p50, 1)} ms, p99 ${fixed(p99, 1)} ms`;
  log(`relay: ${sent.length} messages, commit→receiver ${latency}`);

  const ids = await releaseDeferredOutbox(bench.sql, bench.settings.drainMessages);
  await bench.receiver.waitFor(ids, 600_000);
  const times = ids.map((id) => /** @type {number} */ (bench.receiver.arrivals.get(id)));
  const drainRate = (ids.length - 1) / ((Math.max(...times) - Math.min(...times)) / 1000);
  log(`relay: drained ${ids.length} messages at ${fixed(drainRate, 0)}/s`);
  return [
    ratioRow(`webhook relay: drain rate of ${ids.length} queued vs assignment rate`, '/s', drainRate, assignmentRate, {
      text: '≥ 2x',
      holds: (r) => r >= 2,
    }),
    plainRow(`webhook relay: commit→receiver under assignment load (${sent.length} msgs)`, latency, 'p50 ≤ 100 ms', p50 <= 100),
  ];
}

export const FIGURES = {
  location: locationFigure,
  locationMoving: locationMovingFigure,
  locationBatch: locationBatchFigure,
  memory: memoryFigure,
  'search-redis': redisSearchFigure,
  'search-pg': postgresSearchFigure,
  assignment: assignmentFigures,
  assignmentDense: denseAssignmentFigure,
  dispatch: dispatchFigures,
  slowClients: slowClientsFigure,
  redisHung: redisHungFigure,
  cluster: clusterFigures,
  cells: cellFigures,
  writeBehind: writeBehindFigure,
};
