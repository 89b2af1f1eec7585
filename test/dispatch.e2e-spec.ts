import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import request from 'supertest';
import { deliveryWebhookProblems } from '../src/deliveries/delivery-webhook.js';
import { DispatchTimers } from '../src/dispatch/dispatch-timers.js';
import { Dispatcher } from '../src/dispatch/dispatcher.service.js';
import { eventually } from './support/eventually.js';
import { availableDriver as availableDriverAt, CreatedDriver } from './support/factories.js';
import { insertDrivers, scatter, sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer, TestApp } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };
const HAMBURG = { lat: 53.55, lon: 9.99 };
type Point = { lat: number; lon: number };
/** `km` north of `point`. */
const north = (point: Point, km: number): Point => ({ lat: point.lat + km / 111.195, lon: point.lon });

/**
 * Dispatch (contract v2): waiting orders, offers with timeouts, decline,
 * reassignment and lost drivers, with the state machine's audit trail and
 * webhooks, and the races between them. Real PostgreSQL and a private
 * redis-server; the timers are looked at every 50 ms, and a deadline is made
 * due by moving its due time in PostgreSQL (as time passing would).
 */
describe('dispatch: waiting orders, offers, reassignment', () => {
  // DRIVER_LOST_SECONDS 60 (the heartbeat TTL): its check runs every 5 s.
  // Drivers here ping from one city straight into another; the speed filter has its own suite (location-filters).
  const env = useServiceEnvironment('dispatch', {
    DISPATCH_TIMER_INTERVAL_MS: '50',
    DRIVER_LOST_SECONDS: '60',
    LOCATION_MAX_SPEED_KMH: '0',
  });
  let sql: pg.Client;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(() => {
    ({ sql, t } = env);
  });
  beforeEach(() => env.reset());

  // ---------------------------------------------------------------- helpers

  const availableDriver = (point: Point = BERLIN) => availableDriverAt(t, point);

  const ready = (sellerOrderId: string, extra: Record<string, unknown> = {}, point: Point = BERLIN) =>
    sendEvent(t, 'seller-order-ready', { sellerOrderId, pickupLat: point.lat, pickupLon: point.lon, ...extra });
  const delivery = async (id: string) => (await http().get(`/deliveries/${id}`).set(admin).expect(200)).body;
  const trail = async (id: string) =>
    (await http().get(`/deliveries/${id}/events`).set(admin).expect(200)).body as Array<{
      type: string;
      actor: string;
      data: Record<string, unknown>;
    }>;
  const types = async (id: string) => (await trail(id)).map((e) => e.type.replace('delivery.', ''));
  const driverStatus = async (id: string) => (await sql.query('SELECT status FROM drivers WHERE id = $1', [id])).rows[0].status as string;
  const accept = (id: string, driver: CreatedDriver) => http().post(`/deliveries/${id}/accept`).set(bearer(driver.token));
  const decline = (id: string, driver: CreatedDriver, body: object = {}) =>
    http().post(`/deliveries/${id}/decline`).set(bearer(driver.token)).send(body);
  /** The delivery once it is in `status` (the dispatcher works in the background). */
  const reaches = (id: string, status: string, what = `delivery ${status}`) =>
    eventually(
      async () => {
        const d = await delivery(id);
        return d.status === status ? d : undefined;
      },
      { what },
    );
  /** The delivery once it is offered to `driver`. */
  const offeredTo = (id: string, driver: CreatedDriver) =>
    eventually(
      async () => {
        const d = await delivery(id);
        return d.status === 'OFFERED' && d.driverId === driver.id ? d : undefined;
      },
      { what: `the offer to go to ${driver.id}` },
    );
  /** The offer's time runs out: its due time is now, and the timers fire it. */
  const expireOffer = (id: string) => sql.query(`UPDATE deliveries SET offer_expires_at = now(), due_at = now() WHERE id = $1`, [id]);
  /** The webhooks written for a delivery, in the order they are sent. */
  const webhooks = async (id: string) =>
    (await sql.query(`SELECT type, payload FROM webhook_messages WHERE delivery_id = $1 ORDER BY delivery_seq`, [id])).rows as Array<{
      type: string;
      payload: { data: Record<string, unknown> };
    }>;
  /** No driver holds two live deliveries or offers, no order has two live deliveries (the contract's "never"). */
  async function expectNoDoubles(): Promise<void> {
    const { rows } = await sql.query(`
      SELECT (SELECT count(*) FROM (SELECT driver_id FROM deliveries WHERE status IN ('OFFERED', 'ASSIGNED', 'PICKED_UP')
                                     GROUP BY driver_id HAVING count(*) > 1) x)::int AS drivers,
             (SELECT count(*) FROM (SELECT seller_order_id FROM deliveries WHERE status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')
                                     GROUP BY seller_order_id HAVING count(*) > 1) y)::int AS orders,
             (SELECT count(*) FROM deliveries d JOIN drivers r ON r.id = d.driver_id
               WHERE d.status IN ('OFFERED', 'ASSIGNED', 'PICKED_UP') AND r.status <> 'BUSY')::int AS idle_holders`);
    expect(rows[0]).toEqual({ drivers: 0, orders: 0, idle_holders: 0 });
  }

  // ---------------------------------------------------------------- waiting orders

  describe('waiting orders', () => {
    it('waits PENDING with no driver in reach; a driver going AVAILABLE in reach gets it with no new request', async () => {
      await availableDriver(HAMBURG);
      const answer = await ready('SO-WAIT', { maxWaitSeconds: 600 }).expect(200);
      expect(answer.body).toEqual({
        assigned: false,
        status: 'PENDING',
        sellerOrderId: 'SO-WAIT',
        deliveryId: expect.any(String),
        reason: 'NO_DRIVER_AVAILABLE',
        waitUntil: expect.any(String),
      });
      const waitMs = new Date(answer.body.waitUntil).getTime() - Date.now();
      expect(waitMs).toBeGreaterThan(590_000);
      expect(waitMs).toBeLessThanOrEqual(600_000);
      const id = answer.body.deliveryId;
      expect(await delivery(id)).toMatchObject({
        status: 'PENDING',
        driverId: null,
        distanceMeters: null,
        attempt: 1,
        waitUntil: answer.body.waitUntil,
      });

      // A repeat answers the same waiting delivery and changes nothing.
      expect((await ready('SO-WAIT', { maxWaitSeconds: 600 }).expect(200)).body).toEqual(answer.body);

      const near = await availableDriver(north(BERLIN, 1));
      const assigned = await reaches(id, 'ASSIGNED');
      expect(assigned).toMatchObject({ driverId: near.id, attempt: 1 });
      expect(assigned.distanceMeters).toBeCloseTo(1000, -1);
      expect(await driverStatus(near.id)).toBe('BUSY');
      expect(await types(id)).toEqual(['pending', 'assigned']);
      const sent = await webhooks(id);
      expect(sent.map((m) => m.type)).toEqual(['delivery.pending', 'delivery.assigned']);
      for (const m of sent) expect(deliveryWebhookProblems(m.payload)).toEqual([]);
      expect(sent[0].payload.data).toMatchObject({
        status: 'PENDING',
        driverId: null,
        distanceMeters: null,
        attempt: 1,
        reason: 'NO_DRIVER_AVAILABLE',
      });
      expect(sent[1].payload.data).toMatchObject({ status: 'ASSIGNED', driverId: near.id, attempt: 1 });
      // Repeats now answer the assignment, naming its status (the order uses dispatch settings).
      expect((await ready('SO-WAIT', { maxWaitSeconds: 600 }).expect(200)).body).toEqual({
        assigned: true,
        status: 'ASSIGNED',
        sellerOrderId: 'SO-WAIT',
        deliveryId: id,
        driverId: near.id,
        distanceMeters: assigned.distanceMeters,
      });
      await expectNoDoubles();
    });

    it('a driver that pings into reach gets the waiting order', async () => {
      const driver = await availableDriver(HAMBURG);
      const id = (await ready('SO-PING-IN', { maxWaitSeconds: 600 }).expect(200)).body.deliveryId;
      await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(north(BERLIN, 2)).expect(200);
      expect(await reaches(id, 'ASSIGNED')).toMatchObject({ driverId: driver.id });
    });

    it('gives the one driver to the older of two waiting orders, and the younger once that driver is freed', async () => {
      const older = (await ready('SO-OLDER', { maxWaitSeconds: 600 }).expect(200)).body.deliveryId;
      // The younger one is nearer the driver: age decides, not distance.
      const younger = (await ready('SO-YOUNGER', { maxWaitSeconds: 600 }, north(BERLIN, 0.5)).expect(200)).body.deliveryId;
      const driver = await availableDriver(north(BERLIN, 0.6));
      await reaches(older, 'ASSIGNED');
      expect((await delivery(younger)).status).toBe('PENDING');

      await http().patch(`/deliveries/${older}/status`).set(bearer(driver.token)).send({ status: 'PICKED_UP' }).expect(200);
      await http().patch(`/deliveries/${older}/status`).set(bearer(driver.token)).send({ status: 'DELIVERED' }).expect(200);
      expect(await reaches(younger, 'ASSIGNED')).toMatchObject({ driverId: driver.id });
      await expectNoDoubles();
    });

    it('is EXPIRED, with its webhook, when no driver came within the wait; a later ready starts a new delivery', async () => {
      const id = (await ready('SO-EXPIRE', { maxWaitSeconds: 1 }).expect(200)).body.deliveryId;
      const expired = await reaches(id, 'EXPIRED');
      expect(expired).toMatchObject({ driverId: null, expiredAt: expect.any(String), waitUntil: null });
      expect(await types(id)).toEqual(['pending', 'expired']);
      expect((await webhooks(id)).map((m) => [m.type, m.payload.data.status, m.payload.data.reason])).toEqual([
        ['delivery.pending', 'PENDING', 'NO_DRIVER_AVAILABLE'],
        ['delivery.expired', 'EXPIRED', 'NO_DRIVER_AVAILABLE'],
      ]);
      // Vendure cancelling an expired order is told it already ended.
      expect((await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-EXPIRE' }).expect(409)).body.code).toBe(
        'DELIVERY_ALREADY_FINISHED',
      );
      const driver = await availableDriver();
      const again = await ready('SO-EXPIRE', { maxWaitSeconds: 1 }).expect(200);
      expect(again.body).toMatchObject({ assigned: true, status: 'ASSIGNED', driverId: driver.id });
      expect(again.body.deliveryId).not.toBe(id);
    });

    it('with the defaults (auto, no wait) answers as v1 did and keeps nothing', async () => {
      expect((await ready('SO-V1').expect(200)).body).toEqual({ assigned: false, sellerOrderId: 'SO-V1', reason: 'NO_DRIVER_AVAILABLE' });
      expect((await sql.query(`SELECT count(*)::int AS n FROM deliveries`)).rows[0].n).toBe(0);
    });

    it('Vendure cancels a waiting order: CANCELLED, no driver to free, and no driver gets it afterwards', async () => {
      const id = (await ready('SO-CANCEL-WAIT', { maxWaitSeconds: 600 }).expect(200)).body.deliveryId;
      expect((await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-CANCEL-WAIT' }).expect(200)).body).toEqual({
        cancelled: true,
        deliveryId: id,
      });
      const driver = await availableDriver();
      await t.app.get(Dispatcher).matchDrivers([{ id: driver.id, ...BERLIN }]);
      expect(await delivery(id)).toMatchObject({ status: 'CANCELLED', driverId: null });
      expect(await driverStatus(driver.id)).toBe('AVAILABLE');
    });

    it.each([
      [{ maxWaitSeconds: -1 }, 'maxWaitSeconds'],
      [{ maxWaitSeconds: 86_401 }, 'maxWaitSeconds'],
      [{ maxWaitSeconds: 1.5 }, 'maxWaitSeconds'],
      [{ maxWaitSeconds: '60' }, 'maxWaitSeconds'],
      [{ dispatchMode: 'manual' }, 'dispatchMode'],
      [{ dispatchMode: 'OFFER' }, 'dispatchMode'],
    ])('refuses %j with 400 naming the field, and keeps nothing', async (extra, field) => {
      await availableDriver();
      const response = await ready('SO-BAD', extra).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect((await sql.query(`SELECT count(*)::int AS n FROM deliveries`)).rows[0].n).toBe(0);
    });
  });

  // ---------------------------------------------------------------- offers

  describe('offers', () => {
    it('offers the nearest driver, who sees it in its deliveries and accepts: ASSIGNED; another driver gets 403', async () => {
      const nearest = await availableDriver(north(BERLIN, 0.1));
      const other = await availableDriver(north(BERLIN, 1));
      const answer = await ready('SO-OFFER', { dispatchMode: 'offer' }).expect(200);
      expect(answer.body).toEqual({
        assigned: false,
        status: 'OFFERED',
        sellerOrderId: 'SO-OFFER',
        deliveryId: expect.any(String),
        driverId: nearest.id,
        distanceMeters: expect.any(Number),
        offerExpiresAt: expect.any(String),
      });
      const id = answer.body.deliveryId;
      const offerMs = new Date(answer.body.offerExpiresAt).getTime() - Date.now();
      expect(offerMs).toBeGreaterThan(25_000);
      expect(offerMs).toBeLessThanOrEqual(30_000);
      // Held: BUSY and out of every search.
      expect(await driverStatus(nearest.id)).toBe('BUSY');
      const nearby = await http().get('/drivers/nearby').query(BERLIN).set(admin).expect(200);
      expect(nearby.body.items.map((i: { driver: { id: string } }) => i.driver.id)).toEqual([other.id]);

      const own = await http().get(`/drivers/${nearest.id}/deliveries`).set(bearer(nearest.token)).expect(200);
      expect(own.body).toEqual({
        items: [expect.objectContaining({ id, status: 'OFFERED', offerExpiresAt: answer.body.offerExpiresAt })],
        nextCursor: null,
      });
      await http().get(`/drivers/${nearest.id}/deliveries`).set(bearer(other.token)).expect(403);
      expect((await http().get(`/drivers/${other.id}/deliveries?status=OFFERED`).set(bearer(other.token)).expect(200)).body.items).toEqual(
        [],
      );

      expect((await accept(id, other).expect(403)).body.code).toBe('FORBIDDEN');
      const accepted = await accept(id, nearest).expect(200);
      expect(accepted.body).toMatchObject({
        id,
        status: 'ASSIGNED',
        driverId: nearest.id,
        offerExpiresAt: null,
        assignedAt: expect.any(String),
      });
      // Accepting twice is harmless: no new event.
      await accept(id, nearest).expect(200);
      expect(await types(id)).toEqual(['offered', 'assigned']);
      expect((await webhooks(id)).map((m) => [m.type, m.payload.data.driverId, m.payload.data.attempt])).toEqual([
        ['delivery.offered', nearest.id, 1],
        ['delivery.assigned', nearest.id, 1],
      ]);
      // Nothing left to accept or decline once picked up.
      await http().patch(`/deliveries/${id}/status`).set(bearer(nearest.token)).send({ status: 'PICKED_UP' }).expect(200);
      expect((await decline(id, nearest).expect(409)).body.code).toBe('INVALID_DELIVERY_TRANSITION');
    });

    it('on decline offers the next nearest driver, never the decliner again; with no one left the order waits', async () => {
      const [a, b, c] = [
        await availableDriver(north(BERLIN, 0.1)),
        await availableDriver(north(BERLIN, 1)),
        await availableDriver(north(BERLIN, 2)),
      ];
      const id = (await ready('SO-DECLINE', { dispatchMode: 'offer', maxWaitSeconds: 600 }).expect(200)).body.deliveryId;

      const declined = await decline(id, a, { reason: 'Too far' }).expect(200);
      // The decliner sees the delivery as its decline left it; the order has already gone on.
      expect(declined.body).toMatchObject({ id, status: 'PENDING', driverId: null, attempt: 2 });
      expect(await delivery(id)).toMatchObject({ status: 'OFFERED', driverId: b.id, attempt: 2 });
      expect(await driverStatus(a.id)).toBe('AVAILABLE');
      // Declining again is harmless (and does not show a whom the order went to); accepting what it declined is not possible.
      expect((await decline(id, a).expect(200)).body).toMatchObject({
        id,
        status: 'OFFERED',
        driverId: null,
        distanceMeters: null,
        offerExpiresAt: null,
      });
      expect((await accept(id, a).expect(409)).body.code).toBe('OFFER_NOT_PENDING');

      await decline(id, b).expect(200);
      expect(await delivery(id)).toMatchObject({ status: 'OFFERED', driverId: c.id, attempt: 3 });
      await decline(id, c).expect(200);
      // a, b and c all refused it: it waits, and none of them is offered it again, however they move.
      expect(await delivery(id)).toMatchObject({ status: 'PENDING', attempt: 4 });
      await t.app.get(Dispatcher).matchDrivers([a, b, c].map((d) => ({ id: d.id, ...BERLIN })));
      expect((await delivery(id)).status).toBe('PENDING');

      const events = await trail(id);
      expect(
        events.map((e) => [e.type.replace('delivery.', ''), e.data.driverId ?? e.data.previousDriverId ?? null, e.data.attempt]),
      ).toEqual([
        ['offered', a.id, 1],
        ['pending', a.id, 2],
        ['offered', b.id, 2],
        ['pending', b.id, 3],
        ['offered', c.id, 3],
        ['pending', c.id, 4],
      ]);
      expect(events[1].data.reason).toBe('Too far');
      expect(events[3].data.reason).toBe('DECLINED');
      expect((await webhooks(id)).map((m) => m.payload.data.reason ?? null)).toEqual([null, 'Too far', null, 'DECLINED', null, 'DECLINED']);

      // A fourth driver does get it.
      const d = await availableDriver(north(BERLIN, 3));
      expect(await reaches(id, 'OFFERED')).toMatchObject({ driverId: d.id, attempt: 4 });
      await expectNoDoubles();
    });

    it('an assigned driver may decline before pickup: the order goes to the next driver', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const id = (await ready('SO-DECLINE-ASSIGNED').expect(200)).body.deliveryId;
      await decline(id, a).expect(200);
      expect(await delivery(id)).toMatchObject({ status: 'ASSIGNED', driverId: b.id, attempt: 2 });
      expect(await types(id)).toEqual(['assigned', 'pending', 'assigned']);
      // The first driver's pickup is refused: the delivery is another driver's now.
      expect(
        (await http().patch(`/deliveries/${id}/status`).set(bearer(a.token)).send({ status: 'PICKED_UP' }).expect(409)).body.code,
      ).toBe('DELIVERY_REASSIGNED');
    });

    it('a timed-out offer goes to the next driver; accepting it late is 409 OFFER_EXPIRED; two timeouts in a row set the driver OFFLINE', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const c = await availableDriver(north(BERLIN, 2));
      const first = (await ready('SO-TIMEOUT-1', { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
      await expireOffer(first);
      expect(await offeredTo(first, b)).toMatchObject({ status: 'OFFERED', attempt: 2 });
      expect((await accept(first, a).expect(409)).body.code).toBe('OFFER_EXPIRED');
      expect(await driverStatus(a.id)).toBe('AVAILABLE');
      const events = await trail(first);
      expect(events[1]).toMatchObject({
        type: 'delivery.pending',
        actor: 'dispatcher',
        data: expect.objectContaining({ reason: 'OFFER_TIMEOUT', attempt: 2 }),
      });

      // a is nearest again (b holds the first order): a second timeout in a row.
      const second = (await ready('SO-TIMEOUT-2', { dispatchMode: 'offer' }).expect(200)).body;
      expect(second.driverId).toBe(a.id);
      await expireOffer(second.deliveryId);
      await offeredTo(second.deliveryId, c);
      expect(await driverStatus(a.id)).toBe('OFFLINE');
      await expectNoDoubles();
    });

    it('the driver app backend and operators name the driver they answer for; a late answer changes nothing', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const id = (await ready('SO-NAMED', { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
      // A driver token names only itself.
      expect((await accept(id, a).send({ driverId: b.id }).expect(403)).body.code).toBe('FORBIDDEN');
      await expireOffer(id);
      await offeredTo(id, b);
      // The backend's accept for a, sent before a's offer timed out, arrives late: refused, b's offer stands.
      const late = http().post(`/deliveries/${id}/accept`).set(admin).send({ driverId: a.id });
      expect((await late.expect(409)).body.code).toBe('OFFER_EXPIRED');
      expect((await http().post(`/deliveries/${id}/decline`).set(admin).send({ driverId: a.id }).expect(409)).body.code).toBe(
        'OFFER_EXPIRED',
      );
      expect(await delivery(id)).toMatchObject({ status: 'OFFERED', driverId: b.id });
      // For b it holds.
      expect((await http().post(`/deliveries/${id}/accept`).set(admin).send({ driverId: b.id }).expect(200)).body).toMatchObject({
        status: 'ASSIGNED',
        driverId: b.id,
      });
      expect((await http().post(`/deliveries/${id}/accept`).set(admin).send({ driverId: 'not-a-uuid' }).expect(400)).body.code).toBe(
        'VALIDATION_FAILED',
      );
      // driverId: null is "not given", as for every optional field: b's token accepting again is harmless.
      await accept(id, b).send({ driverId: null }).expect(200);
      expect(await types(id)).toEqual(['offered', 'pending', 'offered', 'assigned']);
    });

    it('declining an offer after it expired is 409 OFFER_EXPIRED, and the timeout counts', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const id = (await ready('SO-LATE-DECLINE', { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
      // Expired, its timer not fired yet.
      await sql.query(`UPDATE deliveries SET offer_expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
      expect((await decline(id, a).expect(409)).body.code).toBe('OFFER_EXPIRED');
      await sql.query(`UPDATE deliveries SET due_at = now() WHERE id = $1`, [id]);
      await offeredTo(id, b);
      expect((await trail(id))[1].data).toMatchObject({ reason: 'OFFER_TIMEOUT' });
      expect((await sql.query(`SELECT offer_timeouts_in_a_row AS n FROM drivers WHERE id = $1`, [a.id])).rows[0].n).toBe(1);
      // Going AVAILABLE again starts the run again.
      await http().patch(`/drivers/${a.id}/status`).set(bearer(a.token)).send({ status: 'AVAILABLE' }).expect(200);
      expect((await sql.query(`SELECT offer_timeouts_in_a_row AS n FROM drivers WHERE id = $1`, [a.id])).rows[0].n).toBe(0);
    });

    it('never offers an order again to a driver who refused it, not even on a later delivery of the order', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const first = (await ready('SO-REFUSED', { dispatchMode: 'offer', maxWaitSeconds: 1 }).expect(200)).body.deliveryId;
      await decline(first, a).expect(200);
      // Its wait ends with no one else in reach.
      await sql.query(`UPDATE deliveries SET wait_until = now(), due_at = now() WHERE id = $1`, [first]);
      await reaches(first, 'EXPIRED');
      // Vendure sends the order again: a new delivery, but a is still the driver who declined it.
      const again = await ready('SO-REFUSED', { dispatchMode: 'offer', maxWaitSeconds: 600 }).expect(200);
      expect(again.body).toMatchObject({ status: 'PENDING' });
      expect(again.body.deliveryId).not.toBe(first);
      await t.app.get(Dispatcher).matchDrivers([{ id: a.id, ...BERLIN }]);
      expect((await delivery(again.body.deliveryId)).status).toBe('PENDING');
      const b = await availableDriver(north(BERLIN, 2));
      await offeredTo(again.body.deliveryId, b);
    });

    it('an answered offer starts the run of timeouts again', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 5));
      const first = (await ready('SO-RUN-1', { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
      await expireOffer(first);
      await offeredTo(first, b);
      const second = (await ready('SO-RUN-2', { dispatchMode: 'offer' }).expect(200)).body;
      expect(second.driverId).toBe(a.id);
      await decline(second.deliveryId, a).expect(200);
      const third = (await ready('SO-RUN-3', { dispatchMode: 'offer' }).expect(200)).body;
      expect(third.driverId).toBe(a.id);
      await expireOffer(third.deliveryId);
      // b holds the first order: no one is left for the third, which waits (or expires: no wait was given).
      await eventually(async () => (await delivery(third.deliveryId)).driverId !== a.id, { what: 'the third offer to time out' });
      expect(await driverStatus(a.id)).toBe('AVAILABLE');
    });

    it('answers 404 for an unknown delivery, 400 for a bad id or an unknown field, 409 OFFER_NOT_PENDING with no offer', async () => {
      const a = await availableDriver();
      await http().post(`/deliveries/00000000-0000-4000-8000-000000000000/accept`).set(admin).expect(404);
      await http().post(`/deliveries/not-a-uuid/decline`).set(admin).send({}).expect(400);
      const id = (await ready('SO-NO-OFFER').expect(200)).body.deliveryId;
      expect((await decline(id, a, { why: 'x' }).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await decline(id, a, { reason: 'x'.repeat(501) }).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await accept(id, a).expect(409)).body.code).toBe('OFFER_NOT_PENDING');
      expect(await types(id)).toEqual(['assigned']);
      await http().post(`/deliveries/${id}/accept`).expect(401);
    });
  });

  // ---------------------------------------------------------------- reassignment

  describe('reassignment', () => {
    it('an operator reassigns an assigned delivery: the driver is freed, the next one gets it, with reason and attempt', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const id = (await ready('SO-REASSIGN').expect(200)).body.deliveryId;
      expect((await http().post(`/deliveries/${id}/reassign`).set(bearer(a.token)).send({}).expect(403)).body.code).toBe('FORBIDDEN');
      const moved = await http().post(`/deliveries/${id}/reassign`).set(admin).send({ reason: 'Vehicle broke down' }).expect(200);
      expect(moved.body).toMatchObject({ id, status: 'ASSIGNED', driverId: b.id, attempt: 2 });
      expect(await driverStatus(a.id)).toBe('AVAILABLE');
      expect((await webhooks(id)).map((m) => [m.type, m.payload.data.reason ?? null, m.payload.data.attempt])).toEqual([
        ['delivery.assigned', null, 1],
        ['delivery.pending', 'Vehicle broke down', 2],
        ['delivery.assigned', null, 2],
      ]);
      // Once picked up it is the driver's to finish.
      await http().patch(`/deliveries/${id}/status`).set(bearer(b.token)).send({ status: 'PICKED_UP' }).expect(200);
      expect((await http().post(`/deliveries/${id}/reassign`).set(admin).send({}).expect(409)).body.code).toBe(
        'INVALID_DELIVERY_TRANSITION',
      );
      await expectNoDoubles();
    });

    it('a lost driver (heartbeat stale for DRIVER_LOST_SECONDS before pickup) is reassigned; its later pickup gets 409', async () => {
      const a = await availableDriver(north(BERLIN, 0.1));
      const b = await availableDriver(north(BERLIN, 1));
      const id = (await ready('SO-LOST').expect(200)).body.deliveryId;
      // a stops pinging: its last heartbeat is 61 s old (DRIVER_LOST_SECONDS is 60 here).
      await sql.query(`UPDATE drivers SET last_seen_at = now() - interval '61 seconds' WHERE id = $1`, [a.id]);
      await eventually(async () => (await delivery(id)).driverId === b.id, { what: 'b to get the order', timeoutMs: 20_000 });
      const events = await trail(id);
      expect(events[1]).toMatchObject({
        type: 'delivery.pending',
        actor: 'dispatcher',
        data: expect.objectContaining({ reason: 'DRIVER_LOST', attempt: 2 }),
      });
      expect(
        (await http().patch(`/deliveries/${id}/status`).set(bearer(a.token)).send({ status: 'PICKED_UP' }).expect(409)).body.code,
      ).toBe('DELIVERY_REASSIGNED');
      // A driver that stopped pinging after pickup is not lost: it has the goods. Another, assigned and
      // silent, shows when a check has run since.
      await http().patch(`/deliveries/${id}/status`).set(bearer(b.token)).send({ status: 'PICKED_UP' }).expect(200);
      const c = await availableDriver(north(BERLIN, 2));
      const other = (await ready('SO-LOST-2').expect(200)).body.deliveryId;
      expect((await delivery(other)).driverId).toBe(c.id);
      await sql.query(`UPDATE drivers SET last_seen_at = now() - interval '61 seconds' WHERE id = ANY($1::uuid[])`, [[b.id, c.id]]);
      await eventually(async () => (await types(other)).includes('pending') || undefined, {
        what: "c's order to be taken off it",
        timeoutMs: 20_000,
      });
      expect(await delivery(id)).toMatchObject({ status: 'PICKED_UP', driverId: b.id });
    });
  });

  // ---------------------------------------------------------------- races

  describe('races: exactly one outcome wins', () => {
    it('accept against the offer timing out, on the same offer', async () => {
      for (let round = 0; round < 12; round++) {
        await env.reset();
        const a = await availableDriver(north(BERLIN, 0.1));
        await availableDriver(north(BERLIN, 1));
        const id = (await ready(`SO-RACE-TIMEOUT-${round}`, { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
        // The deadline falls within a few milliseconds of the accept, on either side.
        await sql.query(
          `UPDATE deliveries SET offer_expires_at = now() + make_interval(secs => $2), due_at = now() + make_interval(secs => $2) WHERE id = $1`,
          [id, (round % 4) * 0.004],
        );
        const [answer] = await Promise.all([accept(id, a), t.app.get(DispatchTimers).sweep()]);
        const events = await types(id);
        if (answer.status === 200) expect(events).toEqual(['offered', 'assigned']);
        else {
          // The accept came after the deadline: refused, and the timer (fired already, or due) moves the order on.
          expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 409, code: 'OFFER_EXPIRED' });
          await eventually(async () => (await delivery(id)).driverId !== a.id, { what: 'the offer to time out' });
          expect((await types(id)).slice(0, 2)).toEqual(['offered', 'pending']);
          expect(events.filter((e) => e === 'assigned')).toEqual([]);
        }
        await expectNoDoubles();
      }
    });

    it('accept against reassign', async () => {
      for (let round = 0; round < 8; round++) {
        await env.reset();
        const a = await availableDriver(north(BERLIN, 0.1));
        await availableDriver(north(BERLIN, 1));
        const id = (await ready(`SO-RACE-REASSIGN-${round}`, { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
        const [accepted, reassigned] = await Promise.all([accept(id, a), http().post(`/deliveries/${id}/reassign`).set(admin).send({})]);
        expect(reassigned.status).toBe(200);
        const events = await trail(id);
        const acceptedByA = events.some((e) => e.type === 'delivery.assigned' && e.actor === `driver:${a.id}`);
        // The accept won (then the reassignment took it from a) or the reassignment did (and the accept found no offer).
        expect(accepted.status === 200).toBe(acceptedByA);
        if (!acceptedByA) expect(accepted.body.code).toBe('OFFER_NOT_PENDING');
        expect(events.filter((e) => e.type === 'delivery.pending')).toHaveLength(1);
        expect(await driverStatus(a.id)).toBe('AVAILABLE');
        await expectNoDoubles();
      }
    });

    it('decline against concurrent repeats of the ready event', async () => {
      for (let round = 0; round < 6; round++) {
        await env.reset();
        const a = await availableDriver(north(BERLIN, 0.1));
        const b = await availableDriver(north(BERLIN, 1));
        const order = `SO-RACE-DECLINE-${round}`;
        const id = (await ready(order, { dispatchMode: 'offer' }).expect(200)).body.deliveryId;
        const [declined, ...repeats] = await Promise.all([
          decline(id, a),
          ...Array.from({ length: 6 }, () => ready(order, { dispatchMode: 'offer' })),
        ]);
        expect(declined.status).toBe(200);
        for (const repeat of repeats) {
          expect(repeat.status).toBe(200);
          expect(repeat.body.deliveryId).toBe(id);
          expect(['OFFERED', 'PENDING']).toContain(repeat.body.status);
        }
        expect(await delivery(id)).toMatchObject({ status: 'OFFERED', driverId: b.id });
        expect((await sql.query(`SELECT count(*)::int AS n FROM deliveries WHERE seller_order_id = $1`, [order])).rows[0].n).toBe(1);
        expect((await trail(id)).filter((e) => e.type === 'delivery.offered' && e.data.driverId === a.id)).toHaveLength(1);
        await expectNoDoubles();
      }
    });

    it('100 waiting orders against 30 drivers going AVAILABLE at once: the 30 oldest orders get 30 different drivers', async () => {
      const pickups = scatter(100, BERLIN, 4);
      const ids: string[] = [];
      for (let i = 0; i < pickups.length; i++) {
        ids.push((await ready(`SO-CROWD-${String(i).padStart(3, '0')}`, { maxWaitSeconds: 600 }, pickups[i]).expect(200)).body.deliveryId);
      }
      const drivers = await insertDrivers(sql, scatter(30, BERLIN, 3), { status: 'OFFLINE' });
      await Promise.all(drivers.map((d) => http().patch(`/drivers/${d.id}/status`).set(admin).send({ status: 'AVAILABLE' }).expect(200)));
      const assigned = await eventually(
        async () => {
          const { rows } = await sql.query(`SELECT id, driver_id FROM deliveries WHERE status = 'ASSIGNED'`);
          return rows.length === 30 ? rows : undefined;
        },
        { what: '30 orders assigned' },
      );
      expect(new Set(assigned.map((r) => r.driver_id)).size).toBe(30);
      expect(assigned.map((r) => r.id).sort()).toEqual(ids.slice(0, 30).sort());
      expect((await sql.query(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'PENDING'`)).rows[0].n).toBe(70);
      expect((await sql.query(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).rows[0].n).toBe(30);
      await expectNoDoubles();
    });
  });
});
