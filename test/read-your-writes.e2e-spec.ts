import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { CreatedDriver, newDriver } from './support/factories.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer, startTestApp, TestApp } from './support/test-app.js';

const ROUNDS = 100;

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

  /** Walks the driver north, 5 m a second (recordedAt in the past, so every point is new and plausible). */
  async function walk(driver: CreatedDriver, through: TestApp, readFrom: TestApp, rounds = ROUNDS): Promise<number> {
    const start = Date.now() - (Date.now() % 1000) - (rounds + 10) * 1000;
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
