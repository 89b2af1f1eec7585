import { afterAll, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestDatabase } from './databases.js';
import { PrivateRedis } from './private-redis.js';
import { migrateWithBuiltService, ServiceProcess, startServiceProcesses } from './service-process.js';

export interface ServiceCluster {
  database: Awaited<ReturnType<typeof createTestDatabase>>;
  redisServer: PrivateRedis;
  /** A client of the cluster's Redis, for looking at the keys. */
  redis: Redis;
  /** A client of the cluster's database, for looking at the rows. */
  sql: pg.Client;
  /** The built service processes, as PM2 cluster workers, and their base URLs. */
  services: ServiceProcess[];
  bases: string[];
}

/**
 * Several built service processes on one database and one private Redis of
 * the test file's own, as PM2 runs them in cluster mode. The schema is
 * applied and `seed` runs before the processes start, so their start-up
 * reconciliation finds what it wrote. Fields are set once the file's
 * beforeAll hooks have run; everything is stopped and dropped after.
 */
export function useServiceCluster(
  label: string,
  options: { processes: number; env: Record<string, string>; seed?: (sql: pg.Client) => Promise<void> },
): ServiceCluster {
  const cluster = { redisServer: new PrivateRedis(), services: [], bases: [] } as unknown as ServiceCluster;

  beforeAll(async () => {
    cluster.database = await createTestDatabase(label);
    await cluster.redisServer.start();
    cluster.redis = new Redis(cluster.redisServer.url, { maxRetriesPerRequest: 1 });
    await migrateWithBuiltService(cluster.database.url);
    cluster.sql = new pg.Client({ connectionString: cluster.database.url });
    await cluster.sql.connect();
    await options.seed?.(cluster.sql);
    Object.assign(
      cluster,
      await startServiceProcesses(options.processes, {
        DATABASE_URL: cluster.database.url,
        REDIS_URL: cluster.redisServer.url,
        ...options.env,
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(cluster.services.map((service) => service.stop()));
    cluster.redis?.disconnect();
    await cluster.redisServer.stop();
    await cluster.sql?.end();
    await cluster.database?.drop();
  });

  return cluster;
}
