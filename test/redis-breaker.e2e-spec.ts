import { afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import { AvailabilityRepository } from '../src/availability/availability.repository.js';
import { AvailabilityStore } from '../src/availability/availability.store.js';
import { RedisService } from '../src/redis/redis.service.js';
import { eventually } from './support/eventually.js';
import { availableDriver } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer } from './support/test-app.js';

const PICKUP = { lat: 52.52, lon: 13.405 };
/** The client's own limit on one command (RedisService), which a hung Redis used to cost several times per request. */
const COMMAND_TIMEOUT_MS = 2_000;
/** Long enough for every request of the paused phase, on a slow machine too; the test checks it was. */
const PAUSE_MS = 8_000;
const north = (km: number) => ({ lat: PICKUP.lat + km / 111.2, lon: PICKUP.lon });
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

/**
 * A Redis that is connected but silent (`CLIENT PAUSE ... ALL`: every
 * command is held, the connection stays up). The breaker opens on the first
 * silence, every path answers from PostgreSQL without waiting for Redis again,
 * and once Redis answers, it is reconciled before any search trusts it.
 */
describe('Redis connected but not answering (circuit breaker)', () => {
  const env = useServiceEnvironment('redis_breaker');
  let redisService: RedisService;
  let store: AvailabilityStore;
  const http = () => request(env.t.server);
  const nearbyIds = async () =>
    (await http().get('/drivers/nearby').query(PICKUP).set(admin).expect(200)).body.items.map(
      (item: { driver: { id: string } }) => item.driver.id,
    );
  const metrics = async () => (await http().get('/metrics').expect(200)).text;

  beforeAll(() => {
    redisService = env.t.app.get(RedisService);
    store = env.t.app.get(AvailabilityStore);
  });

  beforeEach(() => env.reset());
  afterEach(() => {
    jest.restoreAllMocks();
  });

  /**
   * Holds every client's commands for `ms` (this file's client's too: it sends nothing more until the pause ends,
   * and CLIENT UNPAUSE ends it early only where Redis takes that command during a pause, which 7.0 does not).
   */
  const pause = (ms: number) => env.redis.call('CLIENT', 'PAUSE', String(ms), 'ALL');
  const whenAnsweringAgain = () =>
    eventually(() => redisService.isReady && !redisService.circuitOpen, { what: 'the breaker closed', timeoutMs: PAUSE_MS + 15_000 });

  it('answers pings, searches and assignments from PostgreSQL while paused, and trusts Redis again only once reconciled', async () => {
    const leaving = await availableDriver(env.t, north(0.5));
    const near = await availableDriver(env.t, north(1));
    const far = await availableDriver(env.t, north(3));
    expect(await nearbyIds()).toEqual([leaving.id, near.id, far.id]);
    const pings = jest.spyOn(store, 'recordPing');
    const redisSearches = jest.spyOn(store, 'searchNearest');
    const pgSearches = jest.spyOn(env.t.app.get(AvailabilityRepository), 'findNearestChoosable');
    const openingsBefore = redisService.circuitOpenings;
    expect(metric(await metrics(), 'redis_circuit_open')).toBe(0);
    pings.mockClear();
    redisSearches.mockClear();

    await pause(PAUSE_MS);

    // A ping waits for Redis once at most: the breaker opens on the silence, and the rest of the request goes without it.
    const pingStarted = Date.now();
    const ping = await http().patch(`/drivers/${near.id}/location`).set(bearer(near.token)).send(north(1)).expect(200);
    const pingMs = Date.now() - pingStarted;
    expect(ping.body).toEqual({ status: 'AVAILABLE', online: true });
    expect(pings.mock.calls.length).toBeLessThanOrEqual(1);
    expect(redisService.circuitOpen).toBe(true);
    expect(redisService.isReady).toBe(false);
    // Not a speed test: a bound no slow machine comes near (a hung Redis used to cost 10 s here), against the one
    // wait the client allows a command, so that a request waiting for Redis twice would fail it.
    expect(pingMs).toBeLessThan(2 * COMMAND_TIMEOUT_MS);

    // From now on no request asks Redis anything: searches, a status change and an assignment all run on PostgreSQL.
    pings.mockClear();
    expect(await nearbyIds()).toEqual([leaving.id, near.id, far.id]);
    await http().patch(`/drivers/${leaving.id}/status`).set(bearer(leaving.token)).send({ status: 'OFFLINE' }).expect(200);
    expect(await nearbyIds()).toEqual([near.id, far.id]);
    const order = await sendEvent(env.t, 'seller-order-ready', {
      sellerOrderId: 'SO-hung',
      pickupLat: PICKUP.lat,
      pickupLon: PICKUP.lon,
    }).expect(200);
    expect(order.body).toMatchObject({ assigned: true, driverId: near.id });
    await http().patch(`/drivers/${far.id}/location`).set(bearer(far.token)).send(north(3)).expect(200);
    expect(pings).not.toHaveBeenCalled();
    expect(redisSearches).not.toHaveBeenCalled();

    // Reported: /health (v1 shape), readiness degraded, and the gauge and counter of /metrics.
    const health = await http().get('/health').expect(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      info: { database: { status: 'up' }, redis: { status: 'down', message: 'circuit open' } },
    });
    const ready = await http().get('/health/ready').expect(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.details.redis).toEqual({ status: 'degraded', message: 'circuit open' });
    let text = await metrics();
    expect(metric(text, 'redis_circuit_open')).toBe(1);
    expect(metric(text, 'redis_circuit_openings_total')).toBe(openingsBefore + 1);
    // The whole phase ran inside the pause, or what it shows proves nothing.
    expect(redisService.circuitOpen).toBe(true);

    await env.redis.call('CLIENT', 'UNPAUSE');
    await whenAnsweringAgain();
    await eventually(async () => (await env.redis.exists('drivers:synced')) === 1, { what: 'the reconciliation on return' });

    // The writes Redis missed (OFFLINE, BUSY), and the ping it was sent before the silence and ran only when the
    // pause ended, are all behind the reconciliation: Redis says what PostgreSQL says.
    expect(await env.redis.zrange('drivers:geo', 0, -1)).toEqual([far.id]);
    expect(await env.redis.hget('drivers:status', leaving.id)).toMatch(/^OFFLINE:/);
    expect(await env.redis.hget('drivers:status', near.id)).toMatch(/^BUSY:/);
    redisSearches.mockClear();
    pgSearches.mockClear();
    expect(await nearbyIds()).toEqual([far.id]);
    expect(redisSearches).toHaveBeenCalledTimes(1);
    expect(await redisSearches.mock.results[0].value).not.toBeNull();
    expect(pgSearches).not.toHaveBeenCalled();

    text = await metrics();
    expect(metric(text, 'redis_circuit_open')).toBe(0);
    expect(metric(text, 'redis_circuit_openings_total')).toBe(openingsBefore + 1);
    expect((await http().get('/health').expect(200)).body.info.redis).toEqual({ status: 'up' });
  });

  it('finds a Redis gone silent while no request needs it, by its own PING, and closes when it answers', async () => {
    const openingsBefore = redisService.circuitOpenings;
    await pause(3_000);
    await eventually(() => redisService.circuitOpen, { what: 'the breaker opened with no request running' });
    expect(redisService.circuitOpenings).toBe(openingsBefore + 1);
    expect((await http().get('/health/ready').expect(200)).body.details.redis).toEqual({ status: 'degraded', message: 'circuit open' });
    await whenAnsweringAgain();
    expect(redisService.circuitOpenings).toBe(openingsBefore + 1);
    await eventually(async () => (await env.redis.exists('drivers:synced')) === 1, { what: 'the reconciliation on return' });
  });
});
