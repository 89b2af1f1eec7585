import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { AvailabilityReconciler } from '../src/fleet/availability-reconciler.js';
import { LocationWriter } from '../src/availability/location-writer.js';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { PrivateRedis } from './support/private-redis.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { admin, bearer, startTestApp, TestApp } from './support/test-app.js';

const ROUNDS = 100;

/**
 * Walks the driver north, 5 m a second (recordedAt in the past, so every point is new and plausible),
 * pinging through one process and reading through another; returns how many reads showed the point just answered.
 */
async function walk(
  driver: CreatedDriver,
  through: TestApp,
  readFrom: TestApp,
  rounds = ROUNDS,
  start = Date.now() - (Date.now() % 1000) - (rounds + 10) * 1000,
): Promise<number> {
  let shown = 0;
  for (let i = 0; i < rounds; i++) {
    const point = { lat: 52.52 + i * 0.000045, lon: 13.405, recordedAt: new Date(start + i * 1000).toISOString(), accuracy: 4 + (i % 7) };
    await request(through.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point).expect(200);
    const { body } = await request(readFrom.server).get(`/drivers/${driver.id}`).set(admin).expect(200);
    if (
      body.lastLocation?.lat === point.lat &&
      body.lastLocation.recordedAt === point.recordedAt &&
      body.lastLocation.accuracy === point.accuracy
    )
      shown += 1;
  }
  return shown;
}

/**
 * Read your writes (contract "Location, v2"): once a ping has been answered,
 * GET /drivers/:id shows that location, from the process that took it (its
 * write to PostgreSQL still buffered) and from another one (through Redis;
 * with Redis down, through PostgreSQL, written before the answer).
 */
describe('read your writes: a location is shown as soon as its ping is answered', () => {
  const env = useServiceEnvironment('read_your_writes');
  /** A second instance of the service on the same databases, as a second PM2 worker. */
  let other: TestApp;
  let t: ServiceEnvironment['t'];
  beforeAll(async () => {
    t = env.t;
    other = await startTestApp({ DATABASE_URL: env.database.url, REDIS_URL: env.redisServer.url, RECONCILE_INTERVAL_SECONDS: '3600' });
  });
  afterAll(() => other?.close());
  beforeEach(() => env.reset());

  it(`in the process that took the ping: ${ROUNDS} out of ${ROUNDS}`, async () => {
    expect(await walk(await newDriver(t), t, t)).toBe(ROUNDS);
  });

  it(`in another process, through Redis: ${ROUNDS} out of ${ROUNDS}`, async () => {
    expect(await walk(await newDriver(t), t, other)).toBe(ROUNDS);
  });

  it('in another process with Redis down: every time, through PostgreSQL', async () => {
    const driver = await newDriver(t);
    await env.redisServer.stop();
    try {
      expect(await walk(driver, t, other, 30)).toBe(30);
    } finally {
      await env.redisServer.start();
    }
  });
});

/**
 * Read your writes while PostgreSQL cannot be reached: pings are answered
 * (Redis takes them, the write to PostgreSQL waits in the buffer), and
 * GET /drivers/:id, in either process, shows each one. The driver itself
 * comes from Redis's copy of its profile (saved after every committed
 * change, rebuilt by reconciliation) and state. Both processes reach
 * PostgreSQL through a proxy the test cuts, so the shared server stays up.
 */
describe('read your writes while PostgreSQL is down and Redis holds the point', () => {
  const redisServer = new PrivateRedis();
  const pgProxy = new TcpProxy(5432);
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: pg.Client;
  let redis: Redis;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase('ryw_pg_down');
    await redisServer.start();
    const port = await pgProxy.start();
    const env = {
      DATABASE_URL: database.url.replace(':5432/', `:${port}/`),
      REDIS_URL: redisServer.url,
      RECONCILE_INTERVAL_SECONDS: '3600',
    };
    a = await startTestApp(env);
    b = await startTestApp(env);
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    redis = new Redis(redisServer.url);
    await eventually(async () => (await redis.exists('drivers:synced')) === 1, { what: 'first reconciliation' });
  });

  afterAll(async () => {
    await pgProxy.restore();
    await a?.close();
    await b?.close();
    redis?.disconnect();
    await sql?.end();
    await pgProxy.stop();
    await redisServer.stop();
    await database?.drop();
  });

  it('shows every answered ping, in the process that took it and in another, with the profile as last committed', async () => {
    const driver = await newDriver(a, { name: 'Ada Before', vehicleType: 'bike' });
    await request(b.server).patch(`/drivers/${driver.id}`).set(admin).send({ name: 'Ada Lovelace' }).expect(200);
    await request(a.server).patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    // A copy Redis lost (or never had, for a driver older than the copy) is written again by reconciliation.
    await redis.hdel('drivers:profile', driver.id);
    await a.app.get(AvailabilityReconciler).reconcile();
    expect(await redis.hexists('drivers:profile', driver.id)).toBe(1);
    // A first ping while PostgreSQL answers (the process knows the token), older than the walks' points.
    const second = Date.now() - (Date.now() % 1000);
    const first = { lat: 52.5199, lon: 13.405, recordedAt: new Date(second - 120_000).toISOString() };
    await request(a.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(first).expect(200);
    await a.app.get(LocationWriter).flush();

    await pgProxy.cut();
    try {
      // PostgreSQL is unreachable for both processes.
      await request(b.server).get('/drivers').set(admin).expect(503);
      expect(await walk(driver, a, b, 30, second - 100_000)).toBe(30);
      expect(await walk(driver, a, a, 30, second - 60_000)).toBe(30);
      const { body } = await request(b.server).get(`/drivers/${driver.id}`).set(admin).expect(200);
      expect(body).toMatchObject({
        id: driver.id,
        name: 'Ada Lovelace',
        phone: driver.body.phone,
        vehicleType: 'bike',
        status: 'AVAILABLE',
        isActive: true,
        createdAt: driver.body.createdAt,
      });
      // A driver Redis does not know cannot be vouched for: the 503 stands.
      const unknown = await request(b.server).get(`/drivers/${randomUUID()}`).set(admin).expect(503);
      expect(unknown.body.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await pgProxy.restore();
    }
    // Back: the buffered point reaches PostgreSQL, and the row shows what the reads showed.
    const { body: last } = await request(a.server).get(`/drivers/${driver.id}`).set(admin).expect(200);
    await eventually(
      async () => {
        const [row] = (await sql.query('SELECT last_lat, last_location_at FROM drivers WHERE id = $1', [driver.id])).rows;
        return row.last_lat === last.lastLocation.lat && row.last_location_at.toISOString() === last.lastLocation.recordedAt;
      },
      { what: 'the buffered point written to PostgreSQL', timeoutMs: 20_000 },
    );
  });
});
