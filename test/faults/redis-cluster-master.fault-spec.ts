import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { keyPrefixFor } from '../../src/redis/key-prefix.js';
import { FaultHarness, isOperation } from './support/harness.js';

/**
 * Scenario f. On a Redis Cluster of 3 masters (no replicas), the master that
 * holds the service's keys is SIGKILLed under load, stays down while the load
 * runs, and comes back empty with its slots. Assignment goes on on
 * PostgreSQL with the same answers: no 5xx, no wrong assignment, no driver
 * twice; once the master is back, the service (which saw the node go) resets
 * and reconciles, and `drivers:geo` is again exactly PostgreSQL's choosable
 * drivers. The periodic reconciliation is set to an hour, so it cannot be
 * what repairs it.
 */
describe('fault: a Redis Cluster master killed under load, restarted empty', () => {
  const h = new FaultHarness({ services: 2, drivers: 14, redisClusterMasters: 3, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('assigns correctly while the master is down and rebuilds drivers:geo once it is back', async () => {
    const master = await h.redisCluster!.portOf(`${keyPrefixFor('cluster', '')}drivers:geo`);
    const stream = h.startStream({ orderPrefix: 'SO-CLUSTER' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);

    h.phase('master killed');
    const down = stream.mark();
    await h.redisCluster!.kill(master);
    await stream.answered(down, 40, isOperation);

    h.phase('master back, empty');
    await h.redisCluster!.restart(master);
    const { sets, books } = await h.redisRepaired(stream, 'the reconciliation once the master is back');
    h.print(
      `f) Redis Cluster master ${master} SIGKILLed and restarted empty; geo ${sets.geo.length} = choosable ${sets.postgres.length}`,
      books,
    );

    h.expectRedisFaultSurvived(stream, 'master killed', { sets, books });
  });
});
