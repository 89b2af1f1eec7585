// @ts-check
/**
 * Redis hung against Redis stopped, in one run: a service instance on a
 * redis-server of its own, under location updates and assignments at once,
 * first for a round while that Redis is paused (`CLIENT PAUSE ... ALL`:
 * connected, every command held), then for a round while it is stopped. A
 * stopped Redis fails commands at once; a silent one must cost no more, once
 * the breaker has opened: the p99 of each stream within 3x of the stopped
 * round's. (The shared Redis of the other figures is never paused: other
 * users would hang with it.)
 */
import { Redis } from 'ioredis';
import { waitForSync } from './bench-context.mjs';
import { BERLIN } from './city.mjs';
import { describe, ratioRow } from './compare.mjs';
import { runLoad } from './load-runner.mjs';
import { freePort, startRedisServer } from './redis-servers.mjs';
import { log } from './report.mjs';

/** How long each round lasts, the pause with it (plus a margin for the load generators to start and stop). */
const ROUND_SECONDS = 30;
const PAUSE_MARGIN_SECONDS = 3;

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */
/** @typedef {import('./load-runner.mjs').Measurement} Measurement */

/** @param {string} url @param {string} name @returns {Promise<number>} */
async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function redisHungFigure(bench) {
  const { locationDrivers, locationConnections, assignConcurrency, warmupSeconds, workDir } = bench.settings;
  const server = await startRedisServer(await freePort());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  redis.on('error', () => undefined);
  log('redis hung: starting a service instance on its own redis-server');
  const service = await bench.startService({ name: 'service-own-redis', redis: true, redisUrl: server.url });
  const drivers = bench.berlin.slice(0, locationDrivers);
  const prefix = `bench-hung-${Date.now().toString(36)}`;
  let round = 0;
  /** Location updates and assignments together for `seconds`. @param {number} seconds */
  const both = async (seconds) => {
    const [pings, orders] = await Promise.all([
      runLoad({ kind: 'location', url: service.url, connections: locationConnections, seconds, city: BERLIN.name, drivers }, workDir),
      runLoad(
        {
          kind: 'order',
          url: service.url,
          connections: assignConcurrency,
          seconds,
          city: BERLIN.name,
          vendureSecret: bench.secrets.vendureSecret,
          orderPrefix: `${prefix}-${round++}`,
        },
        workDir,
      ),
    ]);
    return { pings, orders };
  };
  /** @param {string} label @param {{ pings: Measurement, orders: Measurement }} m */
  const report = (label, m) =>
    log(
      `redis hung: ${label}: location ${describe(m.pings)}; assignments ${describe(m.orders)} (${m.pings.non2xx + m.orders.non2xx} non-2xx)`,
    );
  try {
    await waitForSync(redis);
    if (warmupSeconds > 0) report('warm-up, Redis up', await both(warmupSeconds));

    const openingsBefore = await metric(service.url, 'redis_circuit_openings_total');
    await redis.call('CLIENT', 'PAUSE', String((ROUND_SECONDS + PAUSE_MARGIN_SECONDS) * 1000), 'ALL');
    const paused = await both(ROUND_SECONDS);
    report(`Redis paused ${ROUND_SECONDS} s`, paused);
    const openings = (await metric(service.url, 'redis_circuit_openings_total')) - openingsBefore;
    bench.notes.push(`redis hung: the breaker opened ${openings} time(s) during the paused round.`);
    // Its next command answers once the pause is over.
    await redis.ping();

    await server.stop();
    const stopped = await both(ROUND_SECONDS);
    report(`Redis stopped`, stopped);

    const clean = [paused, stopped].every((m) => m.pings.non2xx + m.pings.errors + m.orders.non2xx + m.orders.errors === 0);
    const figure = (/** @type {string} */ what) => `Redis hung ${ROUND_SECONDS} s vs stopped: ${what} p99`;
    return [
      ratioRow(figure(`location update, ${locationConnections} conn`), 'ms', paused.pings.p99, stopped.pings.p99, {
        text: '≤ 3x',
        holds: (r) => clean && r <= 3,
      }),
      ratioRow(figure(`assignment, ${assignConcurrency} conc`), 'ms', paused.orders.p99, stopped.orders.p99, {
        text: '≤ 3x',
        holds: (r) => clean && r <= 3,
      }),
    ];
  } finally {
    redis.disconnect();
    await service.stop();
    await server.stop();
  }
}
