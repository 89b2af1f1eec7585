import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { CreatedDriver, newDriver } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET, TestApp, VENDURE_SECRET } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

type Headers = Record<string, string>;
type Point = { lat: number; lon: number };

/**
 * Deliveries: the state machine, its audit trail, cancellation (Vendure and
 * operators), who may see and move a delivery, and the validation of the
 * delivery and event routes. Real PostgreSQL, and a private redis-server.
 */
describe('deliveries: state machine, audit trail, cancellation, ownership', () => {
  const env = useServiceEnvironment('deliveries');
  let redis: Redis;
  let sql: pg.Client;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(() => {
    ({ redis, sql, t } = env);
  });

  beforeEach(() => env.reset());

  // ---------------------------------------------------------------- helpers

  const ping = (driver: CreatedDriver, point: Point) =>
    http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point);

  /** A driver created through the API, located at `point`, AVAILABLE with a fresh heartbeat: choosable. */
  async function availableDriver(point: Point = BERLIN): Promise<CreatedDriver> {
    const driver = await newDriver(t);
    await ping(driver, point).expect(200);
    await http().patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    return driver;
  }

  const orderAt = (sellerOrderId: string, point: Point = BERLIN) => ({ sellerOrderId, pickupLat: point.lat, pickupLon: point.lon });

  /** Vendure's seller-order-ready, with an x-request-id when given. */
  const ready = (body: object, requestId?: string) => {
    const test = sendEvent(t, 'seller-order-ready', body);
    return requestId ? test.set('x-request-id', requestId) : test;
  };
  const cancel = (body: object, requestId?: string) => {
    const test = sendEvent(t, 'seller-order-cancelled', body);
    return requestId ? test.set('x-request-id', requestId) : test;
  };

  /** Assigns `sellerOrderId` (pickup at `point`) and returns the answer; it must be assigned. */
  async function assign(sellerOrderId: string, point: Point = BERLIN, requestId?: string) {
    const response = await ready(orderAt(sellerOrderId, point), requestId).expect(200);
    expect(response.body).toMatchObject({ assigned: true, sellerOrderId });
    return response.body as { assigned: true; sellerOrderId: string; deliveryId: string; driverId: string; distanceMeters: number };
  }

  const setStatus = (deliveryId: string, headers: Headers, body: object, requestId?: string) => {
    const test = http().patch(`/deliveries/${deliveryId}/status`).set(headers);
    if (requestId) test.set('x-request-id', requestId);
    return test.send(body);
  };

  /** The same PATCH as the driver app backend sends it: raw JSON, signed with DRIVER_WEBHOOK_SECRET. */
  const backendSetStatus = (deliveryId: string, body: object, secret = DRIVER_SECRET) => {
    const raw = JSON.stringify(body);
    return http()
      .patch(`/deliveries/${deliveryId}/status`)
      .set({ 'content-type': 'application/json', ...signedHeaders(secret, raw) })
      .send(raw);
  };

  const deliveryRow = async (id: string) => (await sql.query('SELECT * FROM deliveries WHERE id = $1', [id])).rows[0];
  const deliveryCount = async () => (await sql.query('SELECT count(*)::int AS n FROM deliveries')).rows[0].n as number;
  const eventCount = async (deliveryId: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM delivery_events WHERE delivery_id = $1', [deliveryId])).rows[0].n as number;
  const driverRow = async (id: string) => (await sql.query('SELECT * FROM drivers WHERE id = $1', [id])).rows[0];
  const geoMembers = async () => (await redis.zrange('drivers:geo', 0, -1)).sort();
  const auditTrail = async (deliveryId: string, headers: Headers = admin) =>
    (await http().get(`/deliveries/${deliveryId}/events`).set(headers).expect(200)).body as Array<{
      id: string;
      type: string;
      fromStatus: string | null;
      toStatus: string;
      at: string;
      actor: string;
      data: Record<string, unknown>;
    }>;

  /** Everything stored about a delivery: its row and its audit trail. */
  const snapshot = async (deliveryId: string) => ({ row: await deliveryRow(deliveryId), events: await eventCount(deliveryId) });

  /** A move the state machine forbids: 409 INVALID_DELIVERY_TRANSITION, and nothing written. */
  async function expectRefusedMove(deliveryId: string, headers: Headers, status: string) {
    const before = await snapshot(deliveryId);
    const response = await setStatus(deliveryId, headers, { status }).expect(409);
    expect(response.body).toMatchObject({ statusCode: 409, code: 'INVALID_DELIVERY_TRANSITION' });
    expect(await snapshot(deliveryId)).toEqual(before);
  }

  /** The driver is AVAILABLE in PostgreSQL and choosable in Redis (GEO set, fresh heartbeat). */
  async function expectFreed(driverId: string) {
    expect((await driverRow(driverId)).status).toBe('AVAILABLE');
    expect(await geoMembers()).toContain(driverId);
    expect(await redis.exists(`driver:online:${driverId}`)).toBe(1);
    expect(await redis.hget('drivers:status', driverId)).toMatch(/^AVAILABLE:1:/);
  }

  async function expectBusy(driverId: string) {
    expect((await driverRow(driverId)).status).toBe('BUSY');
    expect(await geoMembers()).not.toContain(driverId);
  }

  // ---------------------------------------------------------------- state machine

  describe('state machine and audit trail', () => {
    it('assigns, moves ASSIGNED → PICKED_UP → DELIVERED, refuses forbidden moves without writing, and records every change', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-SM-1', BERLIN, 'req-assign-1');
      expect(answer.driverId).toBe(driver.id);
      expect(answer.distanceMeters).toBe(0); // the driver stands at the pickup
      await expectBusy(driver.id);

      const delivery = await http().get(`/deliveries/${answer.deliveryId}`).set(bearer(driver.token)).expect(200);
      expect(delivery.body).toMatchObject({
        id: answer.deliveryId,
        sellerOrderId: 'SO-SM-1',
        driverId: driver.id,
        status: 'ASSIGNED',
        pickup: BERLIN,
        dropoff: null,
        pickedUpAt: null,
        deliveredAt: null,
        failedAt: null,
        cancelledAt: null,
        failureReason: null,
      });

      // ASSIGNED → DELIVERED skips the pickup.
      await expectRefusedMove(answer.deliveryId, bearer(driver.token), 'DELIVERED');

      const pickedUp = await setStatus(answer.deliveryId, bearer(driver.token), { status: 'PICKED_UP' }, 'req-pickup-1').expect(200);
      expect(pickedUp.body).toMatchObject({ id: answer.deliveryId, status: 'PICKED_UP' });
      expect(pickedUp.body.pickedUpAt).not.toBeNull();
      // The same move twice: 200, the same delivery, no new event.
      const again = await setStatus(answer.deliveryId, bearer(driver.token), { status: 'PICKED_UP' }, 'req-pickup-2').expect(200);
      expect(again.body).toEqual(pickedUp.body);
      expect(await eventCount(answer.deliveryId)).toBe(2);
      await expectBusy(driver.id);

      const delivered = await setStatus(answer.deliveryId, bearer(driver.token), { status: 'DELIVERED' }, 'req-deliver-1').expect(200);
      expect(delivered.body).toMatchObject({ status: 'DELIVERED', pickedUpAt: pickedUp.body.pickedUpAt });
      expect(delivered.body.deliveredAt).not.toBeNull();

      // DELIVERED is final: nothing moves it, whoever asks.
      await expectRefusedMove(answer.deliveryId, bearer(driver.token), 'PICKED_UP');
      await expectRefusedMove(answer.deliveryId, bearer(driver.token), 'FAILED');
      await expectRefusedMove(answer.deliveryId, admin, 'FAILED');
      await expectRefusedMove(answer.deliveryId, admin, 'CANCELLED');
      const deliveredAgain = await setStatus(answer.deliveryId, bearer(driver.token), { status: 'DELIVERED' }).expect(200);
      expect(deliveredAgain.body).toEqual(delivered.body);
      expect(await eventCount(answer.deliveryId)).toBe(3);

      const trail = await auditTrail(answer.deliveryId, bearer(driver.token));
      expect(
        trail.map(({ type, fromStatus, toStatus, actor, data }) => ({ type, fromStatus, toStatus, actor, requestId: data.requestId })),
      ).toEqual([
        { type: 'delivery.assigned', fromStatus: null, toStatus: 'ASSIGNED', actor: 'vendure', requestId: 'req-assign-1' },
        {
          type: 'delivery.picked_up',
          fromStatus: 'ASSIGNED',
          toStatus: 'PICKED_UP',
          actor: `driver:${driver.id}`,
          requestId: 'req-pickup-1',
        },
        {
          type: 'delivery.delivered',
          fromStatus: 'PICKED_UP',
          toStatus: 'DELIVERED',
          actor: `driver:${driver.id}`,
          requestId: 'req-deliver-1',
        },
      ]);
      expect(trail[0].data).toMatchObject({ driverId: driver.id, distanceMeters: expect.any(Number) });
      const times = trail.map((e) => Date.parse(e.at));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(new Set(trail.map((e) => e.id)).size).toBe(3);
    });

    it('FAILED from ASSIGNED (operator) and from PICKED_UP (driver) keeps the reason as failureReason; both are final', async () => {
      const ada = await availableDriver({ lat: 52.5, lon: 13.3 });
      const first = await assign('SO-SM-F1', { lat: 52.5, lon: 13.3 });
      expect(first.driverId).toBe(ada.id);
      const failed = await setStatus(first.deliveryId, admin, { status: 'FAILED', reason: 'Shop closed' }, 'req-fail-admin').expect(200);
      expect(failed.body).toMatchObject({ status: 'FAILED', failureReason: 'Shop closed', pickedUpAt: null });
      expect(failed.body.failedAt).not.toBeNull();
      await expectRefusedMove(first.deliveryId, admin, 'PICKED_UP');
      await expectRefusedMove(first.deliveryId, admin, 'DELIVERED');
      await expectRefusedMove(first.deliveryId, admin, 'CANCELLED');

      const second = await assign('SO-SM-F2', { lat: 52.5, lon: 13.3 });
      expect(second.driverId).toBe(ada.id);
      await setStatus(second.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }).expect(200);
      const failedOnRoad = await setStatus(second.deliveryId, bearer(ada.token), {
        status: 'FAILED',
        reason: '  Customer not at home  ',
      }).expect(200);
      expect(failedOnRoad.body).toMatchObject({ status: 'FAILED', failureReason: 'Customer not at home' });
      // The same move twice (even with another reason) is a no-op.
      const failedAgain = await setStatus(second.deliveryId, bearer(ada.token), { status: 'FAILED', reason: 'Something else' }).expect(200);
      expect(failedAgain.body).toEqual(failedOnRoad.body);
      await expectRefusedMove(second.deliveryId, bearer(ada.token), 'DELIVERED');

      const trail = await auditTrail(first.deliveryId);
      expect(trail.map((e) => [e.type, e.fromStatus, e.toStatus, e.actor])).toEqual([
        ['delivery.assigned', null, 'ASSIGNED', 'vendure'],
        ['delivery.failed', 'ASSIGNED', 'FAILED', 'admin'],
      ]);
      expect(trail[1].data).toMatchObject({ reason: 'Shop closed', requestId: 'req-fail-admin' });
      const roadTrail = await auditTrail(second.deliveryId);
      expect(roadTrail.map((e) => [e.toStatus, e.actor])).toEqual([
        ['ASSIGNED', 'vendure'],
        ['PICKED_UP', `driver:${ada.id}`],
        ['FAILED', `driver:${ada.id}`],
      ]);
      expect(roadTrail[2].data.reason).toBe('Customer not at home');
    });

    it('an operator may cancel from PICKED_UP; CANCELLED is final', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-SM-C1');
      await setStatus(answer.deliveryId, bearer(driver.token), { status: 'PICKED_UP' }).expect(200);
      const cancelled = await setStatus(
        answer.deliveryId,
        admin,
        { status: 'CANCELLED', reason: 'Customer called' },
        'req-cancel-op',
      ).expect(200);
      expect(cancelled.body).toMatchObject({ status: 'CANCELLED', failureReason: null });
      expect(cancelled.body.cancelledAt).not.toBeNull();
      await expectRefusedMove(answer.deliveryId, bearer(driver.token), 'DELIVERED');
      await expectRefusedMove(answer.deliveryId, bearer(driver.token), 'PICKED_UP');
      await expectRefusedMove(answer.deliveryId, admin, 'FAILED');
      expect((await setStatus(answer.deliveryId, admin, { status: 'CANCELLED' }).expect(200)).body).toEqual(cancelled.body);
      const trail = await auditTrail(answer.deliveryId);
      expect(trail.map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
        [null, 'ASSIGNED', 'vendure'],
        ['ASSIGNED', 'PICKED_UP', `driver:${driver.id}`],
        ['PICKED_UP', 'CANCELLED', 'admin'],
      ]);
      expect(trail[2].data).toEqual({ reason: 'Customer called', requestId: 'req-cancel-op' });
    });
  });

  // ---------------------------------------------------------------- freeing the driver

  describe('a final status frees the driver', () => {
    const finishers: Array<[string, (deliveryId: string, driver: CreatedDriver) => Promise<unknown>, Record<string, unknown>, string]> = [
      [
        'DELIVERED by the driver',
        async (id, driver) => {
          await setStatus(id, bearer(driver.token), { status: 'PICKED_UP' }).expect(200);
          return setStatus(id, bearer(driver.token), { status: 'DELIVERED' }).expect(200);
        },
        { status: 'DELIVERED', failureReason: null },
        'driver',
      ],
      [
        'FAILED by the driver',
        (id, driver) => setStatus(id, bearer(driver.token), { status: 'FAILED', reason: 'Address does not exist' }).expect(200),
        { status: 'FAILED', failureReason: 'Address does not exist' },
        'driver',
      ],
      [
        'CANCELLED by an operator',
        (id) => setStatus(id, admin, { status: 'CANCELLED', reason: 'Duplicate order' }).expect(200),
        { status: 'CANCELLED', failureReason: null },
        'admin',
      ],
    ];

    it.each(finishers)(
      '%s: AVAILABLE in PostgreSQL, back in drivers:geo, and assigned the next order',
      async (_case, finish, expected, by) => {
        const driver = await availableDriver();
        const first = await assign('SO-FREE-1');
        expect(first.driverId).toBe(driver.id);
        await expectBusy(driver.id);
        // While it is BUSY, nobody else is there to take an order.
        expect((await ready(orderAt('SO-FREE-WAIT')).expect(200)).body).toEqual({
          assigned: false,
          sellerOrderId: 'SO-FREE-WAIT',
          reason: 'NO_DRIVER_AVAILABLE',
        });

        await finish(first.deliveryId, driver);
        expect(await deliveryRow(first.deliveryId)).toMatchObject({ status: expected.status, failure_reason: expected.failureReason });
        const trail = await auditTrail(first.deliveryId);
        expect(trail[trail.length - 1]).toMatchObject({
          toStatus: expected.status,
          actor: by === 'admin' ? 'admin' : `driver:${driver.id}`,
        });
        await expectFreed(driver.id);

        const next = await assign('SO-FREE-2');
        expect(next.driverId).toBe(driver.id);
        expect(next.deliveryId).not.toBe(first.deliveryId);
        await expectBusy(driver.id);
      },
    );
  });

  // ---------------------------------------------------------------- Vendure cancellation

  describe('cancellation by Vendure (POST /events/seller-order-cancelled)', () => {
    it('cancels the live delivery and frees the driver; a repeat gets the same answer and writes nothing', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-VC-1');
      const cancelled = await cancel({ sellerOrderId: 'SO-VC-1', reason: 'Customer cancelled' }, 'req-vendure-cancel').expect(200);
      expect(cancelled.body).toEqual({ cancelled: true, deliveryId: answer.deliveryId });
      expect(await deliveryRow(answer.deliveryId)).toMatchObject({ status: 'CANCELLED' });
      expect((await deliveryRow(answer.deliveryId)).cancelled_at).not.toBeNull();
      await expectFreed(driver.id);

      const trail = await auditTrail(answer.deliveryId);
      expect(trail.map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
        [null, 'ASSIGNED', 'vendure'],
        ['ASSIGNED', 'CANCELLED', 'vendure'],
      ]);
      expect(trail[1].data).toEqual({ reason: 'Customer cancelled', requestId: 'req-vendure-cancel' });

      // A repeat (a new webhook-id, as a Vendure retry of a new event would have): same answer, nothing new.
      const before = await snapshot(answer.deliveryId);
      expect((await cancel({ sellerOrderId: 'SO-VC-1' }).expect(200)).body).toEqual({ cancelled: true, deliveryId: answer.deliveryId });
      expect(await snapshot(answer.deliveryId)).toEqual(before);
      await expectFreed(driver.id);

      // The freed driver takes the next order.
      expect((await assign('SO-VC-2')).driverId).toBe(driver.id);
    });

    it('a cancelled or failed order that becomes ready again gets a new delivery', async () => {
      const driver = await availableDriver();
      const first = await assign('SO-VC-AGAIN');
      await cancel({ sellerOrderId: 'SO-VC-AGAIN' }).expect(200);
      const second = await assign('SO-VC-AGAIN');
      expect(second.driverId).toBe(driver.id);
      expect(second.deliveryId).not.toBe(first.deliveryId);

      await setStatus(second.deliveryId, bearer(driver.token), { status: 'FAILED', reason: 'Flat tyre' }).expect(200);
      const third = await assign('SO-VC-AGAIN');
      expect(third.deliveryId).not.toBe(second.deliveryId);
      expect(third.deliveryId).not.toBe(first.deliveryId);

      const { rows } = await sql.query(`SELECT id, status FROM deliveries WHERE seller_order_id = 'SO-VC-AGAIN' ORDER BY created_at`);
      expect(rows).toEqual([
        { id: first.deliveryId, status: 'CANCELLED' },
        { id: second.deliveryId, status: 'FAILED' },
        { id: third.deliveryId, status: 'ASSIGNED' },
      ]);
      // The live one is the one a ready repeat answers with.
      expect((await ready(orderAt('SO-VC-AGAIN')).expect(200)).body).toMatchObject({ deliveryId: third.deliveryId, driverId: driver.id });
    });

    it('unknown order: 404 DELIVERY_NOT_FOUND', async () => {
      const response = await cancel({ sellerOrderId: 'SO-NEVER-SEEN' }).expect(404);
      expect(response.body).toMatchObject({ statusCode: 404, code: 'DELIVERY_NOT_FOUND' });
    });

    it('a delivered order: cancel and ready both answer 409 DELIVERY_ALREADY_FINISHED and change nothing', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-VC-DONE');
      await setStatus(answer.deliveryId, bearer(driver.token), { status: 'PICKED_UP' }).expect(200);
      await setStatus(answer.deliveryId, bearer(driver.token), { status: 'DELIVERED' }).expect(200);
      const before = await snapshot(answer.deliveryId);

      expect((await cancel({ sellerOrderId: 'SO-VC-DONE' }).expect(409)).body.code).toBe('DELIVERY_ALREADY_FINISHED');
      expect((await ready(orderAt('SO-VC-DONE')).expect(409)).body.code).toBe('DELIVERY_ALREADY_FINISHED');

      expect(await snapshot(answer.deliveryId)).toEqual(before);
      expect(await deliveryCount()).toBe(1);
      await expectFreed(driver.id);
    });
  });

  // ---------------------------------------------------------------- ownership

  describe('ownership', () => {
    it("another driver's token gets 403 on GET, the audit trail and PATCH; its own driver and an operator get 200", async () => {
      const owner = await availableDriver();
      const other = await availableDriver({ lat: 48.14, lon: 11.58 });
      const answer = await assign('SO-OWN-1');
      expect(answer.driverId).toBe(owner.id);
      const before = await snapshot(answer.deliveryId);

      const attempts = [
        http().get(`/deliveries/${answer.deliveryId}`).set(bearer(other.token)),
        http().get(`/deliveries/${answer.deliveryId}/events`).set(bearer(other.token)),
        setStatus(answer.deliveryId, bearer(other.token), { status: 'PICKED_UP' }),
        setStatus(answer.deliveryId, bearer(other.token), { status: 'FAILED', reason: 'not mine' }),
      ];
      for (const attempt of attempts) expect((await attempt.expect(403)).body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
      expect(await snapshot(answer.deliveryId)).toEqual(before);

      await http().get(`/deliveries/${answer.deliveryId}`).set(bearer(owner.token)).expect(200);
      await http().get(`/deliveries/${answer.deliveryId}/events`).set(bearer(owner.token)).expect(200);
      await http().get(`/deliveries/${answer.deliveryId}`).set(admin).expect(200);
      await http().get(`/deliveries/${answer.deliveryId}/events`).set(admin).expect(200);
      await setStatus(answer.deliveryId, bearer(owner.token), { status: 'PICKED_UP' }).expect(200);
      await setStatus(answer.deliveryId, admin, { status: 'DELIVERED' }).expect(200);
      expect((await auditTrail(answer.deliveryId)).map((e) => e.actor)).toEqual(['vendure', `driver:${owner.id}`, 'admin']);
    });

    it('a driver may not cancel, not even its own delivery (403)', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-OWN-2');
      const before = await snapshot(answer.deliveryId);
      const response = await setStatus(answer.deliveryId, bearer(driver.token), { status: 'CANCELLED' }).expect(403);
      expect(response.body.code).toBe('FORBIDDEN');
      expect(await snapshot(answer.deliveryId)).toEqual(before);
      await expectBusy(driver.id);
    });

    it('the driver app backend (signed with DRIVER_WEBHOOK_SECRET) may act on any delivery; the Vendure secret may not', async () => {
      const driver = await availableDriver();
      const answer = await assign('SO-OWN-3');

      const wrongSecret = await backendSetStatus(answer.deliveryId, { status: 'PICKED_UP' }, VENDURE_SECRET).expect(401);
      expect(wrongSecret.body.code).toBe('UNAUTHENTICATED');
      expect((await deliveryRow(answer.deliveryId)).status).toBe('ASSIGNED');

      const pickedUp = await backendSetStatus(answer.deliveryId, { status: 'PICKED_UP' }).expect(200);
      expect(pickedUp.body).toMatchObject({ id: answer.deliveryId, status: 'PICKED_UP' });
      await backendSetStatus(answer.deliveryId, { status: 'DELIVERED' }).expect(200);
      expect((await auditTrail(answer.deliveryId)).map((e) => [e.toStatus, e.actor])).toEqual([
        ['ASSIGNED', 'vendure'],
        ['PICKED_UP', 'driver-backend'],
        ['DELIVERED', 'driver-backend'],
      ]);
      await expectFreed(driver.id);
    });
  });

  // ---------------------------------------------------------------- validation

  describe('PATCH /deliveries/:id/status validation, unknown ids and credentials', () => {
    it.each([
      ['an unknown status', { status: 'LOST' }, 'status'],
      ['ASSIGNED (set only by assignment)', { status: 'ASSIGNED' }, 'status'],
      ['no status', {}, 'status'],
      ['status in lower case', { status: 'picked_up' }, 'status'],
      ['an extra field', { status: 'PICKED_UP', driverId: UNKNOWN_ID }, 'driverId'],
      ['a reason over 500 characters', { status: 'FAILED', reason: 'x'.repeat(501) }, 'reason'],
      ['a reason that is not a string', { status: 'FAILED', reason: 42 }, 'reason'],
    ])('answers 400 for %s and changes nothing', async (_case, body, field) => {
      const driver = await availableDriver();
      const answer = await assign('SO-VAL-1');
      const before = await snapshot(answer.deliveryId);
      for (const headers of [bearer(driver.token), admin]) {
        const response = await setStatus(answer.deliveryId, headers, body).expect(400);
        expect(response.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
        expect(JSON.stringify(response.body.message)).toContain(field);
      }
      expect(await snapshot(answer.deliveryId)).toEqual(before);
      await expectBusy(driver.id);
    });

    it('a reason of exactly 500 characters is accepted', async () => {
      await availableDriver();
      const answer = await assign('SO-VAL-500');
      const reason = 'r'.repeat(500);
      expect((await setStatus(answer.deliveryId, admin, { status: 'FAILED', reason }).expect(200)).body.failureReason).toBe(reason);
    });

    it('an unknown delivery: 404 DELIVERY_NOT_FOUND; an id that is not a UUID: 400', async () => {
      for (const call of [
        () => http().get(`/deliveries/${UNKNOWN_ID}`).set(admin),
        () => http().get(`/deliveries/${UNKNOWN_ID}/events`).set(admin),
        () => setStatus(UNKNOWN_ID, admin, { status: 'PICKED_UP' }),
      ]) {
        expect((await call().expect(404)).body).toMatchObject({ statusCode: 404, code: 'DELIVERY_NOT_FOUND' });
      }
      for (const call of [
        () => http().get('/deliveries/not-a-uuid').set(admin),
        () => http().get('/deliveries/not-a-uuid/events').set(admin),
        () => setStatus('not-a-uuid', admin, { status: 'PICKED_UP' }),
        () => setStatus('12345', admin, { status: 'PICKED_UP' }),
      ]) {
        expect((await call().expect(400)).body.code).toBe('VALIDATION_FAILED');
      }
    });

    it('no credentials or a bad token: 401 UNAUTHENTICATED, nothing changed', async () => {
      await availableDriver();
      const answer = await assign('SO-VAL-401');
      const before = await snapshot(answer.deliveryId);
      for (const headers of [{}, bearer('not-a-real-token'), { authorization: 'Basic abc' }]) {
        for (const call of [
          () => http().get(`/deliveries/${answer.deliveryId}`).set(headers),
          () => http().get(`/deliveries/${answer.deliveryId}/events`).set(headers),
          () => setStatus(answer.deliveryId, headers, { status: 'PICKED_UP' }),
          () => http().get('/deliveries').set(headers),
        ]) {
          expect((await call().expect(401)).body).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
        }
      }
      expect(await snapshot(answer.deliveryId)).toEqual(before);
    });
  });

  // ---------------------------------------------------------------- listing

  describe('GET /deliveries (operators)', () => {
    it('filters by sellerOrderId, driverId and status, and pages with cursor/nextCursor in creation order', async () => {
      const p1 = { lat: 52.5, lon: 13.3 };
      const p2 = { lat: 48.14, lon: 11.58 };
      const p3 = { lat: 53.55, lon: 9.99 };
      const [d1, d2, d3] = [await availableDriver(p1), await availableDriver(p2), await availableDriver(p3)];
      const l1 = await assign('SO-LIST-1', p1);
      const l2 = await assign('SO-LIST-2', p2);
      const l3 = await assign('SO-LIST-3', p3);
      expect([l1.driverId, l2.driverId, l3.driverId]).toEqual([d1.id, d2.id, d3.id]);
      await cancel({ sellerOrderId: 'SO-LIST-1' }).expect(200);
      const l1b = await assign('SO-LIST-1', p1);
      expect(l1b.driverId).toBe(d1.id);
      await setStatus(l2.deliveryId, bearer(d2.token), { status: 'PICKED_UP' }).expect(200);

      const ids = async (query: Record<string, string | number>) => {
        const response = await http().get('/deliveries').query(query).set(admin).expect(200);
        return response.body.items.map((item: { id: string }) => item.id);
      };
      expect(await ids({})).toEqual([l1.deliveryId, l2.deliveryId, l3.deliveryId, l1b.deliveryId]);
      expect(await ids({ sellerOrderId: 'SO-LIST-1' })).toEqual([l1.deliveryId, l1b.deliveryId]);
      expect(await ids({ sellerOrderId: 'SO-LIST-NONE' })).toEqual([]);
      expect(await ids({ driverId: d1.id })).toEqual([l1.deliveryId, l1b.deliveryId]);
      expect(await ids({ driverId: d3.id })).toEqual([l3.deliveryId]);
      expect(await ids({ status: 'ASSIGNED' })).toEqual([l3.deliveryId, l1b.deliveryId]);
      expect(await ids({ status: 'CANCELLED' })).toEqual([l1.deliveryId]);
      expect(await ids({ status: 'PICKED_UP' })).toEqual([l2.deliveryId]);
      expect(await ids({ status: 'DELIVERED' })).toEqual([]);
      expect(await ids({ driverId: d1.id, status: 'ASSIGNED' })).toEqual([l1b.deliveryId]);

      const full = await http().get('/deliveries').query({ sellerOrderId: 'SO-LIST-2' }).set(admin).expect(200);
      expect(full.body).toEqual({
        items: [expect.objectContaining({ id: l2.deliveryId, status: 'PICKED_UP', driverId: d2.id })],
        nextCursor: null,
      });

      // Pages of 3, then walking one at a time: every delivery once, in creation order.
      const first = await http().get('/deliveries').query({ limit: 3 }).set(admin).expect(200);
      expect(first.body.items.map((i: { id: string }) => i.id)).toEqual([l1.deliveryId, l2.deliveryId, l3.deliveryId]);
      expect(typeof first.body.nextCursor).toBe('string');
      const second = await http().get('/deliveries').query({ limit: 3, cursor: first.body.nextCursor }).set(admin).expect(200);
      expect(second.body).toEqual({ items: [expect.objectContaining({ id: l1b.deliveryId })], nextCursor: null });

      const walked: string[] = [];
      let cursor: string | null | undefined;
      for (let page = 0; page < 10; page++) {
        const query: Record<string, string | number> = { limit: 1, status: 'ASSIGNED' };
        if (cursor) query.cursor = cursor;
        const response = await http().get('/deliveries').query(query).set(admin).expect(200);
        walked.push(...response.body.items.map((i: { id: string }) => i.id));
        cursor = response.body.nextCursor;
        if (cursor === null) break;
      }
      expect(cursor).toBeNull();
      expect(walked).toEqual([l3.deliveryId, l1b.deliveryId]);
    });

    it('is for operators only, and validates its query', async () => {
      const driver = await availableDriver();
      expect((await http().get('/deliveries').set(bearer(driver.token)).expect(403)).body.code).toBe('FORBIDDEN');
      for (const query of [
        { status: 'LOST' },
        { driverId: 'not-a-uuid' },
        { limit: 0 },
        { limit: 201 },
        { limit: 'ten' },
        { limit: '' },
        { sellerOrderId: 'SO\u0000' },
      ]) {
        expect((await http().get('/deliveries').query(query).set(admin).expect(400)).body.code).toBe('VALIDATION_FAILED');
      }
      expect((await http().get('/deliveries').query({ cursor: 'garbage' }).set(admin).expect(400)).body.code).toBe('INVALID_CURSOR');
    });
  });

  // ---------------------------------------------------------------- events routes

  describe('/events/* authentication and validation', () => {
    const path = '/events/seller-order-ready';

    it('unsigned: 401; signed with the driver secret: 401; an operator bearer: 403; nothing is assigned', async () => {
      const driver = await availableDriver();
      const body = orderAt('SO-EV-AUTH');
      const raw = JSON.stringify(body);

      const unsigned = await http().post(path).set('content-type', 'application/json').send(raw).expect(401);
      expect(unsigned.body.code).toBe('UNAUTHENTICATED');
      const wrongSecret = await sendEvent(t, 'seller-order-ready', body, DRIVER_SECRET).expect(401);
      expect(wrongSecret.body.code).toBe('UNAUTHENTICATED');
      const badSignature = await http()
        .post(path)
        .set({ 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, raw) })
        .send(JSON.stringify({ ...body, pickupLat: 0 }))
        .expect(401);
      expect(badSignature.body.code).toBe('UNAUTHENTICATED');
      const operator = await http().post(path).set(admin).send(body).expect(403);
      expect(operator.body.code).toBe('FORBIDDEN');
      const aDriver = await http().post(path).set(bearer(driver.token)).send(body).expect(403);
      expect(aDriver.body.code).toBe('FORBIDDEN');
      await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-EV-AUTH' }, DRIVER_SECRET).expect(401);
      await http().post('/events/seller-order-cancelled').set(admin).send({ sellerOrderId: 'SO-EV-AUTH' }).expect(403);

      expect(await deliveryCount()).toBe(0);
      await expectFreed(driver.id);
      // The same order, properly signed, is assigned: the refusals were about credentials only.
      expect((await assign('SO-EV-AUTH')).driverId).toBe(driver.id);
    });

    it.each([
      ['pickupLat missing', { sellerOrderId: 'SO-EV-V', pickupLon: 13.4 }, 'pickupLat'],
      ['pickupLat 91', { sellerOrderId: 'SO-EV-V', pickupLat: 91, pickupLon: 13.4 }, 'pickupLat'],
      ['pickupLon -181', { sellerOrderId: 'SO-EV-V', pickupLat: 52.5, pickupLon: -181 }, 'pickupLon'],
      ['pickupLat a string', { sellerOrderId: 'SO-EV-V', pickupLat: '52.5', pickupLon: 13.4 }, 'pickupLat'],
      ['dropoffLat without dropoffLon', { sellerOrderId: 'SO-EV-V', pickupLat: 52.5, pickupLon: 13.4, dropoffLat: 52.51 }, 'dropoffLon'],
      ['dropoffLon without dropoffLat', { sellerOrderId: 'SO-EV-V', pickupLat: 52.5, pickupLon: 13.4, dropoffLon: 13.39 }, 'dropoffLat'],
      ['an unknown field', { sellerOrderId: 'SO-EV-V', pickupLat: 52.5, pickupLon: 13.4, driverId: UNKNOWN_ID }, 'driverId'],
      ['an empty sellerOrderId', { sellerOrderId: '', pickupLat: 52.5, pickupLon: 13.4 }, 'sellerOrderId'],
      ['a NUL character in sellerOrderId', { sellerOrderId: 'SO\u0000X', pickupLat: 52.5, pickupLon: 13.4 }, 'sellerOrderId'],
      ['no sellerOrderId', { pickupLat: 52.5, pickupLon: 13.4 }, 'sellerOrderId'],
      ['a sellerOrderId over 200 characters', { sellerOrderId: 'S'.repeat(201), pickupLat: 52.5, pickupLon: 13.4 }, 'sellerOrderId'],
      ['an empty channelId', { sellerOrderId: 'SO-EV-V', pickupLat: 52.5, pickupLon: 13.4, channelId: '' }, 'channelId'],
    ])('seller-order-ready with %s: 400 naming the field, no delivery', async (_case, body, field) => {
      const driver = await availableDriver({ lat: 52.5, lon: 13.4 });
      const response = await ready(body).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(await deliveryCount()).toBe(0);
      await expectFreed(driver.id);
    });

    it('seller-order-ready with a dropoff and a channel stores both', async () => {
      await availableDriver();
      const body = {
        sellerOrderId: 'SO-EV-FULL',
        pickupLat: 52.52,
        pickupLon: 13.405,
        dropoffLat: 52.51,
        dropoffLon: 13.39,
        channelId: 'berlin',
      };
      const answer = await ready(body).expect(200);
      expect(answer.body.assigned).toBe(true);
      const delivery = await http().get(`/deliveries/${answer.body.deliveryId}`).set(admin).expect(200);
      expect(delivery.body).toMatchObject({
        sellerOrderId: 'SO-EV-FULL',
        channelId: 'berlin',
        pickup: { lat: 52.52, lon: 13.405 },
        dropoff: { lat: 52.51, lon: 13.39 },
      });
    });

    it.each([
      ['no sellerOrderId', { reason: 'x' }, 'sellerOrderId'],
      ['an unknown field', { sellerOrderId: 'SO-EV-C', driverId: UNKNOWN_ID }, 'driverId'],
      ['a reason over 500 characters', { sellerOrderId: 'SO-EV-C', reason: 'x'.repeat(501) }, 'reason'],
    ])('seller-order-cancelled with %s: 400 naming the field, nothing cancelled', async (_case, body, field) => {
      await availableDriver();
      const answer = await assign('SO-EV-C');
      const before = await snapshot(answer.deliveryId);
      const response = await cancel(body).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(await snapshot(answer.deliveryId)).toEqual(before);
    });
  });
});
