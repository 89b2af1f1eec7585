import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { keyPrefixFor } from '../src/redis/key-prefix.js';
import { RedisService } from '../src/redis/redis.service.js';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { PrivateRedisCluster } from './support/private-redis-cluster.js';
import { startTestApp, TestApp } from './support/test-app.js';

/**
 * The service on a Redis Cluster of 3 masters with a replica each, idle (no
 * write fails, so nothing else asks for a reconciliation). When the master
 * holding the service's keys dies and its replica takes over, the promoted
 * replica may lack the last writes though nothing looks restarted: the
 * service counts the lost node (ioredis' `-node`; or the breaker's silence,
 * if a command meets the dead node first) as a lost connection, resets Redis
 * (deletes `drivers:synced`, so searches use PostgreSQL) and reconciles it.
 */
describe('Redis Cluster: a failover to a replica is reset and reconciled', () => {
  const cluster = new PrivateRedisCluster(3, 1);
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let redis: Cluster;
  let t: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase('redis_cluster');
    await cluster.start();
    redis = cluster.client();
    t = await startTestApp({ DATABASE_URL: database.url, REDIS_CLUSTER_NODES: cluster.nodesVariable, RECONCILE_INTERVAL_SECONDS: '3600' });
    await eventually(async () => (await redis.exists('drivers:synced')) === 1, { what: 'the first reconciliation' });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    redis?.disconnect();
    await cluster.stop();
    await database?.drop();
  });

  it('resets and reconciles once the replica has taken over', async () => {
    const service = t.app.get(RedisService);
    const synced = await redis.get('drivers:synced');
    let resets = 0;
    service.onReset(() => Promise.resolve((resets += 1)));
    const lapses = service.lapseCount;

    const syncedKey = `${keyPrefixFor('cluster', '')}drivers:synced`;
    const master = await cluster.portOf(syncedKey);
    await cluster.kill(master);
    const promoted = await cluster.failedOver(master, syncedKey);
    expect(promoted).not.toBe(master);

    await eventually(() => resets > 0 && service.isReady, { timeoutMs: 20_000, what: 'the reset after the failover' });
    expect(service.lapseCount).toBeGreaterThan(lapses);
    // The periodic run is an hour away: only the reconciliation on return writes a newer mark.
    await eventually(
      async () => {
        const now = await redis.get('drivers:synced');
        return now !== null && now !== synced;
      },
      { timeoutMs: 20_000, what: 'a reconciliation on the promoted replica' },
    );
  });
});
