import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AvailabilityReconciler } from '../src/fleet/availability-reconciler.js';
import { DeliveriesRepository } from '../src/deliveries/deliveries.repository.js';
import { RedisService } from '../src/redis/redis.service.js';
import { eventually } from './support/eventually.js';
import { insertDrivers, scatter, sendEvent } from './support/fleet.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { signedHeaders } from './support/signing.js';
import { admin, DRIVER_SECRET, startTestApp, TestApp, VENDURE_SECRET } from './support/test-app.js';

const PICKUP = { lat: 52.52, lon: 13.405 };
const order = (sellerOrderId: string, at = PICKUP) => ({ sellerOrderId, pickupLat: at.lat, pickupLon: at.lon });

/** Assignment on real PostgreSQL and a private redis-server (stopped in some tests). */
describe('assignment: POST /events/seller-order-ready', () => {
  const env = useServiceEnvironment('assignment', { DB_POOL_SIZE: '20' });
  const { redisServer } = env;
  let database: ServiceEnvironment['database'];
  let redis: Redis;
  let sql: pg.Client;
  let t: TestApp;

  beforeAll(() => {
    ({ database, redis, sql, t } = env);
  });

  beforeEach(() => env.reset());

  const reconcile = () => t.app.get(AvailabilityReconciler).reconcile();
  const count = async (query: string, params: unknown[] = []) => Number((await sql.query(query, params)).rows[0].n);
  const driverStatus = async (id: string) => (await sql.query('SELECT status FROM drivers WHERE id = $1', [id])).rows[0].status;

  /** Checks the books: each driver and each order has at most one live delivery. */
  async function expectNoDoubleAssignment() {
    expect(
      await count(
        `SELECT count(*)::int AS n FROM (SELECT driver_id FROM deliveries WHERE status IN ('ASSIGNED','PICKED_UP') GROUP BY driver_id HAVING count(*) > 1) x`,
      ),
    ).toBe(0);
    expect(
      await count(
        `SELECT count(*)::int AS n FROM (SELECT seller_order_id FROM deliveries WHERE status IN ('ASSIGNED','PICKED_UP') GROUP BY seller_order_id HAVING count(*) > 1) x`,
      ),
    ).toBe(0);
  }

  it('assigns the nearest eligible driver: never a BUSY, OFFLINE, stale, inactive or out-of-radius one', async () => {
    // Ineligible drivers right at the pickup, the eligible one 1 km away, another eligible one 3 km away.
    const busy = await insertDrivers(sql, [PICKUP], { status: 'BUSY' });
    const offline = await insertDrivers(sql, [PICKUP], { status: 'OFFLINE' });
    const stale = await insertDrivers(sql, [PICKUP], { seenSecondsAgo: 120 });
    const inactive = await insertDrivers(sql, [PICKUP], { isActive: false });
    const [near] = await insertDrivers(sql, [{ lat: PICKUP.lat + 0.009, lon: PICKUP.lon }]);
    await insertDrivers(sql, [{ lat: PICKUP.lat + 0.027, lon: PICKUP.lon }]);
    await reconcile();

    const response = await sendEvent(t, 'seller-order-ready', { ...order('SO-near'), channelId: 'default' }).expect(200);
    expect(response.body).toEqual({
      assigned: true,
      sellerOrderId: 'SO-near',
      deliveryId: expect.any(String),
      driverId: near.id,
      distanceMeters: expect.any(Number),
    });
    expect(response.body.distanceMeters).toBeCloseTo(1000.8, -1);
    // The answer, the delivery and its audit event give the same distance, to a tenth of a metre.
    const stored = await request(t.server).get(`/deliveries/${response.body.deliveryId}`).set(admin).expect(200);
    expect(stored.body.distanceMeters).toBe(response.body.distanceMeters);
    expect(Number.isInteger(response.body.distanceMeters * 10)).toBe(true);
    // Committed in PostgreSQL and out of the GEO set before the answer.
    expect(await driverStatus(near.id)).toBe('BUSY');
    expect(await redis.zrange('drivers:geo', 0, -1)).not.toContain(near.id);
    const [delivery] = (await sql.query('SELECT * FROM deliveries WHERE id = $1', [response.body.deliveryId])).rows;
    expect(delivery).toMatchObject({ status: 'ASSIGNED', seller_order_id: 'SO-near', channel_id: 'default', driver_id: near.id });
    for (const [ineligible] of [busy, offline, stale, inactive]) {
      expect(await count('SELECT count(*)::int AS n FROM deliveries WHERE driver_id = $1', [ineligible.id])).toBe(0);
    }
  });

  it('does not assign a driver beyond ASSIGNMENT_MAX_RADIUS_KM', async () => {
    const narrow = await startTestApp({
      DATABASE_URL: database.url,
      REDIS_URL: redisServer.url,
      ASSIGNMENT_MAX_RADIUS_KM: '5',
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    try {
      const [far] = await insertDrivers(sql, [{ lat: PICKUP.lat + 0.06, lon: PICKUP.lon }]); // ~6.7 km
      await reconcile();
      const response = await sendEvent(narrow, 'seller-order-ready', order('SO-far')).expect(200);
      expect(response.body).toEqual({ assigned: false, sellerOrderId: 'SO-far', reason: 'NO_DRIVER_AVAILABLE' });
      expect(await driverStatus(far.id)).toBe('AVAILABLE');
    } finally {
      await narrow.close();
    }
  });

  it('answers NO_DRIVER_AVAILABLE changing nothing, and tries again on a repeat', async () => {
    const response = await sendEvent(t, 'seller-order-ready', order('SO-none')).expect(200);
    expect(response.body).toEqual({ assigned: false, sellerOrderId: 'SO-none', reason: 'NO_DRIVER_AVAILABLE' });
    expect(await count('SELECT count(*)::int AS n FROM deliveries')).toBe(0);

    const [driver] = await insertDrivers(sql, [PICKUP]);
    await reconcile();
    const retry = await sendEvent(t, 'seller-order-ready', order('SO-none')).expect(200);
    expect(retry.body).toMatchObject({ assigned: true, driverId: driver.id });
  });

  it('is idempotent on sellerOrderId: repeats answer the same delivery and change nothing', async () => {
    await insertDrivers(sql, scatter(3));
    await reconcile();
    const first = await sendEvent(t, 'seller-order-ready', order('SO-idem')).expect(200);
    for (let i = 0; i < 3; i++) {
      const again = await sendEvent(t, 'seller-order-ready', order('SO-idem')).expect(200);
      expect(again.body).toEqual(first.body);
    }
    expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM delivery_events`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(1);
  });

  describe.each([
    ['with Redis', false],
    ['with Redis stopped (PostgreSQL path)', true],
  ])('under concurrency, %s', (_label, stopRedis) => {
    beforeEach(async () => {
      if (stopRedis) await redisServer.stop();
    });

    afterAll(async () => {
      if (!stopRedis) return;
      await redisServer.start();
      // The next tests need both the service and this file's client connected again.
      await eventually(async () => t.app.get(RedisService).isReady && (await redis.ping()) === 'PONG', { what: 'Redis reconnected' });
    });

    it('200 different orders at once for 50 drivers: exactly 50 assigned, 150 NO_DRIVER_AVAILABLE, no driver twice', async () => {
      const fleet = await insertDrivers(sql, scatter(50));
      if (!stopRedis) {
        await reconcile();
        expect(await redis.zcard('drivers:geo')).toBe(50);
      }
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => sendEvent(t, 'seller-order-ready', order(`SO-burst-${i}`, scatter(200, PICKUP, 6)[i]))),
      );
      expect(answers.map((a) => a.status).every((s) => s === 200)).toBe(true);
      const assigned = answers.filter((a) => a.body.assigned);
      expect(assigned).toHaveLength(50);
      expect(answers.filter((a) => a.body.reason === 'NO_DRIVER_AVAILABLE')).toHaveLength(150);
      expect(new Set(assigned.map((a) => a.body.driverId)).size).toBe(50);
      expect(new Set(assigned.map((a) => a.body.driverId))).toEqual(new Set(fleet.map((d) => d.id)));

      expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(50);
      expect(await count(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(50);
      await expectNoDoubleAssignment();
      if (!stopRedis) expect(await redis.zcard('drivers:geo')).toBe(0);
    });

    it('50 simultaneous copies of one order give one delivery, and all answer it', async () => {
      await insertDrivers(sql, scatter(10));
      if (!stopRedis) await reconcile();
      const answers = await Promise.all(Array.from({ length: 50 }, () => sendEvent(t, 'seller-order-ready', order('SO-copies'))));
      expect(answers.every((a) => a.status === 200 && a.body.assigned === true)).toBe(true);
      expect(new Set(answers.map((a) => a.body.deliveryId)).size).toBe(1);
      expect(new Set(answers.map((a) => a.body.driverId)).size).toBe(1);
      expect(await count(`SELECT count(*)::int AS n FROM deliveries WHERE seller_order_id = 'SO-copies'`)).toBe(1);
      expect(await count(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(1);
      expect(await count(`SELECT count(*)::int AS n FROM delivery_events`)).toBe(1);
    });
  });

  it('with PostgreSQL down answers 503 DATABASE_UNAVAILABLE and changes nothing, in PostgreSQL or Redis', async () => {
    const fleet = await insertDrivers(sql, scatter(3));
    await reconcile();
    const proxy = new TcpProxy(5432);
    const port = await proxy.start();
    const viaProxy = await startTestApp({
      DATABASE_URL: database.url.replace(':5432/', `:${port}/`),
      REDIS_URL: redisServer.url,
      RECONCILE_INTERVAL_SECONDS: '3600',
    });
    try {
      const geoBefore = (await redis.zrange('drivers:geo', 0, -1)).sort();
      await proxy.cut();
      const response = await sendEvent(viaProxy, 'seller-order-ready', order('SO-pg-down')).expect(503);
      expect(response.body).toMatchObject({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' });
      expect((await redis.zrange('drivers:geo', 0, -1)).sort()).toEqual(geoBefore);
      await proxy.restore();

      expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(0);
      expect(await count(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(0);
      expect(geoBefore).toEqual(fleet.map((d) => d.id).sort());
      // Once PostgreSQL is back the same event succeeds.
      const retry = await sendEvent(viaProxy, 'seller-order-ready', order('SO-pg-down')).expect(200);
      expect(retry.body.assigned).toBe(true);
    } finally {
      await viaProxy.close();
      await proxy.stop();
    }
  });

  it('takes a unique-index violation in the claim as a lost claim: the statement writes nothing and the next driver is assigned', async () => {
    // Inconsistent data only the last line catches: an AVAILABLE driver at the pickup that already has a live delivery.
    const [haunted] = await insertDrivers(sql, [PICKUP]);
    const [next] = await insertDrivers(sql, [{ lat: PICKUP.lat + 0.009, lon: PICKUP.lon }]);
    await sql.query(
      `INSERT INTO deliveries (seller_order_id, driver_id, status, pickup_lat, pickup_lon, distance_meters)
       VALUES ('SO-elsewhere', $1, 'ASSIGNED', $2, $3, 0)`,
      [haunted.id, PICKUP.lat, PICKUP.lon],
    );
    await reconcile();

    const response = await sendEvent(t, 'seller-order-ready', order('SO-last-line')).expect(200);
    expect(response.body).toMatchObject({ assigned: true, sellerOrderId: 'SO-last-line', driverId: next.id });
    // The violating claim left nothing behind: the driver is still AVAILABLE, and no event or message was written for it.
    expect(await driverStatus(haunted.id)).toBe('AVAILABLE');
    expect(await count(`SELECT count(*)::int AS n FROM deliveries WHERE driver_id = $1`, [haunted.id])).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM delivery_events`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM webhook_messages`)).toBe(1);
  });

  it('answers a field named with a lone surrogate 400, and a repeat of that request the same 400, not a 500', async () => {
    const raw = JSON.stringify({ ...order('SO-odd-key'), ['\ud800x']: 1 });
    const headers = { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, raw, { id: 'msg_odd_key' }) };
    const first = await request(t.server).post('/events/seller-order-ready').set(headers).send(raw).expect(400);
    expect(first.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    const repeat = await request(t.server).post('/events/seller-order-ready').set(headers).send(raw).expect(400);
    expect(repeat.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    expect(JSON.stringify(repeat.body.message)).toContain('\ufffdx');
    expect(await count(`SELECT count(*)::int AS n FROM webhook_receipts WHERE webhook_id = 'msg_odd_key' AND status_code = 400`)).toBe(1);
    expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(0);
  });

  describe('claims of concurrent orders, made together', () => {
    let holders: pg.Client[] = [];
    afterEach(async () => {
      // A failed test must not leave its lock behind for the next one.
      await Promise.all(holders.map((client) => client.end()));
      holders = [];
    });

    /** A transaction of another client (`client`) holding `lock` (a statement) until `release` is called. */
    async function holding(lock: string, params: unknown[]) {
      const other = new pg.Client({ connectionString: database.url });
      holders.push(other);
      await other.connect();
      await other.query('BEGIN');
      await other.query(lock, params);
      return { client: other, release: () => other.query('COMMIT') };
    }
    /** A claim straight through the repository, as the assignment makes it. */
    const claim = (sellerOrderId: string, driverId: string) =>
      t.app.get(DeliveriesRepository).assign({
        sellerOrderId,
        channelId: null,
        driverId,
        pickupLat: PICKUP.lat,
        pickupLon: PICKUP.lon,
        dropoffLat: null,
        dropoffLon: null,
        distanceMeters: 1,
        heartbeatCutoff: new Date(Date.now() - 60_000),
        actor: 'vendure',
        requestId: null,
        firstAttemptAfterSeconds: 0,
      });
    /** Resolves once a backend of the test database waits for a lock (the claim that now waits). */
    const someoneWaitsForALock = () =>
      eventually(
        async () =>
          (await count(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)) >
          0,
        { what: 'a claim waiting for the lock' },
      );

    it('go to PostgreSQL in one statement, each with its own outcome: no driver given twice, no order with two deliveries', async () => {
      const [d1, d2, d3, lone] = await insertDrivers(sql, scatter(4));
      const statements = jest.spyOn(t.app.get(DataSource), 'query');
      try {
        // Claims made in one event-loop turn go together.
        const first = claim('SO-first', lone.id);
        const outcomes = await Promise.all([claim('SO-a', d1.id), claim('SO-b', d1.id), claim('SO-c', d2.id), claim('SO-a', d3.id)]);
        expect((await first).outcome).toBe('assigned');
        const batches = statements.mock.calls.filter(([text]) => String(text).includes('assign_deliveries'));
        expect(batches.map(([, params]) => JSON.parse((params as string[])[0]).length)).toEqual([5]);
        expect(outcomes.map((o) => o.outcome)).toEqual(['assigned', 'driver-taken', 'assigned', 'order-live']);
        const [a, , c, again] = outcomes as Array<{ delivery: { id: string; driverId: string } }>;
        expect(a.delivery.driverId).toBe(d1.id);
        expect(c.delivery.driverId).toBe(d2.id);
        expect(again.delivery.id).toBe(a.delivery.id);
      } finally {
        statements.mockRestore();
      }
      expect(await driverStatus(d3.id)).toBe('AVAILABLE');
      expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(3);
      expect(await count(`SELECT count(*)::int AS n FROM webhook_messages`)).toBe(3);
      await expectNoDoubleAssignment();
    });

    it('never wait inside the batch: a held driver or order is claimed again alone, and the rest of its batch is not held up', async () => {
      const [held, free, forHeldOrder] = await insertDrivers(sql, scatter(3));
      const driverLock = await holding('SELECT 1 FROM drivers WHERE id = $1 FOR UPDATE', [held.id]);
      const orderLock = await holding(`SELECT pg_advisory_xact_lock(hashtext('seller-order:' || $1))`, ['SO-held-order']);
      const waitingForDriver = claim('SO-held-driver', held.id);
      const waitingForOrder = claim('SO-held-order', forHeldOrder.id);
      // Same batch as the two above: answered while their driver and their order are still locked.
      expect((await claim('SO-free', free.id)).outcome).toBe('assigned');
      await someoneWaitsForALock();
      await driverLock.release();
      expect(await waitingForDriver).toMatchObject({ outcome: 'assigned', delivery: { driverId: held.id } });
      await orderLock.release();
      expect(await waitingForOrder).toMatchObject({ outcome: 'assigned', delivery: { driverId: forHeldOrder.id } });
    });

    it('come after a delivery of their order made while their batch ran, so a cancellation finds the live one', async () => {
      const [late, earlier] = await insertDrivers(sql, scatter(2));
      // A batch's transaction has begun (now() is fixed from here) before the order's first delivery is made and cancelled.
      const batch = await holding('SELECT now()', []);
      await sql.query(
        `INSERT INTO deliveries (seller_order_id, driver_id, status, pickup_lat, pickup_lon, distance_meters, cancelled_at)
         VALUES ('SO-late', $1, 'CANCELLED', $2, $3, 0, now())`,
        [earlier.id, PICKUP.lat, PICKUP.lon],
      );
      const { rows } = await batch.client.query(
        `SELECT outcome, delivery->>'id' AS id FROM claim_delivery(false, 'SO-late', NULL, $1, $2, $3, NULL, NULL, 0, now() - interval '1 minute', 'vendure', NULL, 0)`,
        [late.id, PICKUP.lat, PICKUP.lon],
      );
      expect(rows[0].outcome).toBe('assigned');
      await batch.release();

      const cancelled = await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-late' }).expect(200);
      expect(cancelled.body).toEqual({ cancelled: true, deliveryId: rows[0].id });
      expect(await driverStatus(late.id)).toBe('AVAILABLE');
    });

    it('wait for a nearest driver another transaction holds, instead of passing it over', async () => {
      const [nearest] = await insertDrivers(sql, [PICKUP]);
      await insertDrivers(sql, [{ lat: PICKUP.lat + 0.009, lon: PICKUP.lon }]);
      await reconcile();
      const lock = await holding('SELECT 1 FROM drivers WHERE id = $1 FOR UPDATE', [nearest.id]);
      const answer = sendEvent(t, 'seller-order-ready', order('SO-held-driver')).then((response) => response);
      await someoneWaitsForALock();
      await lock.release();
      const response = await answer;
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ assigned: true, driverId: nearest.id });
    });

    it('wait for an order another transaction holds, then answer what it left', async () => {
      await insertDrivers(sql, scatter(2));
      await reconcile();
      const lock = await holding(`SELECT pg_advisory_xact_lock(hashtext('seller-order:' || $1))`, ['SO-held-order']);
      const answer = sendEvent(t, 'seller-order-ready', order('SO-held-order')).then((response) => response);
      await someoneWaitsForALock();
      await lock.release();
      const response = await answer;
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ assigned: true, sellerOrderId: 'SO-held-order' });
      expect(await count(`SELECT count(*)::int AS n FROM deliveries WHERE seller_order_id = 'SO-held-order'`)).toBe(1);
    });
  });

  it('is for Vendure only', async () => {
    const raw = JSON.stringify(order('SO-auth'));
    await request(t.server).post('/events/seller-order-ready').set('content-type', 'application/json').send(raw).expect(401);
    await sendEvent(t, 'seller-order-ready', order('SO-auth'), DRIVER_SECRET).expect(401);
    await request(t.server).post('/events/seller-order-ready').set(admin).send(order('SO-auth')).expect(403);
    expect(await count(`SELECT count(*)::int AS n FROM deliveries`)).toBe(0);
  });
});
