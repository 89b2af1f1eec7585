import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/eventually.js';
import { FaultHarness, isOperation } from './support/harness.js';

/** The client's own limit on one Redis command (RedisService). */
const COMMAND_TIMEOUT_MS = 2_000;
/** How long Redis holds every command: longer than the load needs to get its answers while it does. */
const HUNG_MS = 20_000;

/**
 * Scenario a, hung: Redis stays connected but stops answering under load
 * (`CLIENT PAUSE ... ALL`: every command is held, the connections stay up),
 * the case that a stopped Redis (redis-restart.fault-spec.ts) does not cover.
 * Two processes, as under PM2. Each opens its breaker on the silence and runs
 * on PostgreSQL with the same answers: no 5xx, no wrong assignment, and no
 * request waiting for Redis more than once. When the pause ends, the commands
 * it held run, and the reconciliation on return (the periodic one is set to an
 * hour here) brings `drivers:geo` to exactly PostgreSQL's choosable drivers,
 * the writes Redis missed and those late commands included.
 */
describe('fault: Redis hung under load (connected, not answering)', () => {
  const h = new FaultHarness({ services: 2, drivers: 14, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });
  const circuit = async (slot: number) => {
    const text = await (await fetch(`${h.bases[slot]}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    return { open: value('redis_circuit_open'), openings: value('redis_circuit_openings_total') };
  };

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('assigns correctly on PostgreSQL while Redis is silent, and trusts Redis again only once reconciled', async () => {
    const stream = h.startStream({ orderPrefix: 'SO-HUNG' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);
    const before = await Promise.all(h.ports.map((_, slot) => circuit(slot)));

    h.phase('redis hung');
    const hung = stream.mark();
    // The harness's client is held too: its next command answers once the pause is over.
    await h.redis.call('CLIENT', 'PAUSE', String(HUNG_MS), 'ALL');
    await stream.answered(hung, 40, isOperation);
    const during = await Promise.all(h.ports.map((_, slot) => circuit(slot)));
    const health: unknown = await (await fetch(`${h.bases[0]}/health`)).json();
    await h.redis.ping();

    h.phase('redis answers again');
    await eventually(async () => (await Promise.all(h.ports.map((_, slot) => circuit(slot)))).every((c) => c.open === 0), {
      what: 'every breaker closed',
    });
    const { sets, books } = await h.redisRepaired(stream, 'the reconciliation on return');
    const slowest = Math.max(...h.recordsOf('redis hung').map((r) => r.endedAt - r.startedAt));
    h.print(
      `a) Redis hung ${HUNG_MS / 1000} s; slowest answer meanwhile ${slowest} ms; geo ${sets.geo.length} = choosable ${sets.postgres.length}`,
      books,
    );

    h.expectRedisFaultSurvived(stream, 'redis hung', { sets, books });
    // Each process opened its breaker once, reported it, and closed it.
    expect(during.map((c) => c.open)).toEqual([1, 1]);
    expect(during.map((c, slot) => c.openings - before[slot].openings)).toEqual([1, 1]);
    expect(health).toMatchObject({ status: 'ok', info: { redis: { status: 'down', message: 'circuit open' } } });
    // Not a speed test: a request that waited for Redis twice would need two command timeouts; before the breaker a
    // location update took 10 s here.
    expect(slowest).toBeLessThan(2 * COMMAND_TIMEOUT_MS);
  });
});
