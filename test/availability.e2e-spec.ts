import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { AvailabilityReconciler } from '../src/fleet/availability-reconciler.js';
import { DriverStateMirror } from '../src/fleet/state-mirror.js';
import { AvailabilityRepository } from '../src/availability/availability.repository.js';
import { AvailabilityStore } from '../src/availability/availability.store.js';
import type { RateLimitWindow } from '../src/rate-limit/rate-limiter.js';
import { LocationWriter } from '../src/availability/location-writer.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET, startTestApp, TestApp } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };

/**
 * The availability invariants, on real PostgreSQL and a private redis-server
 * this file may flush, stop and start.
 */
describe('availability: location, heartbeat, status and nearest search', () => {
  // Drivers here jump across the city between pings; the speed filter has its own suite (location-filters).
  const env = useServiceEnvironment('availability', { LOCATION_MAX_SPEED_KMH: '0' });
  const { redisServer } = env;
  let database: ServiceEnvironment['database'];
  let redis: Redis;
  let sql: pg.Client;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(() => {
    ({ database, redis, sql, t } = env);
  });

  beforeEach(() => env.reset());

  const ping = (
    driver: CreatedDriver,
    point: { lat: number; lon: number; recordedAt?: string; accuracy?: number; heading?: number; speed?: number },
  ) => http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point);
  const setStatus = (driver: CreatedDriver, status: string) =>
    http().patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status });
  const nearbyIds = async (query: Record<string, number> = BERLIN) =>
    (await http().get('/drivers/nearby').query(query).set(admin).expect(200)).body.items.map(
      (item: { driver: { id: string } }) => item.driver.id,
    );
  const geoMembers = async () => (await redis.zrange('drivers:geo', 0, -1)).sort();
  const row = async (id: string) => (await sql.query('SELECT * FROM drivers WHERE id = $1', [id])).rows[0];
  const flushLocations = () => t.app.get(LocationWriter).flush();

  /** A driver that is AVAILABLE, pinged at `point`: choosable. */
  async function availableDriver(point = BERLIN): Promise<CreatedDriver> {
    const driver = await newDriver(t);
    await ping(driver, point).expect(200);
    await setStatus(driver, 'AVAILABLE').expect(200);
    return driver;
  }

  describe('PATCH /drivers/:id/location', () => {
    it('stores the location of an OFFLINE driver, answers its status, and keeps it out of the GEO set', async () => {
      const driver = await newDriver(t);
      const response = await ping(driver, BERLIN).expect(200);
      expect(response.body).toEqual({ status: 'OFFLINE', online: true });
      expect(await redis.ttl(`driver:online:${driver.id}`)).toBeGreaterThan(0);
      expect(await geoMembers()).toEqual([]);
      expect(await nearbyIds()).toEqual([]);
      await eventually(async () => (await row(driver.id)).last_lat === BERLIN.lat, { what: 'location written to PostgreSQL' });
      expect((await row(driver.id)).status).toBe('OFFLINE');
    });

    it('reaches PostgreSQL on its own, without a request or shutdown forcing it', async () => {
      const driver = await newDriver(t);
      await ping(driver, { lat: 48.1, lon: 11.5 }).expect(200);
      const stored = await eventually(
        async () => {
          const r = await row(driver.id);
          return r.last_lat === 48.1 && r;
        },
        { what: 'write-behind flush', timeoutMs: 5_000 },
      );
      expect(stored.last_lon).toBe(11.5);
      expect(stored.last_seen_at).not.toBeNull();
    });

    it('puts an AVAILABLE driver in the GEO set and the search, and never changes its status', async () => {
      const driver = await availableDriver();
      expect(await geoMembers()).toEqual([driver.id]);
      for (let i = 0; i < 3; i++) {
        expect((await ping(driver, { lat: 52.5 + i / 100, lon: 13.4 }).expect(200)).body.status).toBe('AVAILABLE');
      }
      expect(await nearbyIds()).toEqual([driver.id]);
      expect((await row(driver.id)).status).toBe('AVAILABLE');
    });

    it('keeps a BUSY driver BUSY and out of the GEO set, while storing its location for tracking', async () => {
      const driver = await availableDriver();
      // BUSY is set by assignment; here directly in PostgreSQL, then mirrored as assignment will do.
      await sql.query(`UPDATE drivers SET status = 'BUSY', state_version = state_version + 1 WHERE id = $1`, [driver.id]);
      await t.app.get(AvailabilityReconciler).reconcile();
      expect(await geoMembers()).toEqual([]);

      expect((await ping(driver, { lat: 52.6, lon: 13.5 }).expect(200)).body).toEqual({ status: 'BUSY', online: true });
      expect(await geoMembers()).toEqual([]);
      expect(await nearbyIds()).toEqual([]);
      await flushLocations();
      expect(await row(driver.id)).toMatchObject({ status: 'BUSY', last_lat: 52.6, last_lon: 13.5 });
    });

    it('acknowledges and ignores a point older than the stored one (out-of-order delivery)', async () => {
      const driver = await availableDriver();
      const now = Date.now();
      await ping(driver, { lat: 52.53, lon: 13.41, recordedAt: new Date(now).toISOString() }).expect(200);
      const late = await ping(driver, { lat: 40.0, lon: -3.7, recordedAt: new Date(now - 30_000).toISOString() }).expect(200);
      expect(late.body).toEqual({ status: 'AVAILABLE', online: true });

      const [[lon, lat]] = (await redis.geopos('drivers:geo', driver.id)) as [[string, string]];
      expect(Number(lat)).toBeCloseTo(52.53, 4);
      expect(Number(lon)).toBeCloseTo(13.41, 4);
      await flushLocations();
      const stored = await row(driver.id);
      expect([stored.last_lat, stored.last_lon]).toEqual([52.53, 13.41]);
      expect(stored.last_location_at.getTime()).toBe(now);
      expect(stored.last_seen_at.getTime()).toBeGreaterThanOrEqual(now);
    });

    it("keeps the newest point's accuracy, heading and speed, returned in lastLocation; an older point's are not kept", async () => {
      const driver = await newDriver(t);
      const at = (secondsAgo: number) => new Date(Date.now() - (Date.now() % 1000) - secondsAgo * 1000).toISOString();
      const [first, older, newer] = [at(10), at(15), at(5)];
      await ping(driver, { lat: 52.53, lon: 13.41, recordedAt: first, accuracy: 8.5, heading: 270, speed: 12.25 }).expect(200);
      await ping(driver, { lat: 52.5, lon: 13.4, recordedAt: older, accuracy: 3, heading: 90, speed: 1 }).expect(200);
      await flushLocations();
      const read = async () => (await http().get(`/drivers/${driver.id}`).set(admin).expect(200)).body.lastLocation;
      expect(await read()).toEqual({ lat: 52.53, lon: 13.41, recordedAt: first, accuracy: 8.5, heading: 270, speed: 12.25 });

      // A newer point without them: they are unknown now, not the old point's.
      await ping(driver, { lat: 52.54, lon: 13.42, recordedAt: newer }).expect(200);
      await flushLocations();
      expect(await read()).toEqual({ lat: 52.54, lon: 13.42, recordedAt: newer, accuracy: null, heading: null, speed: null });
    });

    it('does not let a phone clock running ahead hide later points', async () => {
      const driver = await availableDriver();
      const ahead = new Date(Date.now() + 4 * 60_000).toISOString();
      await ping(driver, { lat: 52.6, lon: 13.4, recordedAt: ahead }).expect(200);
      await ping(driver, { lat: 52.61, lon: 13.4 }).expect(200);
      const [[, lat]] = (await redis.geopos('drivers:geo', driver.id)) as [[string, string]];
      expect(Number(lat)).toBeCloseTo(52.61, 4);
      await flushLocations();
      expect((await row(driver.id)).last_lat).toBe(52.61);
    });

    it('writes nothing to Redis for a driver that does not exist', async () => {
      const unknown = '00000000-0000-4000-8000-00000000abcd';
      await http().patch(`/drivers/${unknown}/location`).set(admin).send(BERLIN).expect(404);
      expect(await redis.exists(`driver:online:${unknown}`)).toBe(0);
      expect(await redis.hexists('drivers:location', unknown)).toBe(0);
      expect(await redis.zscore('drivers:heartbeat', unknown)).toBeNull();
    });

    it('costs one Redis round trip', async () => {
      const driver = await availableDriver();
      const monitor = await redis.monitor();
      const commands: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua' && args.some((arg) => arg.includes(driver.id))) commands.push(args);
      });
      await ping(driver, { lat: 52.51, lon: 13.39 }).expect(200);
      // MONITOR output trails the commands; a marker command proves everything before it has been seen.
      await redis.echo(`end-${driver.id}`);
      await eventually(() => commands.some((c) => c[0] === 'echo'), { what: 'monitor to catch up' });
      monitor.disconnect();
      const pingCommands = commands.filter((c) => c[0] !== 'echo');
      expect(pingCommands.map((c) => c[0])).toEqual(['evalsha']);
    });

    it('records the pings of one event-loop turn in one Redis call, each with its own outcome', async () => {
      const available = await availableDriver();
      const offline = await newDriver(t);
      await ping(offline, BERLIN).expect(200);
      const unknown = '00000000-0000-4000-8000-00000000beef';
      // A driver whose allowance (1 a minute here) is already spent.
      const spent = await availableDriver({ lat: 52.4, lon: 13.3 });
      const limit: RateLimitWindow = { keys: [`ratelimit:test:${spent.id}:1`, `ratelimit:test:${spent.id}:0`], args: [1, 60_000, 30_000] };
      await redis.set(limit.keys[0], '1');
      const heartbeatBefore = await redis.zscore('drivers:heartbeat', spent.id);
      const monitor = await redis.monitor();
      const calls: string[][] = [];
      const ids = [available.id, offline.id, unknown, spent.id];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua' && args.some((arg) => ids.some((id) => arg.includes(id)))) calls.push(args);
      });
      const store = t.app.get(AvailabilityStore);
      const now = new Date();
      const direct = (driverId: string, lat: number, rateLimit: RateLimitWindow | null = null) =>
        store.recordPing({
          driverId,
          points: [{ lat, lon: 13.4, recordedAt: now, moves: true }],
          now,
          ttlSeconds: 60,
          maxSpeedKmh: 0,
          limit: rateLimit,
        });
      const results = await Promise.all([
        direct(available.id, 52.51),
        direct(offline.id, 52.52),
        direct(spent.id, 52.54, limit),
        direct(unknown, 52.53),
      ]);
      // MONITOR output trails the commands; a marker command proves everything before it has been seen.
      await redis.echo(`end-${available.id}`);
      await eventually(() => calls.some((c) => c[0] === 'echo'), { what: 'monitor to catch up' });
      monitor.disconnect();
      const scripts = calls.filter((c) => c[0] !== 'echo');

      expect(results).toEqual([
        { state: { status: 'AVAILABLE', isActive: true }, outcomes: ['moved'], waitMs: 0 },
        { state: { status: 'OFFLINE', isActive: true }, outcomes: ['moved'], waitMs: 0 },
        // Half a minute left of this window, then a whole one for its count to weigh nothing.
        { state: { status: 'AVAILABLE', isActive: true }, outcomes: [], waitMs: 90_000 },
        { state: null, outcomes: [], waitMs: 0 },
      ]);
      expect(scripts.map((c) => c[0])).toEqual(['evalsha']);
      expect(scripts[0].join(' ')).toContain(offline.id);
      expect(scripts[0].join(' ')).toContain(unknown);
      expect(await geoMembers()).toEqual([available.id, spent.id].sort());
      expect(await redis.hget('drivers:location', offline.id)).toMatch(/^13\.4 52\.52 /);
      expect(await redis.hexists('drivers:location', unknown)).toBe(0);
      // The refused ping recorded nothing: the point and the heartbeat stored are still those from before.
      expect(await redis.hget('drivers:location', spent.id)).toMatch(/^13\.3 52\.4 /);
      expect(await redis.zscore('drivers:heartbeat', spent.id)).toBe(heartbeatBefore);
    });

    it.each([
      ['lat above 90', { lat: 90.1, lon: 13 }, 'lat'],
      ['lat below -90', { lat: -91, lon: 13 }, 'lat'],
      ['lon above 180', { lat: 52, lon: 180.5 }, 'lon'],
      ['lon below -180', { lat: 52, lon: -181 }, 'lon'],
      ['lat missing', { lon: 13 }, 'lat'],
      ['lon a string', { lat: 52, lon: '13.4' }, 'lon'],
      ['accuracy negative', { lat: 52, lon: 13, accuracy: -1 }, 'accuracy'],
      ['heading above 360', { lat: 52, lon: 13, heading: 361 }, 'heading'],
      ['speed negative', { lat: 52, lon: 13, speed: -0.1 }, 'speed'],
      ['recordedAt not a date', { lat: 52, lon: 13, recordedAt: 'yesterday' }, 'recordedAt'],
      ['recordedAt a number', { lat: 52, lon: 13, recordedAt: 1_700_000_000_000 }, 'recordedAt'],
      ['recordedAt a bare date', { lat: 52, lon: 13, recordedAt: '2026-01-01' }, 'recordedAt'],
      ['recordedAt without an offset', { lat: 52, lon: 13, recordedAt: '2026-01-01T10:00:00' }, 'recordedAt'],
      ['recordedAt an impossible date', { lat: 52, lon: 13, recordedAt: '2026-02-30T10:00:00Z' }, 'recordedAt'],
      ['recordedAt before 2000', { lat: 52, lon: 13, recordedAt: '0000-06-01T00:00:00Z' }, 'recordedAt'],
      ['recordedAt null', { lat: 52, lon: 13, recordedAt: null }, 'recordedAt'],
      ['recordedAt 10 minutes ahead', { lat: 52, lon: 13, recordedAt: new Date(Date.now() + 600_000).toISOString() }, 'recordedAt'],
      ['status inside a location (mass assignment)', { lat: 52, lon: 13, status: 'AVAILABLE' }, 'status'],
      ['driverId inside a location (mass assignment)', { lat: 52, lon: 13, driverId: '00000000-0000-4000-8000-000000000000' }, 'driverId'],
    ])('answers 400 for %s and changes nothing', async (_case, body, field) => {
      const driver = await newDriver(t);
      const response = await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(body).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(response.body.message.join(' ')).toContain(field);
      await flushLocations();
      expect((await row(driver.id)).last_seen_at).toBeNull();
      expect(await redis.exists(`driver:online:${driver.id}`)).toBe(0);
    });

    it('answers 401 without credentials, 403 on another driver, 404 for an unknown driver', async () => {
      const [ada, bob] = [await newDriver(t), await newDriver(t)];
      await http().patch(`/drivers/${ada.id}/location`).send(BERLIN).expect(401);
      expect((await http().patch(`/drivers/${ada.id}/location`).set(bearer(bob.token)).send(BERLIN).expect(403)).body.code).toBe(
        'FORBIDDEN',
      );
      const unknown = '00000000-0000-4000-8000-000000000000';
      expect((await http().patch(`/drivers/${unknown}/location`).set(admin).send(BERLIN).expect(404)).body.code).toBe('DRIVER_NOT_FOUND');
      await flushLocations();
      expect((await row(ada.id)).last_lat).toBeNull();
    });

    it('accepts the driver app backend for any driver, replay-safe on webhook-id', async () => {
      const driver = await newDriver(t);
      const body = JSON.stringify({ lat: 52.4, lon: 13.3 });
      const headers = { 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body, { id: 'msg_loc_1' }) };
      const first = await http().patch(`/drivers/${driver.id}/location`).set(headers).send(body).expect(200);
      const again = await http().patch(`/drivers/${driver.id}/location`).set(headers).send(body).expect(200);
      expect(again.body).toEqual(first.body);

      const other = JSON.stringify({ lat: 1, lon: 1 });
      const reused = { 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, other, { id: 'msg_loc_1' }) };
      expect((await http().patch(`/drivers/${driver.id}/location`).set(reused).send(other).expect(409)).body.code).toBe(
        'WEBHOOK_ID_REUSED',
      );
      await flushLocations();
      expect((await row(driver.id)).last_lat).toBe(52.4);
    });
  });

  describe('PATCH /drivers/:id/status', () => {
    it('AVAILABLE then OFFLINE moves the driver into and out of the GEO set at once', async () => {
      const driver = await newDriver(t);
      await ping(driver, BERLIN).expect(200);
      const available = await setStatus(driver, 'AVAILABLE').expect(200);
      expect(available.body).toMatchObject({ id: driver.id, status: 'AVAILABLE', lastLocation: { lat: BERLIN.lat, lon: BERLIN.lon } });
      expect(await geoMembers()).toEqual([driver.id]);

      expect((await setStatus(driver, 'OFFLINE').expect(200)).body.status).toBe('OFFLINE');
      expect(await geoMembers()).toEqual([]);
      expect(await nearbyIds()).toEqual([]);
      expect((await row(driver.id)).status).toBe('OFFLINE');
    });

    it('an AVAILABLE driver without a known location is not choosable until it pings', async () => {
      const driver = await newDriver(t);
      await setStatus(driver, 'AVAILABLE').expect(200);
      expect(await geoMembers()).toEqual([]);
      await ping(driver, BERLIN).expect(200);
      expect(await geoMembers()).toEqual([driver.id]);
    });

    it('refuses BUSY (400) and any change while BUSY (409 DRIVER_HAS_ACTIVE_DELIVERY)', async () => {
      const driver = await availableDriver();
      expect((await setStatus(driver, 'BUSY').expect(400)).body.code).toBe('VALIDATION_FAILED');
      await sql.query(`UPDATE drivers SET status = 'BUSY', state_version = state_version + 1 WHERE id = $1`, [driver.id]);
      for (const status of ['OFFLINE', 'AVAILABLE']) {
        expect((await setStatus(driver, status).expect(409)).body.code).toBe('DRIVER_HAS_ACTIVE_DELIVERY');
      }
      expect((await row(driver.id)).status).toBe('BUSY');
    });

    it('answers 400 for a missing or unknown status, 403 on another driver, 404 for an unknown driver', async () => {
      const [ada, bob] = [await newDriver(t), await newDriver(t)];
      await http().patch(`/drivers/${ada.id}/status`).set(bearer(ada.token)).send({}).expect(400);
      await http().patch(`/drivers/${ada.id}/status`).set(bearer(ada.token)).send({ status: 'PAUSED' }).expect(400);
      await http().patch(`/drivers/${ada.id}/status`).set(bearer(bob.token)).send({ status: 'AVAILABLE' }).expect(403);
      await http().patch(`/drivers/00000000-0000-4000-8000-000000000000/status`).set(admin).send({ status: 'AVAILABLE' }).expect(404);
      expect((await row(ada.id)).status).toBe('OFFLINE');
    });

    it('lets an operator set it too', async () => {
      const driver = await newDriver(t);
      expect((await http().patch(`/drivers/${driver.id}/status`).set(admin).send({ status: 'AVAILABLE' }).expect(200)).body.status).toBe(
        'AVAILABLE',
      );
    });
  });

  describe('deactivation', () => {
    it('isActive: false takes an AVAILABLE driver out of the GEO set and the search at once', async () => {
      const driver = await availableDriver();
      expect(await nearbyIds()).toEqual([driver.id]);
      await http().patch(`/drivers/${driver.id}`).set(admin).send({ isActive: false }).expect(200);
      expect(await geoMembers()).toEqual([]);
      expect(await nearbyIds()).toEqual([]);
      // Pings made for it (by an operator) do not bring it back.
      await http().patch(`/drivers/${driver.id}/location`).set(admin).send(BERLIN).expect(200);
      expect(await geoMembers()).toEqual([]);

      await http().patch(`/drivers/${driver.id}`).set(admin).send({ isActive: true }).expect(200);
      expect(await geoMembers()).toEqual([driver.id]);
    });
  });

  describe('stale heartbeats', () => {
    let shortTtl: TestApp;
    // A Redis database of its own: the suite's app, with its 60 s TTL, would otherwise share (and win) the cluster's sweep.
    let shortTtlRedis: Redis;

    beforeAll(async () => {
      shortTtlRedis = new Redis(`${redisServer.url}/1`);
      shortTtl = await startTestApp({
        DATABASE_URL: database.url,
        REDIS_URL: `${redisServer.url}/1`,
        DRIVER_HEARTBEAT_TTL_SECONDS: '1',
        RECONCILE_INTERVAL_SECONDS: '3600',
      });
    });

    afterAll(async () => {
      await shortTtl?.close();
      await shortTtlRedis?.quit();
    });

    it('a driver whose heartbeat expired leaves drivers:geo within seconds and is never returned', async () => {
      const redis = shortTtlRedis;
      const driver = await newDriver(shortTtl);
      await request(shortTtl.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(BERLIN).expect(200);
      await request(shortTtl.server)
        .patch(`/drivers/${driver.id}/status`)
        .set(bearer(driver.token))
        .send({ status: 'AVAILABLE' })
        .expect(200);
      expect(await redis.zrange('drivers:geo', 0, -1)).toContain(driver.id);

      await eventually(async () => !(await redis.zrange('drivers:geo', 0, -1)).includes(driver.id), {
        what: 'the sweeper to remove the stale driver',
        timeoutMs: 10_000,
      });
      const nearby = await request(shortTtl.server).get('/drivers/nearby').query(BERLIN).set(admin).expect(200);
      expect(nearby.body.items).toEqual([]);
      // Still AVAILABLE in PostgreSQL: staleness is about the heartbeat, not the status.
      expect((await row(driver.id)).status).toBe('AVAILABLE');

      // A new ping makes it choosable again.
      await request(shortTtl.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(BERLIN).expect(200);
      expect(await redis.zrange('drivers:geo', 0, -1)).toContain(driver.id);
    });
  });

  describe('write-behind and reconciliation timers', () => {
    it('writes buffered points to PostgreSQL when the service shuts down', async () => {
      const other = await startTestApp({ DATABASE_URL: database.url, REDIS_URL: redisServer.url, RECONCILE_INTERVAL_SECONDS: '3600' });
      const driver = await newDriver(other);
      await request(other.server)
        .patch(`/drivers/${driver.id}/location`)
        .set(bearer(driver.token))
        .send({ lat: 47.1, lon: 8.5 })
        .expect(200);
      expect(other.app.get(LocationWriter).bufferedCount).toBe(1);
      await other.close();
      expect(await row(driver.id)).toMatchObject({ last_lat: 47.1, last_lon: 8.5 });
    });

    it('a point PostgreSQL refuses is dropped alone; the rest of its batch is written', async () => {
      const [good, bad] = [await newDriver(t), await newDriver(t)];
      const writer = t.app.get(LocationWriter);
      const seenAt = new Date();
      const unrated = { moves: true, accuracy: null, heading: null, speed: null };
      await writer.record({ driverId: bad.id, lat: 1, lon: 1, recordedAt: new Date('0000-06-01T00:00:00Z'), seenAt, ...unrated });
      await writer.record({ driverId: good.id, lat: 46.2, lon: 6.1, recordedAt: seenAt, seenAt, ...unrated });
      await writer.flush();
      expect(await row(good.id)).toMatchObject({ last_lat: 46.2, last_lon: 6.1 });
      expect((await row(bad.id)).last_lat).toBeNull();
      expect(writer.bufferedCount).toBe(0);
    });

    it('reconciles periodically, every RECONCILE_INTERVAL_SECONDS', async () => {
      const driver = await availableDriver();
      const periodic = await startTestApp({ DATABASE_URL: database.url, REDIS_URL: redisServer.url, RECONCILE_INTERVAL_SECONDS: '1' });
      try {
        // Let its start-up reconciliation finish first: from then on only the timer can rebuild Redis.
        await periodic.app.get(AvailabilityReconciler).reconcile();
        await redis.flushall();
        expect(await geoMembers()).toEqual([]);
        await eventually(async () => (await geoMembers()).join() === driver.id && (await redis.exists('drivers:synced')) === 1, {
          what: 'a periodic reconciliation',
          timeoutMs: 10_000,
        });
      } finally {
        await periodic.close();
      }
    });
  });

  describe('GET /drivers/nearby', () => {
    it('answers the nearest choosable drivers first, within the radius, at most limit', async () => {
      const near = await availableDriver({ lat: 52.521, lon: 13.405 });
      const mid = await availableDriver({ lat: 52.53, lon: 13.405 });
      const far = await availableDriver({ lat: 52.62, lon: 13.405 });
      const offline = await newDriver(t);
      await ping(offline, BERLIN).expect(200);

      const all = await http().get('/drivers/nearby').query(BERLIN).set(admin).expect(200);
      expect(all.body.items.map((i: { driver: { id: string } }) => i.driver.id)).toEqual([near.id, mid.id, far.id]);
      const distances = all.body.items.map((i: { distanceMeters: number }) => i.distanceMeters);
      expect(distances[0]).toBeCloseTo(111.2, 0);
      expect(distances).toEqual([...distances].sort((a, b) => a - b));
      expect(all.body.items[0].driver).toMatchObject({ id: near.id, status: 'AVAILABLE', lastLocation: { lat: 52.521 } });

      expect(await nearbyIds({ ...BERLIN, limit: 2 })).toEqual([near.id, mid.id]);
      expect(await nearbyIds({ ...BERLIN, radiusKm: 5 })).toEqual([near.id, mid.id]);
      expect(await nearbyIds({ ...BERLIN, radiusKm: 0.05 })).toEqual([]);
    });

    it.each([
      ['lat missing', { lon: 13 }],
      ['lat empty', { lat: '', lon: '' }],
      ['lat out of range', { lat: 91, lon: 13 }],
      ['lon not a number', { lat: 52, lon: 'east' }],
      ['radiusKm above 100', { lat: 52, lon: 13, radiusKm: 101 }],
      ['radiusKm zero', { lat: 52, lon: 13, radiusKm: 0 }],
      ['limit above 50', { lat: 52, lon: 13, limit: 51 }],
      ['limit zero', { lat: 52, lon: 13, limit: 0 }],
    ])('answers 400 for %s', async (_case, query) => {
      expect((await http().get('/drivers/nearby').query(query).set(admin).expect(400)).body.code).toBe('VALIDATION_FAILED');
    });

    it('refuses a radius above ASSIGNMENT_MAX_RADIUS_KM instead of silently shrinking it', async () => {
      const narrow = await startTestApp({ DATABASE_URL: database.url, ASSIGNMENT_MAX_RADIUS_KM: '5' });
      try {
        const response = await request(narrow.server)
          .get('/drivers/nearby')
          .query({ ...BERLIN, radiusKm: 6 })
          .set(admin)
          .expect(400);
        expect(response.body.message).toEqual(['radiusKm must not be greater than 5 (ASSIGNMENT_MAX_RADIUS_KM)']);
        await request(narrow.server)
          .get('/drivers/nearby')
          .query({ ...BERLIN, radiusKm: 5 })
          .set(admin)
          .expect(200);
      } finally {
        await narrow.close();
      }
    });

    it('confirms concurrent searches in one query, each against its own candidates and cutoff', async () => {
      const [near, far, offline] = [await availableDriver(), await availableDriver(), await newDriver(t)];
      await ping(offline, BERLIN).expect(200);
      await flushLocations();
      await sql.query(`UPDATE drivers SET last_seen_at = now() - interval '10 minutes' WHERE id = $1`, [far.id]);
      const repository = t.app.get(AvailabilityRepository);
      const idsOf = async (found: Promise<{ id: string }[]>) => (await found).map((d) => d.id).sort();
      const recent = new Date(Date.now() - 60_000);
      const longAgo = new Date(Date.now() - 3_600_000);
      const { wholeDrivers } = repository;
      // The first query runs alone; the next three wait for it and go together.
      const answers = await Promise.all([
        idsOf(repository.findChoosable([near.id], recent, wholeDrivers)),
        idsOf(repository.findChoosable([near.id, far.id, offline.id], recent, wholeDrivers)),
        idsOf(repository.findChoosable([near.id, far.id, offline.id], longAgo, wholeDrivers)),
        idsOf(repository.findChoosable([far.id], recent, wholeDrivers)),
      ]);
      expect(answers).toEqual([[near.id], [near.id], [near.id, far.id].sort(), []]);
      // Entities made from raw rows never carry the token hash, as TypeORM's own reads never do.
      const [confirmed] = await repository.findChoosable([near.id], recent, wholeDrivers);
      expect(confirmed).toMatchObject({ id: near.id, status: 'AVAILABLE' });
      expect(confirmed.tokenHash).toBeUndefined();
    });

    it('confirms positions and whole drivers at the same time, each read as its caller asked', async () => {
      const driver = await availableDriver();
      const repository = t.app.get(AvailabilityRepository);
      const recent = new Date(Date.now() - 60_000);
      const [whole] = await repository.findChoosable([driver.id], recent, repository.wholeDrivers);
      const [[position], [again]] = await Promise.all([
        repository.findChoosable([driver.id], recent, repository.positions),
        repository.findChoosable([driver.id], recent, repository.wholeDrivers),
      ]);
      expect(position).toEqual({ id: driver.id, lastLat: whole.lastLat, lastLon: whole.lastLon });
      expect(whole.lastLat).toBeCloseTo(BERLIN.lat, 6);
      expect(again).toEqual(whole);
    });

    it('is for operators only', async () => {
      const driver = await newDriver(t);
      await http().get('/drivers/nearby').query(BERLIN).expect(401);
      await http().get('/drivers/nearby').query(BERLIN).set(bearer(driver.token)).expect(403);
    });
  });

  describe('Redis empty, stale or down', () => {
    /** Windows of nearest searches answered by each source, from /metrics. */
    async function searchWindows(): Promise<Record<string, number>> {
      const text = (await http().get('/metrics').expect(200)).text;
      return Object.fromEntries(
        [...text.matchAll(/^nearest_search_windows_total\{source="([a-z_]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]),
      );
    }
    const windowsSince = async (before: Record<string, number>) => {
      const after = await searchWindows();
      return Object.fromEntries(Object.entries(after).flatMap(([k, v]) => (v - (before[k] ?? 0) > 0 ? [[k, v - (before[k] ?? 0)]] : [])));
    };

    /**
     * Holds every call of `target[method]` until released, then lets them run: what a search sees between a
     * commit and its mirror, say. `held` resolves once `count` calls are waiting.
     */
    function holdCalls<T extends object, K extends keyof T & string>(target: T, method: K, count: number) {
      const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const host = target as unknown as Record<'method', (...args: unknown[]) => Promise<unknown>>;
      const spy = jest.spyOn(host, method as 'method').mockImplementation(async (...args: unknown[]) => {
        await released;
        return original(...args);
      });
      const held = eventually(() => spy.mock.calls.length >= count, { what: `${count} calls of ${method} held` });
      return {
        held,
        release: () => {
          spy.mockRestore();
          release();
        },
      };
    }

    it('after FLUSHALL searches use PostgreSQL with the same answer; reconciliation rebuilds the GEO set', async () => {
      const a = await availableDriver({ lat: 52.521, lon: 13.405 });
      const b = await availableDriver({ lat: 52.525, lon: 13.41 });
      const busy = await availableDriver({ lat: 52.52, lon: 13.4051 });
      await sql.query(`UPDATE drivers SET status = 'BUSY', state_version = state_version + 1 WHERE id = $1`, [busy.id]);
      await t.app.get(AvailabilityReconciler).reconcile();
      await flushLocations();
      const fromRedis = await nearbyIds();
      expect(fromRedis).toEqual([a.id, b.id]);

      await redis.flushall();
      expect(await nearbyIds()).toEqual(fromRedis);

      const report = await t.app.get(AvailabilityReconciler).reconcile();
      expect(report?.drivers).toBe(3);
      expect(await geoMembers()).toEqual([a.id, b.id].sort());
      expect(await redis.hget('drivers:status', busy.id)).toMatch(/^BUSY:1:/);
      expect(await nearbyIds()).toEqual(fromRedis);
    });

    it('breaks exact ties by id on both paths, even when more drivers share the spot than the search window holds', async () => {
      const depot = { lat: 52.5, lon: 13.3 };
      const drivers = [];
      for (let i = 0; i < 12; i++) drivers.push(await availableDriver(depot));
      await flushLocations();
      const smallest = drivers.map((d) => d.id).sort();
      expect(await nearbyIds({ ...depot, limit: 1 })).toEqual(smallest.slice(0, 1));
      expect(await nearbyIds({ ...depot, limit: 3 })).toEqual(smallest.slice(0, 3));
      await redis.flushall();
      expect(await nearbyIds({ ...depot, limit: 1 })).toEqual(smallest.slice(0, 1));
      expect(await nearbyIds({ ...depot, limit: 3 })).toEqual(smallest.slice(0, 3));
    });

    it('agrees at the edge of the radius on the equator too (earthdistance measures on a larger sphere)', async () => {
      const origin = { lat: 0, lon: 0 };
      const east = { lat: 0, lon: (99_900 / 6_371_008.8) * (180 / Math.PI) };
      const edge = await availableDriver(east);
      await flushLocations();
      expect(await nearbyIds({ ...origin, radiusKm: 100 })).toEqual([edge.id]);
      await redis.flushall();
      expect(await nearbyIds({ ...origin, radiusKm: 100 })).toEqual([edge.id]);
    });

    it('takes coordinates within a nanodegree of 0 as 0, so subnormal numbers reach neither earthdistance nor Redis', async () => {
      // ll_to_earth multiplies radians(x) into 0 for such x, which PostgreSQL refuses as an underflow.
      const tiny = { lat: -5e-324, lon: 5e-324 };
      const driver = await availableDriver(tiny);
      await flushLocations();
      expect(await row(driver.id)).toMatchObject({ last_lat: 0, last_lon: 0 });
      const body = (await http().get(`/drivers/${driver.id}`).set(admin).expect(200)).body;
      expect(body.lastLocation).toMatchObject({ lat: 0, lon: 0 });
      expect(await nearbyIds(tiny)).toEqual([driver.id]);
      await redis.flushall();
      expect(await nearbyIds(tiny)).toEqual([driver.id]);
      expect(await nearbyIds({ lat: 1e-320, lon: 0 })).toEqual([driver.id]);
      // A centimetre from 0 is kept as sent.
      const near = await availableDriver({ lat: 1e-7, lon: -1e-7 });
      await flushLocations();
      expect(await row(near.id)).toMatchObject({ last_lat: 1e-7, last_lon: -1e-7 });
    });

    it('agrees at the edge of the radius on both paths (Redis measures on a slightly larger sphere)', async () => {
      // 99.99 km due north by our own (haversine) measure: inside a 100 km radius.
      const north = { lat: BERLIN.lat + (99_990 / 6_371_008.8) * (180 / Math.PI), lon: BERLIN.lon };
      const edge = await availableDriver(north);
      await flushLocations();
      expect(await nearbyIds({ ...BERLIN, radiusKm: 100 })).toEqual([edge.id]);
      expect(await nearbyIds({ ...BERLIN, radiusKm: 99.9 })).toEqual([]);
      await redis.flushall();
      expect(await nearbyIds({ ...BERLIN, radiusKm: 100 })).toEqual([edge.id]);
      expect(await nearbyIds({ ...BERLIN, radiusKm: 99.9 })).toEqual([]);
    });

    it('when Redis offers drivers PostgreSQL has made BUSY, answers from PostgreSQL and repairs those drivers', async () => {
      const stale = [];
      for (let i = 0; i < 10; i++) stale.push(await availableDriver({ lat: 52.52 + i * 0.0001, lon: 13.405 }));
      const far = await availableDriver({ lat: 52.54, lon: 13.405 });
      await flushLocations();
      // Their Redis copy is lost, as when a mirror fails after commit.
      await sql.query(`UPDATE drivers SET status = 'BUSY', state_version = state_version + 1 WHERE id = ANY($1)`, [stale.map((d) => d.id)]);
      expect(await redis.zcard('drivers:geo')).toBe(11);

      // Every search answers right, and repairs the stale drivers it met, until none is left.
      // The first search meets them and answers from PostgreSQL.
      const first = await searchWindows();
      const answers: string[][] = [await nearbyIds({ ...BERLIN, limit: 1 })];
      expect(await windowsSince(first)).toEqual({ postgres_redis_stale: 1 });
      await eventually(
        async () => {
          answers.push(await nearbyIds({ ...BERLIN, limit: 1 }));
          return (await geoMembers()).join() === far.id;
        },
        { what: 'the stale drivers repaired' },
      );
      expect(answers.length).toBeGreaterThan(1);
      expect(answers.every((ids) => ids.join() === far.id)).toBe(true);
      // Once repaired, Redis answers again.
      const before = await searchWindows();
      expect(await nearbyIds({ ...BERLIN, limit: 1 })).toEqual([far.id]);
      expect(await windowsSince(before)).toEqual({ redis: 1 });
    });

    it("skips a driver whose committed state this process is still writing to Redis, and keeps Redis' answer", async () => {
      const leaving = await availableDriver({ lat: 52.52, lon: 13.405 });
      const next = await availableDriver({ lat: 52.521, lon: 13.405 });
      await flushLocations();
      const held = holdCalls(t.app.get(DriverStateMirror), 'applyStates', 1);
      // Committed OFFLINE, its mirror held: Redis still lists it as choosable.
      const answered = setStatus(leaving, 'OFFLINE').then((response) => response);
      try {
        await held.held;
        expect((await row(leaving.id)).status).toBe('OFFLINE');
        expect(await geoMembers()).toEqual([leaving.id, next.id].sort());
        const before = await searchWindows();
        expect(await nearbyIds({ ...BERLIN, limit: 1 })).toEqual([next.id]);
        expect(await windowsSince(before)).toEqual({ redis: 1 });
      } finally {
        held.release();
      }
      expect((await answered).status).toBe(200);
      expect(await geoMembers()).toEqual([next.id]);
    });

    it("skips a driver whose state changed between the Redis read and PostgreSQL's confirmation too", async () => {
      const leaving = await availableDriver({ lat: 52.52, lon: 13.405 });
      const next = await availableDriver({ lat: 52.521, lon: 13.405 });
      await flushLocations();
      const confirmation = holdCalls(t.app.get(AvailabilityRepository), 'findChoosable', 1);
      try {
        const before = await searchWindows();
        // Redis is read with both drivers in it; the confirmation waits while one goes OFFLINE, mirror and all.
        const answer = nearbyIds({ ...BERLIN, limit: 1 });
        await confirmation.held;
        expect((await setStatus(leaving, 'OFFLINE')).status).toBe(200);
        expect(await geoMembers()).toEqual([next.id]);
        confirmation.release();
        expect(await answer).toEqual([next.id]);
        expect(await windowsSince(before)).toEqual({ redis: 1 });
      } finally {
        confirmation.release();
      }
    });

    it('a full Redis window of drivers skipped that way grows, and finds the driver beyond it', async () => {
      // A search for 1 asks Redis for 6 (the margin): all of them at the gate, all just gone OFFLINE.
      const leaving = [];
      for (let i = 0; i < 6; i++) leaving.push(await availableDriver({ lat: 52.52 + i * 0.0001, lon: 13.405 }));
      const far = await availableDriver({ lat: 52.54, lon: 13.405 });
      await flushLocations();
      const held = holdCalls(t.app.get(DriverStateMirror), 'applyStates', leaving.length);
      const answered = Promise.all(leaving.map((driver) => setStatus(driver, 'OFFLINE').then((response) => response.status)));
      try {
        await held.held;
        expect(await redis.zcard('drivers:geo')).toBe(7);
        const before = await searchWindows();
        expect(await nearbyIds({ ...BERLIN, limit: 1 })).toEqual([far.id]);
        // The first window (6, every one skipped), then a wider one.
        expect(await windowsSince(before)).toEqual({ redis: 2 });
      } finally {
        held.release();
      }
      expect(await answered).toEqual(leaving.map(() => 200));
      expect(await geoMembers()).toEqual([far.id]);
    });

    it('finds drivers beyond the latitudes Redis can index on the PostgreSQL path, without breaking reconciliation', async () => {
      const polar = await availableDriver({ lat: 89.5, lon: 10 });
      expect(await geoMembers()).toEqual([]);
      await flushLocations();
      expect(await nearbyIds({ lat: 89, lon: 10 })).toEqual([polar.id]);
      const report = await t.app.get(AvailabilityReconciler).reconcile();
      expect(report).toEqual({ drivers: 1, pruned: 0 });
      expect(await redis.exists('drivers:synced')).toBe(1);
    });

    it('repairs a stale Redis: members PostgreSQL does not list as choosable are removed', async () => {
      const a = await availableDriver();
      await redis.geoadd('drivers:geo', 13.4, 52.5, 'not-a-driver');
      await sql.query(`UPDATE drivers SET status = 'OFFLINE' WHERE id = $1`, [a.id]);
      const report = await t.app.get(AvailabilityReconciler).reconcile();
      expect(report?.pruned).toBe(1);
      expect(await geoMembers()).toEqual([]);
    });

    it('prunes by the whole choosable rule: a member whose state says AVAILABLE but whose heartbeat is stale goes too', async () => {
      const now = Date.now();
      for (const [id, seen] of [
        ['stale-member', now - 120_000],
        ['fresh-member', now],
      ] as const) {
        await redis.hset('drivers:status', id, 'AVAILABLE:1:1');
        await redis.hset('drivers:location', id, `13.4 52.5 ${seen}`);
        await redis.zadd('drivers:heartbeat', seen, id);
        await redis.geoadd('drivers:geo', 13.4, 52.5, id);
      }
      expect(await t.app.get(DriverStateMirror).pruneGeo(new Date(now - 60_000))).toBe(1);
      expect(await geoMembers()).toEqual(['fresh-member']);
    });

    it('with Redis stopped, pings and status changes land in PostgreSQL and the search answers the same from PostgreSQL', async () => {
      const a = await availableDriver({ lat: 52.521, lon: 13.405 });
      const b = await availableDriver({ lat: 52.53, lon: 13.405 });
      await flushLocations();
      const before = await nearbyIds();
      expect(before).toEqual([a.id, b.id]);

      await redisServer.stop();
      try {
        expect(await nearbyIds()).toEqual(before);
        expect((await ping(a, { lat: 52.54, lon: 13.405 }).expect(200)).body).toEqual({ status: 'AVAILABLE', online: true });
        expect((await setStatus(b, 'OFFLINE').expect(200)).body.status).toBe('OFFLINE');
        await flushLocations();
        expect(await row(a.id)).toMatchObject({ last_lat: 52.54, status: 'AVAILABLE' });
        expect((await row(b.id)).status).toBe('OFFLINE');
        expect(await nearbyIds()).toEqual([a.id]);
      } finally {
        await redisServer.start();
      }
      // On reconnect the service reconciles by itself: Redis again says what PostgreSQL says.
      await eventually(async () => (await redis.exists('drivers:synced').catch(() => 0)) === 1 && (await geoMembers()).join() === a.id, {
        what: 'reconciliation after Redis returned',
        timeoutMs: 15_000,
      });
      expect(await nearbyIds()).toEqual([a.id]);
    });
  });
});
