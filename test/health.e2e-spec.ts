import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { newDriver, newPhone } from './support/factories.js';
import { PrivateRedis } from './support/private-redis.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { admin, startTestApp, TestApp } from './support/test-app.js';

/**
 * Health and degraded operation. Redis is a private redis-server this file
 * really stops and starts; PostgreSQL is reached through a proxy the test can
 * cut or hang, so the shared server stays up for the other files.
 */
describe('GET /health and running with a dependency down', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const redis = new PrivateRedis();
  const pgProxy = new TcpProxy(5432);
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(async () => {
    database = await createTestDatabase('health');
    await redis.start();
    const proxyPort = await pgProxy.start();
    t = await startTestApp({
      DATABASE_URL: database.url.replace(':5432/', `:${proxyPort}/`),
      REDIS_URL: redis.url,
    });
  });

  afterAll(async () => {
    await t?.close();
    await pgProxy.stop();
    await redis.stop();
    await database?.drop();
  });

  it('reports both up with 200 when PostgreSQL and Redis answer', async () => {
    await eventually(async () => (await http().get('/health')).body.info?.redis?.status === 'up', { what: 'redis up' });
    const response = await http().get('/health').expect(200);
    expect(response.body).toEqual({
      status: 'ok',
      info: { database: { status: 'up' }, redis: { status: 'up' } },
      error: {},
      details: { database: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('is live and ready with both up; ready lists database, redis and process, each up', async () => {
    await http().get('/health/live').expect(200, { status: 'ok' });
    const ready = await http().get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({
      status: 'ok',
      details: { database: { status: 'up' }, redis: { status: 'up' }, process: { status: 'up' } },
      error: {},
    });
  });

  it('reports redis down with 200 when Redis stops, and the driver routes keep working', async () => {
    await redis.stop();
    const health = await eventually(
      async () => {
        const response = await http().get('/health');
        return response.body.info?.redis?.status === 'down' && response;
      },
      { what: 'redis reported down' },
    );
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.info.database).toEqual({ status: 'up' });

    // Ready all the same: the service runs on PostgreSQL alone, which terminus calls degraded.
    const ready = await http().get('/health/ready').expect(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.details.redis).toEqual({ status: 'degraded', message: 'unreachable' });

    const driver = await newDriver(t);
    await http().get(`/drivers/${driver.id}`).set(admin).expect(200);
    await http().patch(`/drivers/${driver.id}`).set(admin).send({ name: 'Still works' }).expect(200);
    await http().get('/drivers').set(admin).expect(200);
  });

  it('reconnects on its own when Redis comes back', async () => {
    await redis.start();
    await eventually(async () => (await http().get('/health')).body.info?.redis?.status === 'up', {
      what: 'redis up again',
      timeoutMs: 15_000,
    });
  });

  it('answers 503 when PostgreSQL is unreachable, and driver routes answer 503 DATABASE_UNAVAILABLE', async () => {
    const driver = await newDriver(t);
    await pgProxy.cut();
    try {
      const health = await http().get('/health').expect(503);
      expect(health.body.status).toBe('error');
      expect(health.body.error.database.status).toBe('down');
      expect(health.body.details.redis.status).toBe('up');
      // Not ready, but live: an orchestrator takes it out of rotation rather than restarting it.
      const ready = await http().get('/health/ready').expect(503);
      expect(ready.body).toMatchObject({ status: 'error', error: { database: { status: 'down' } } });
      await http().get('/health/live').expect(200);

      // The list needs PostgreSQL; one driver is served from Redis's copy (test/read-your-writes.e2e-spec.ts).
      const read = await http().get('/drivers').set(admin).expect(503);
      expect(read.body).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' });
      const write = await http().post('/drivers').set(admin).send({ name: 'Nope', phone: newPhone() }).expect(503);
      expect(write.body.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await pgProxy.restore();
    }
    await eventually(async () => (await http().get('/health')).status === 200, { what: 'database back' });
    await http().get(`/drivers/${driver.id}`).set(admin).expect(200);
  });

  it('answers within its timeout when PostgreSQL hangs instead of hanging with it', async () => {
    await pgProxy.cut();
    await pgProxy.restore();
    pgProxy.hang();
    try {
      const health = await http().get('/health');
      expect(health.status).toBe(503);
      expect(health.body.error.database.status).toBe('down');
    } finally {
      await pgProxy.restore();
    }
    await eventually(async () => (await http().get('/health')).status === 200, { what: 'database back', timeoutMs: 20_000 });
  });
});
