import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { keyPrefixFor } from '../../src/redis/key-prefix.js';
import { eventually } from '../support/eventually.js';
import { FaultHarness, isOperation } from './support/harness.js';

/**
 * Scenario h. On a Redis Cluster of 3 masters with a replica each, the master
 * that holds the service's keys is SIGKILLed under load and its replica takes
 * over. Replication is asynchronous, so the new master may lack the last
 * writes, and nothing about the cluster looks restarted: the keys are there,
 * `drivers:synced` too. The service must not trust it on that: the lost node
 * makes it reset and reconcile (the periodic run is an hour away, so only
 * that can write a newer `drivers:synced`). No 5xx, no wrong assignment, the
 * books right, and `drivers:geo` on the new master equals PostgreSQL's
 * choosable drivers.
 */
describe('fault: a Redis Cluster failover to a replica under load', () => {
  const h = new FaultHarness({
    services: 2,
    drivers: 14,
    redisClusterMasters: 3,
    redisClusterReplicas: 1,
    env: { RECONCILE_INTERVAL_SECONDS: '3600' },
  });
  const geoKey = `${keyPrefixFor('cluster', '')}drivers:geo`;

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('reconciles the promoted replica and keeps answering correctly', async () => {
    const cluster = h.redisCluster!;
    const master = await cluster.portOf(geoKey);
    const stream = h.startStream({ orderPrefix: 'SO-FAILOVER' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);
    const syncedBefore = await h.redis.get('drivers:synced');
    expect(syncedBefore).not.toBeNull();

    h.phase('failover');
    const during = stream.mark();
    await cluster.kill(master);
    const promoted = await cluster.failedOver(master, geoKey);
    await stream.answered(during, 40, isOperation);
    // A reconciliation that finished after the failover, on the promoted replica.
    await eventually(
      async () => {
        const synced = await h.redis.get('drivers:synced');
        return synced !== null && synced !== syncedBefore;
      },
      { timeoutMs: 20_000, what: 'a reconciliation after the failover' },
    );

    h.phase('failed over');
    const { sets, books } = await h.redisRepaired(stream, 'Redis synced after the failover');
    h.print(
      `h) master ${master} SIGKILLed, replica ${promoted} promoted; geo ${sets.geo.length} = choosable ${sets.postgres.length}`,
      books,
    );
    h.expectRedisFaultSurvived(stream, 'failover', { sets, books });
  });
});
