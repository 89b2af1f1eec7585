import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { FaultHarness, isOperation } from './support/harness.js';

/**
 * Scenario a. Redis is SIGKILLed under load, stays down while the load runs,
 * and comes back empty (no persistence). Assignment goes on on PostgreSQL
 * with the same answers: no 5xx, no wrong assignment, no driver twice; once
 * Redis is back, the reconciliation on reconnection (the periodic one is set
 * to an hour here, so it cannot be what repairs it) rebuilds `drivers:geo` to
 * exactly PostgreSQL's choosable drivers.
 */
describe('fault: Redis killed under load, restarted empty', () => {
  const h = new FaultHarness({ services: 1, drivers: 14, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('assigns correctly without Redis and rebuilds drivers:geo from PostgreSQL once it is back', async () => {
    const stream = h.startStream({ orderPrefix: 'SO-REDIS' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);

    h.phase('redis killed');
    const down = stream.mark();
    await h.redisServer.stop();
    // Held while the load runs: until 40 orders and moves have been answered without Redis.
    await stream.answered(down, 40, isOperation);

    h.phase('redis back, empty');
    await h.redisServer.start();
    const { sets, books } = await h.redisRepaired(stream, 'the reconciliation on reconnection');
    h.print(`a) Redis SIGKILLed and restarted empty; geo ${sets.geo.length} = choosable ${sets.postgres.length}`, books);

    h.expectRedisFaultSurvived(stream, 'redis killed', { sets, books });
  });
});
