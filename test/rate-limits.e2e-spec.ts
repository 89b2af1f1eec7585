import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { RateLimiter, RATE_LIMIT_WINDOW_MS } from '../src/rate-limit/rate-limiter.js';
import { RedisService } from '../src/redis/redis.service.js';
import { eventually } from './support/eventually.js';
import { newDriver } from './support/factories.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { bearer, DRIVER_SECRET, startTestApp, TestApp, VENDURE_SECRET } from './support/test-app.js';

// No speed filter: a retried update here moves a driver from Berlin to Munich at once (the filter has its own suite).
const LIMITS = { RATE_LIMIT_LOCATION_PER_MINUTE: '3', RATE_LIMIT_ORDER_READY_PER_MINUTE: '2', LOCATION_MAX_SPEED_KMH: '0' };
const BERLIN = { lat: 52.52, lon: 13.405 };

/**
 * Rate limits (OWASP API4, unrestricted resource consumption): per driver on
 * location updates, per caller on seller-order-ready. Counted in Redis, so
 * shared by every process; without Redis nothing is limited.
 */
describe('rate limits', () => {
  const env = useServiceEnvironment('rate_limits', LIMITS);
  /** A second instance of the service on the same databases, as a second PM2 worker. */
  let other: TestApp;

  beforeAll(async () => {
    other = await startTestApp({
      DATABASE_URL: env.database.url,
      REDIS_URL: env.redisServer.url,
      RECONCILE_INTERVAL_SECONDS: '3600',
      ...LIMITS,
    });
  });
  afterAll(() => other?.close());
  beforeEach(() => env.reset());

  const ping = (t: TestApp, driver: { id: string; token: string }, point = BERLIN) =>
    request(t.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point);

  function ready(t: TestApp, sellerOrderId: string, id?: string) {
    const body = JSON.stringify({ sellerOrderId, pickupLat: BERLIN.lat, pickupLon: BERLIN.lon });
    return request(t.server)
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, body, { id }) })
      .send(body);
  }

  it('a driver over its location allowance gets 429 with Retry-After, and the refused point changes nothing', async () => {
    const driver = await newDriver(env.t);
    for (let i = 0; i < 3; i++) await ping(env.t, driver).expect(200);
    const stored = await env.redis.hget('drivers:location', driver.id);

    const refused = await ping(env.t, driver, { lat: 48.1, lon: 11.6 }).expect(429);
    expect(refused.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'RATE_LIMITED' });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= (2 * RATE_LIMIT_WINDOW_MS) / 1000).toBe(true);
    expect(await env.redis.hget('drivers:location', driver.id)).toBe(stored);

    // Another driver has its own allowance.
    await ping(env.t, await newDriver(env.t)).expect(200);
  });

  it('the allowance is shared by every process through Redis', async () => {
    const driver = await newDriver(env.t);
    await ping(env.t, driver).expect(200);
    await ping(other, driver).expect(200);
    await ping(env.t, driver).expect(200);
    await ping(other, driver).expect(429);
  });

  it('requests refused by authentication spend no allowance', async () => {
    const driver = await newDriver(env.t);
    const stranger = await newDriver(env.t);
    for (let i = 0; i < 5; i++) {
      await ping(env.t, { id: driver.id, token: 'drv_not-a-token' }).expect(401);
      await ping(env.t, { id: driver.id, token: stranger.token }).expect(403);
    }
    for (let i = 0; i < 3; i++) await ping(env.t, driver).expect(200);
  });

  it('seller-order-ready is limited per caller; a refused event leaves no receipt, so its retry is processed', async () => {
    await ready(env.t, 'RL-1').expect(200);
    await ready(other, 'RL-2').expect(200);
    const refused = await ready(env.t, 'RL-3', 'msg_rate_limited_retry').expect(429);
    expect(refused.body.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await env.sql.query('SELECT count(*)::int AS n FROM webhook_receipts')).rows[0].n).toBe(2);

    // Vendure retries the same message once allowed (here: through a process without the limit).
    const unlimited = await startTestApp({
      DATABASE_URL: env.database.url,
      REDIS_URL: env.redisServer.url,
      RECONCILE_INTERVAL_SECONDS: '3600',
      RATE_LIMIT_ORDER_READY_PER_MINUTE: '0',
    });
    try {
      const retried = await ready(unlimited, 'RL-3', 'msg_rate_limited_retry').expect(200);
      expect(retried.body).toEqual({ assigned: false, sellerOrderId: 'RL-3', reason: 'NO_DRIVER_AVAILABLE' });
    } finally {
      await unlimited.close();
    }
  });

  it('a refused update signed by the driver app backend, re-aimed at another driver, is refused 409 and moves no one', async () => {
    const [a, b] = [await newDriver(env.t), await newDriver(env.t)];
    for (let i = 0; i < 3; i++) await ping(env.t, a).expect(200);
    await ping(env.t, b).expect(200);
    const bBefore = await env.redis.hget('drivers:location', b.id);
    const body = JSON.stringify({ lat: 48.1, lon: 11.6 });
    const headers = { 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body, { id: 'msg_reaimed' }) };
    await request(env.t.server).patch(`/drivers/${a.id}/location`).set(headers).send(body).expect(429);
    const reaimed = await request(env.t.server).patch(`/drivers/${b.id}/location`).set(headers).send(body).expect(409);
    expect(reaimed.body).toMatchObject({ code: 'WEBHOOK_ID_REUSED', message: 'This webhook-id was already used on another route' });
    expect(await env.redis.hget('drivers:location', b.id)).toBe(bBefore);
  });

  it('a refused update signed by the driver app backend is not answered for good: its retry with the same id is processed', async () => {
    const driver = await newDriver(env.t);
    for (let i = 0; i < 3; i++) await ping(env.t, driver).expect(200);
    const body = JSON.stringify({ lat: 48.1, lon: 11.6 });
    const signed = () =>
      request(env.t.server)
        .patch(`/drivers/${driver.id}/location`)
        .set({ 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body, { id: 'msg_backend_ping' }) })
        .send(body);
    await signed().expect(429);
    // Once the driver's allowance is back (here: its counters expire), the same message goes through.
    await env.redis.eval("for _, k in ipairs(redis.call('KEYS', 'ratelimit:location:*')) do redis.call('DEL', k) end", 0);
    await signed().expect(200);
    expect(await env.redis.hget('drivers:location', driver.id)).toMatch(/^11.6 48.1 /);
  });

  it('with Redis down nothing is limited (the service keeps working)', async () => {
    const driver = await newDriver(env.t);
    await env.redisServer.stop();
    try {
      for (let i = 0; i < 6; i++) await ping(env.t, driver).expect(200);
    } finally {
      await env.redisServer.start();
      // The next tests count on the limiter, which lets everything through until the service has reconnected.
      await eventually(() => env.t.app.get(RedisService).isReady, { what: 'the service reconnected to Redis' });
    }
  });

  describe('the sliding window (RateLimiter on the real Redis, at chosen instants)', () => {
    const minute = (n: number) => n * RATE_LIMIT_WINDOW_MS;
    const limiter = () => env.t.app.get(RateLimiter);

    it('allows the limit per minute and names the exact wait', async () => {
      const start = minute(29_000_000); // the start of a window
      for (let i = 0; i < 3; i++) expect(await limiter().consume('location', 'window-a', start + i)).toBe(0);
      // 3 in this window: the next fits once this window weighs 2/3 at most, 20 s into the next one.
      expect(await limiter().consume('location', 'window-a', start + 10)).toBe(80);
      expect(await limiter().consume('location', 'window-a', start + minute(1) + 19_000)).toBeGreaterThan(0);
      expect(await limiter().consume('location', 'window-a', start + minute(1) + 20_001)).toBe(0);
      // A refused request is not counted: the window still holds 3, and the next one 1.
      expect(await env.redis.get(`ratelimit:location:window-a:${start / RATE_LIMIT_WINDOW_MS}`)).toBe('3');
      expect(await env.redis.get(`ratelimit:location:window-a:${start / RATE_LIMIT_WINDOW_MS + 1}`)).toBe('1');
    });

    it('weighs the previous minute by how much of it is still in the last 60 s', async () => {
      const start = minute(29_000_100);
      for (let i = 0; i < 3; i++) expect(await limiter().consume('location', 'window-b', start + minute(1) - 100 + i)).toBe(0);
      // 30 s into the next window the previous one weighs 3 × 0.5 = 1.5: one more fits, then the wait is to 2/3 elapsed.
      expect(await limiter().consume('location', 'window-b', start + minute(1) + 30_000)).toBe(0);
      expect(await limiter().consume('location', 'window-b', start + minute(1) + 30_001)).toBe(
        Math.ceil((60_000 * (1 - 1 / 3) - 30_001) / 1000),
      );
    });
  });
});
