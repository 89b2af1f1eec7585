import { beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { CreatedDriver, newDriver } from './support/factories.js';
import { servedRoutes } from './support/routes.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { Webhook } from 'standardwebhooks';
import { admin, bearer, DRIVER_SECRET, startTestApp, VENDURE_SECRET } from './support/test-app.js';

const PICKUP = { lat: 52.52, lon: 13.405 };
const SOME_ID = '00000000-0000-4000-8000-000000000001';

/**
 * The OWASP API Security Top 10 (2023) checks that apply to this service.
 * Rate limits (API4) are in rate-limits.e2e-spec.ts, secrets in logs in
 * logging.e2e-spec.ts, hostile input (API8, API10) in fuzz.e2e-spec.ts.
 * Each refused request is also shown to have changed nothing.
 */
describe('security: OWASP API Security Top 10', () => {
  const env = useServiceEnvironment('security');
  const http = () => request(env.t.server);
  let a: CreatedDriver;
  let b: CreatedDriver;
  /** b's live delivery. */
  let deliveryId: string;

  beforeEach(async () => {
    await env.reset();
    [a, b] = [await newDriver(env.t), await newDriver(env.t)];
    await http().patch(`/drivers/${b.id}/location`).set(bearer(b.token)).send(PICKUP).expect(200);
    await http().patch(`/drivers/${b.id}/status`).set(bearer(b.token)).send({ status: 'AVAILABLE' }).expect(200);
    const assigned = await sendReady({ sellerOrderId: 'SEC-1', pickupLat: PICKUP.lat, pickupLon: PICKUP.lon }).expect(200);
    expect(assigned.body).toMatchObject({ assigned: true, driverId: b.id });
    deliveryId = assigned.body.deliveryId;
  });

  /** Everything a refused request could have touched, in PostgreSQL and Redis. */
  async function snapshot(): Promise<string> {
    const tables = await env.sql.query(`
      SELECT (SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY id), '')) FROM drivers d) AS drivers,
             (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM deliveries x) AS deliveries,
             (SELECT count(*) FROM delivery_events) AS events,
             (SELECT count(*) FROM webhook_messages) AS messages`);
    const redis = await Promise.all([
      env.redis.zrange('drivers:geo', 0, -1),
      env.redis.hgetall('drivers:location'),
      env.redis.hgetall('drivers:status'),
      env.redis.hgetall('drivers:profile'),
    ]);
    return JSON.stringify([tables.rows[0], redis]);
  }

  function sendReady(body: object, options: { secret?: string; at?: Date; id?: string; tamper?: (raw: string) => string } = {}) {
    const raw = JSON.stringify(body);
    const headers = signedHeaders(options.secret ?? VENDURE_SECRET, raw, { at: options.at, id: options.id });
    return http()
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...headers })
      .send(options.tamper ? options.tamper(raw) : raw);
  }

  describe('API1 broken object level authorization: a driver token acts only on its own driver and deliveries', () => {
    it.each([
      ['location', 'PATCH', (id: string) => `/drivers/${id}/location`, PICKUP],
      ['status', 'PATCH', (id: string) => `/drivers/${id}/status`, { status: 'OFFLINE' }],
      ['record', 'GET', (id: string) => `/drivers/${id}`, undefined],
    ])("another driver's %s: 403, nothing changed", async (_, method, path, body) => {
      const before = await snapshot();
      const call = method === 'GET' ? http().get(path(b.id)) : http().patch(path(b.id)).send(body);
      const answer = await call.set(bearer(a.token)).expect(403);
      expect(answer.body.code).toBe('FORBIDDEN');
      expect(await snapshot()).toBe(before);
    });

    it("another driver's delivery, its audit trail and its status: 403, nothing changed", async () => {
      const before = await snapshot();
      await http().get(`/deliveries/${deliveryId}`).set(bearer(a.token)).expect(403);
      await http().get(`/deliveries/${deliveryId}/events`).set(bearer(a.token)).expect(403);
      for (const status of ['PICKED_UP', 'DELIVERED', 'FAILED']) {
        await http().patch(`/deliveries/${deliveryId}/status`).set(bearer(a.token)).send({ status }).expect(403);
      }
      expect(await snapshot()).toBe(before);
      // Its own driver may.
      await http().get(`/deliveries/${deliveryId}`).set(bearer(b.token)).expect(200);
    });
  });

  describe('API5 broken function level authorization: every operator-only route refuses other callers', () => {
    const adminOnly = () => servedRoutes(env.t.app).filter((route) => Array.isArray(route.callers) && route.callers.join() === 'admin');

    it('there are operator-only routes to check', () => {
      expect(adminOnly().map((route) => `${route.method} ${route.path}`)).toEqual(
        expect.arrayContaining(['POST /drivers', 'GET /drivers', 'GET /drivers/nearby', 'GET /deliveries', 'GET /webhooks/messages']),
      );
    });

    it("a driver's token gets 403 and a driver-backend or Vendure signature 401 on each, and nothing changes", async () => {
      const before = await snapshot();
      for (const route of adminOnly()) {
        const path = route.path.replace(/:id/g, route.path.startsWith('/drivers') ? a.id : SOME_ID);
        const call = (headers: Record<string, string>) => {
          const sent = http()[route.method.toLowerCase() as 'get' | 'post' | 'patch'](path);
          return sent.set({ 'content-type': 'application/json', ...headers }).send('{}');
        };
        expect({ route: path, status: (await call(bearer(a.token))).status }).toEqual({ route: path, status: 403 });
        for (const secret of [DRIVER_SECRET, VENDURE_SECRET]) {
          expect({ route: path, status: (await call(signedHeaders(secret, '{}'))).status }).toEqual({ route: path, status: 401 });
        }
      }
      expect(await snapshot()).toBe(before);
    });

    it('a driver may not cancel its own delivery, nor send Vendure events', async () => {
      const before = await snapshot();
      await http().patch(`/deliveries/${deliveryId}/status`).set(bearer(b.token)).send({ status: 'CANCELLED' }).expect(403);
      await http().post('/events/seller-order-cancelled').set(bearer(b.token)).send({ sellerOrderId: 'SEC-1' }).expect(403);
      expect(await snapshot()).toBe(before);
    });
  });

  describe('API2 broken authentication: signed events that are stale, tampered, replayed or signed with another key', () => {
    const order = { sellerOrderId: 'SEC-2', pickupLat: PICKUP.lat, pickupLon: PICKUP.lon };
    const minutes = (n: number) => new Date(Date.now() + n * 60_000);

    it.each([
      ['six minutes old', { at: minutes(-6) }],
      ['six minutes ahead', { at: minutes(6) }],
      ['a tampered body', { tamper: (raw: string) => raw.replace('SEC-2', 'SEC-3') }],
      ['a wrong secret', { secret: `whsec_${Buffer.alloc(32, 9).toString('base64')}` }],
      ['the driver-backend secret', { secret: DRIVER_SECRET }],
    ])('%s: 401, nothing assigned', async (_, options) => {
      const before = await snapshot();
      const answer = await sendReady(order, options).expect(401);
      expect(answer.body.code).toBe('UNAUTHENTICATED');
      expect(await snapshot()).toBe(before);
    });

    it('a replayed id with a re-signed, different body: 409 WEBHOOK_ID_REUSED, nothing assigned', async () => {
      await http().patch(`/drivers/${a.id}/location`).set(bearer(a.token)).send(PICKUP).expect(200);
      await http().patch(`/drivers/${a.id}/status`).set(bearer(a.token)).send({ status: 'AVAILABLE' }).expect(200);
      await sendReady(order, { id: 'msg_replayed' }).expect(200);
      const before = await snapshot();
      const answer = await sendReady({ ...order, sellerOrderId: 'SEC-9' }, { id: 'msg_replayed' }).expect(409);
      expect(answer.body.code).toBe('WEBHOOK_ID_REUSED');
      expect(await snapshot()).toBe(before);
    });
  });

  describe('API2: a signed request bound to its route by webhook-target-signature', () => {
    /** The driver app backend's signed location update, its route signed with a stock Standard Webhooks library. */
    function backendPing(driverId: string, signedFor: string, point: { lat: number; lon: number }) {
      const body = JSON.stringify(point);
      const headers = signedHeaders(DRIVER_SECRET, body);
      const at = new Date(Number(headers['webhook-timestamp']) * 1000);
      const target = new Webhook(DRIVER_SECRET).sign(headers['webhook-id'], at, `PATCH /drivers/${signedFor}/location`);
      return http()
        .patch(`/drivers/${driverId}/location`)
        .set({ 'content-type': 'application/json', ...headers, 'webhook-target-signature': target })
        .send(body);
    }
    const located = async (id: string) => (await http().get(`/drivers/${id}`).set(admin).expect(200)).body.lastLocation;

    it('is accepted on the route it names', async () => {
      await backendPing(a.id, a.id, { lat: 52.53, lon: 13.41 }).expect(200);
      expect(await located(a.id)).toMatchObject({ lat: 52.53, lon: 13.41 });
    });

    it('sent to another driver before its first use: 401, that driver does not move', async () => {
      const before = await located(b.id);
      const answer = await backendPing(b.id, a.id, { lat: 48.1, lon: 11.6 }).expect(401);
      expect(answer.body).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('webhook-target-signature') });
      expect(await located(b.id)).toEqual(before);
    });

    it('is required with SIGNED_TARGET=required: a request signed over its body alone gets 401', async () => {
      const strict = await startTestApp({ DATABASE_URL: env.database.url, SIGNED_TARGET: 'required' });
      try {
        const body = JSON.stringify({ lat: 52.5, lon: 13.4 });
        const answer = await request(strict.server)
          .patch(`/drivers/${a.id}/location`)
          .set({ 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body) })
          .send(body)
          .expect(401);
        expect(answer.body.message).toContain('Missing webhook-target-signature');
      } finally {
        await strict.close();
      }
    });
  });

  describe('API3 broken object property level authorization: no mass assignment', () => {
    it.each([
      ['a location update', 'status', (d: CreatedDriver) => `/drivers/${d.id}/location`, { ...PICKUP, status: 'AVAILABLE' }],
      ['a location update', 'driverId', (d: CreatedDriver) => `/drivers/${d.id}/location`, { ...PICKUP, driverId: SOME_ID }],
      ['a location update', 'isActive', (d: CreatedDriver) => `/drivers/${d.id}/location`, { ...PICKUP, isActive: false }],
      ['a status change', 'isActive', (d: CreatedDriver) => `/drivers/${d.id}/status`, { status: 'AVAILABLE', isActive: false }],
    ])('%s carrying %s: 400 naming the field, nothing changed', async (_, field, path, body) => {
      const before = await snapshot();
      const answer = await http().patch(path(a)).set(bearer(a.token)).send(body).expect(400);
      expect(answer.body.code).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(answer.body.message)).toContain(field);
      expect(await snapshot()).toBe(before);
    });

    it.each([{ status: 'BUSY' }, { id: SOME_ID }, { tokenHash: 'x' }, { stateVersion: 99 }])(
      'an operator update of %j: 400, nothing changed',
      async (body) => {
        const before = await snapshot();
        await http().patch(`/drivers/${a.id}`).set(admin).send(body).expect(400);
        expect(await snapshot()).toBe(before);
      },
    );

    it('a delivery status change carrying driverId, and a ready event carrying driverId or status: 400, nothing changed', async () => {
      const before = await snapshot();
      await http().patch(`/deliveries/${deliveryId}/status`).set(bearer(b.token)).send({ status: 'PICKED_UP', driverId: a.id }).expect(400);
      await sendReady({ sellerOrderId: 'SEC-4', pickupLat: PICKUP.lat, pickupLon: PICKUP.lon, driverId: a.id }).expect(400);
      await sendReady({ sellerOrderId: 'SEC-5', pickupLat: PICKUP.lat, pickupLon: PICKUP.lon, status: 'DELIVERED' }).expect(400);
      expect(await snapshot()).toBe(before);
    });
  });
});
