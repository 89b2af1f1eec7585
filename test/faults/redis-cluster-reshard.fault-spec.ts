import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { keyPrefixFor } from '../../src/redis/key-prefix.js';
import { FaultHarness, isOperation } from './support/harness.js';

/**
 * Scenario g. On a Redis Cluster of 3 masters, every slot of the master that
 * holds the service's keys is moved to another master with `redis-cli
 * --cluster reshard` while the load runs, keys and all. The client follows
 * the moved slot (MOVED and ASK redirections); a script refused while its
 * slot is half-moved falls back to PostgreSQL and asks for a reconciliation.
 * No 5xx, no wrong assignment, the books add up, and `drivers:geo` on the
 * new master equals PostgreSQL's choosable drivers.
 */
describe('fault: the slot of the service keys resharded to another Redis Cluster master under load', () => {
  const h = new FaultHarness({ services: 2, drivers: 14, redisClusterMasters: 3, env: { RECONCILE_INTERVAL_SECONDS: '3600' } });
  const geoKey = `${keyPrefixFor('cluster', '')}drivers:geo`;

  beforeAll(() => h.setUp(), 90_000);
  afterAll(() => h.tearDown(), 90_000);

  it('keeps answering correctly while the slot moves, and ends with drivers:geo right on the new master', async () => {
    const cluster = h.redisCluster!;
    const source = await cluster.portOf(geoKey);
    const target = cluster.ports.find((port) => port !== source)!;
    const stream = h.startStream({ orderPrefix: 'SO-RESHARD' });
    h.phase('warm-up');
    await stream.answered(stream.mark(), 30, isOperation);

    h.phase('resharding');
    const during = stream.mark();
    await cluster.reshardAll(source, target);
    await stream.answered(during, 20, isOperation);
    expect(await cluster.portOf(geoKey)).toBe(target);

    h.phase('resharded');
    const { sets, books } = await h.redisRepaired(stream, 'Redis still synced after the resharding');
    h.print(
      `g) every slot of master ${source} resharded to ${target} under load; geo ${sets.geo.length} = choosable ${sets.postgres.length}`,
      books,
    );

    h.expectRedisFaultSurvived(stream, 'resharding', { sets, books });
  });
});
