import { afterAll, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AvailabilityReconciler } from '../../src/fleet/availability-reconciler.js';
import { LocationWriter } from '../../src/availability/location-writer.js';
import { createTestDatabase } from './databases.js';
import { eventually } from './eventually.js';
import { PrivateRedis } from './private-redis.js';
import { startTestApp, TestApp } from './test-app.js';

export interface ServiceEnvironment {
  database: Awaited<ReturnType<typeof createTestDatabase>>;
  /** This file's own redis-server: it may be flushed, stopped and started. */
  redisServer: PrivateRedis;
  /** A client of that server, for looking at the keys. */
  redis: Redis;
  /** A client of this file's database, for looking at the rows. */
  sql: pg.Client;
  /** The service under test, on that database and Redis. */
  t: TestApp;
  /** Empty tables and an empty, reconciled Redis: the only drivers are those the test makes. */
  reset(): Promise<void>;
}

/**
 * Gives a test file its own database, its own redis-server and the service on
 * both, created before its tests and removed after. Fields are set once the
 * file's beforeAll hooks have run.
 */
export function useServiceEnvironment(label: string, env: Record<string, string> = {}): ServiceEnvironment {
  const context = { redisServer: new PrivateRedis() } as ServiceEnvironment;

  beforeAll(async () => {
    context.database = await createTestDatabase(label);
    await context.redisServer.start();
    context.redis = new Redis(context.redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    context.sql = new pg.Client({ connectionString: context.database.url });
    await context.sql.connect();
    context.t = await startTestApp({
      DATABASE_URL: context.database.url,
      REDIS_URL: context.redisServer.url,
      RECONCILE_INTERVAL_SECONDS: '3600',
      ...env,
    });
    await eventually(async () => (await context.redis.exists('drivers:synced')) === 1, { what: 'first reconciliation' });
  });

  afterAll(async () => {
    await context.t?.close();
    context.redis?.disconnect();
    await context.redisServer.stop();
    await context.sql?.end();
    await context.database?.drop();
  });

  context.reset = async () => {
    await context.t.app.get(LocationWriter).flush();
    // The service's own background work (timers, the relay) may hold the tables for a moment: a deadlock is tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        await context.sql.query(
          'TRUNCATE tracking_links, webhook_messages, delivery_events, delivery_refusals, deliveries, drivers, webhook_receipts',
        );
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
      }
    }
    await context.redis.flushall().catch(() => undefined);
    await context.t.app.get(AvailabilityReconciler).reconcile();
  };
  return context;
}
