import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase } from './support/databases.js';
import { freePort } from './support/free-port.js';
import { PrivateRedis } from './support/private-redis.js';

/**
 * `npm run reload:check` as an operator runs it: PM2 starts two workers from
 * ecosystem.config.cjs, then `pm2 reload` replaces them under a steady stream
 * of location updates, assignments, cancellations and health checks. Not one
 * request may fail and no assignment may be left half done.
 */
describe('pm2 reload under load (ecosystem.config.cjs, cluster mode)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const redisServer = new PrivateRedis();

  beforeAll(async () => {
    database = await createTestDatabase('pm2_reload');
    await redisServer.start();
  });

  afterAll(async () => {
    await redisServer.stop();
    await database?.drop();
  });

  it('starts two healthy workers and reloads them with 0 failed requests', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/reload-under-load.mjs'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: database.url,
        REDIS_URL: redisServer.url,
        PORT: String(await freePort()),
        PM2_INSTANCES: '2',
        RELOAD_CHECK_SECONDS: '2',
      },
      timeout: 150_000,
    }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`reload check failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    expect(stdout).toContain('2 workers online and healthy');
    expect(stdout).toMatch(/requests: \d+, failed: 0\n/);
    expect(stdout).toContain('every worker replaced: yes; half-done assignments: 0');
    expect(stdout).toContain('RELOAD CHECK PASSED');
    // The stream really ran across the reload.
    expect(Number(/(\d+) requests were sent during it/.exec(stdout)![1])).toBeGreaterThan(0);
  }, 180_000);
});
