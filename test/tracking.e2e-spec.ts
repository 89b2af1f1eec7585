import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import request from 'supertest';
import { haversineMeters } from '../src/availability/geo.js';
import { LocationWriter } from '../src/availability/location-writer.js';
import { TrackingFeed } from '../src/tracking/tracking-feed.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { servedRoutes } from './support/routes.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { SseClient } from './support/sse-client.js';
import { admin, bearer, DRIVER_SECRET, TestApp, VENDURE_SECRET } from './support/test-app.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

const PICKUP = { lat: 52.52, lon: 13.405 };
const DROPOFF = { lat: 52.5, lon: 13.44 };
const START = { lat: 52.51, lon: 13.39 };
const TOKEN = /^trk_[A-Za-z0-9_-]{43}$/;
/** ETA_SPEEDS_KMH's default for bicycles, in metres per second. */
const BICYCLE_MPS = 15 / 3.6;

type Point = { lat: number; lon: number };
const etaOf = (from: Point, to: Point) => Math.ceil(haversineMeters(from.lat, from.lon, to.lat, to.lon) / BICYCLE_MPS);

/**
 * Live tracking (contract v2, "Live tracking and ETA"): tracking links, what
 * a token shows and opens, the Server-Sent Events stream (order, positions,
 * resumption, limits, leaks) and the ETA in delivery webhooks. Real
 * PostgreSQL, a private redis-server, the service listening on a port of its
 * own (streams are read as a browser reads them).
 */
describe('live tracking: links, the view, the event stream, ETAs', () => {
  const receiver = new WebhookReceiver();
  const trackingEnv: Record<string, string> = {
    TRACKING_MAX_STREAMS_PER_LINK: '2',
    TRACKING_HEARTBEAT_SECONDS: '1',
    // The test moves drivers kilometres in a moment.
    LOCATION_MAX_SPEED_KMH: '0',
    WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.1,0.1,0.1',
  };
  beforeAll(async () => {
    await receiver.start();
    trackingEnv.VENDURE_WEBHOOK_URL = receiver.url;
  });
  const env = useServiceEnvironment('tracking', trackingEnv);
  afterAll(() => receiver.close());

  let sql: pg.Client;
  let t: TestApp;
  let base: string;
  const http = () => request(t.server);
  beforeAll(async () => {
    ({ sql, t } = env);
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}`;
  });

  const streams: SseClient[] = [];
  beforeEach(async () => {
    await env.reset();
    await sql.query('TRUNCATE tracking_links');
    receiver.reset();
  });
  afterEach(() => streams.splice(0).forEach((stream) => stream.close()));

  // ---------------------------------------------------------------- helpers

  const ping = (driver: CreatedDriver, point: Point, recordedAt?: Date) =>
    http()
      .patch(`/drivers/${driver.id}/location`)
      .set(bearer(driver.token))
      .send({ ...point, ...(recordedAt ? { recordedAt: recordedAt.toISOString() } : {}) })
      .expect(200);

  /** A cyclist called Ada Lovelace at START, assigned an order from PICKUP to DROPOFF. */
  async function assigned(sellerOrderId = 'TRK-1') {
    const driver = await newDriver(t, { name: 'Ada  Lovelace', vehicleType: 'bicycle' });
    await ping(driver, START);
    await http().patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    const { body } = await sendEvent(t, 'seller-order-ready', {
      sellerOrderId,
      pickupLat: PICKUP.lat,
      pickupLon: PICKUP.lon,
      dropoffLat: DROPOFF.lat,
      dropoffLon: DROPOFF.lon,
    }).expect(200);
    expect(body).toMatchObject({ assigned: true, driverId: driver.id });
    return { driver, deliveryId: body.deliveryId as string };
  }

  async function linkFor(deliveryId: string): Promise<{ token: string; url: string; expiresAt: string | null }> {
    const { body } = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(admin).send({}).expect(201);
    return body;
  }

  const move = (driver: CreatedDriver, deliveryId: string, status: string) =>
    http().patch(`/deliveries/${deliveryId}/status`).set(bearer(driver.token)).send({ status }).expect(200);

  async function stream(token: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await SseClient.open(`${base}/track/${token}/events`, headers);
    streams.push(client);
    return client;
  }

  const metric = async (name: string) => {
    const { text } = await http().get('/metrics').expect(200);
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  // ---------------------------------------------------------------- links

  describe('links', () => {
    it("an operator's link reads the delivery: first name, vehicle, position, ETA to the pickup; no phone, no driver id", async () => {
      const { driver, deliveryId } = await assigned();
      const link = await linkFor(deliveryId);
      expect(link.token).toMatch(TOKEN);
      expect(link).toEqual({ token: link.token, url: `http://localhost:3001/track/${link.token}/page`, expiresAt: null });

      const response = await http().get(`/track/${link.token}`).expect(200);
      expect(response.headers['cache-control']).toBe('no-store');
      const view = response.body;
      expect(Object.keys(view).sort()).toEqual(['driver', 'dropoff', 'etaSeconds', 'pickup', 'position', 'status', 'updatedAt']);
      expect(view).toMatchObject({
        status: 'ASSIGNED',
        driver: { name: 'Ada', vehicleType: 'bicycle' },
        position: { lat: START.lat, lon: START.lon },
        etaSeconds: etaOf(START, PICKUP),
        pickup: PICKUP,
        dropoff: DROPOFF,
      });
      expect(Object.keys(view.driver).sort()).toEqual(['name', 'vehicleType']);
      const text = JSON.stringify(view);
      expect(text).not.toContain(driver.id);
      expect(text).not.toContain(String(driver.body.phone));
      expect(text).not.toContain(deliveryId);

      // Only the token's SHA-256 is kept.
      const { rows } = await sql.query('SELECT * FROM tracking_links');
      expect(rows).toHaveLength(1);
      expect(rows[0].token_hash).toBe(createHash('sha256').update(link.token).digest('hex'));
      expect(JSON.stringify(rows)).not.toContain(link.token.slice(4));
    });

    it('picked up, the ETA is to the drop-off; delivered, there is no position and no ETA', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      await move(driver, deliveryId, 'PICKED_UP');
      await ping(driver, PICKUP);
      await eventually(async () => (await http().get(`/track/${token}`)).body.position?.lat === PICKUP.lat, { what: 'the new position' });
      expect((await http().get(`/track/${token}`).expect(200)).body).toMatchObject({
        status: 'PICKED_UP',
        etaSeconds: etaOf(PICKUP, DROPOFF),
      });
      await move(driver, deliveryId, 'DELIVERED');
      expect((await http().get(`/track/${token}`).expect(200)).body).toMatchObject({
        status: 'DELIVERED',
        position: null,
        etaSeconds: null,
        driver: { name: 'Ada' },
      });
    });

    it('Vendure signs for a link: the same message again gets the same link, and no receipt holds the token', async () => {
      const { deliveryId } = await assigned();
      const headers = { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, '{}') };
      const first = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(headers).send('{}').expect(201);
      const again = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(headers).send('{}').expect(201);
      expect(first.body.token).toMatch(TOKEN);
      expect(again.body).toEqual(first.body);
      expect((await sql.query('SELECT count(*)::int AS n FROM tracking_links')).rows[0].n).toBe(1);
      const receipts = await sql.query(
        `SELECT response::text AS response, status_code FROM webhook_receipts WHERE target LIKE '%tracking-links'`,
      );
      expect(receipts.rows).toEqual([{ response: 'null', status_code: 201 }]);

      const other = { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, '{}') };
      const second = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(other).send('{}').expect(201);
      expect(second.body.token).not.toBe(first.body.token);
      await http().get(`/track/${first.body.token}`).expect(200);
      await http().get(`/track/${second.body.token}`).expect(200);
    });

    it('only operators and Vendure make links; bad input is a clear 4xx and stores nothing', async () => {
      const { driver, deliveryId } = await assigned();
      const post = (id: string) => http().post(`/deliveries/${id}/tracking-links`);
      await post(deliveryId).send({}).expect(401);
      await post(deliveryId).set(bearer(driver.token)).send({}).expect(403);
      const backend = { 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, '{}') };
      await post(deliveryId).set(backend).send('{}').expect(401);
      expect((await post('00000000-0000-4000-8000-000000000000').set(admin).send({}).expect(404)).body.code).toBe('DELIVERY_NOT_FOUND');
      expect((await post('not-a-uuid').set(admin).send({}).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await post(deliveryId).set(admin).send({ ttl: 5 }).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await sql.query('SELECT count(*)::int AS n FROM tracking_links')).rows[0].n).toBe(0);
      // No body at all is an empty request.
      await post(deliveryId).set(admin).expect(201);
    });

    it('a link works until TRACKING_LINK_TTL_SECONDS after the delivery ends, then every route of it is 404', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      await move(driver, deliveryId, 'PICKED_UP');
      await move(driver, deliveryId, 'DELIVERED');
      const late = await linkFor(deliveryId);
      const { rows } = await sql.query(`SELECT delivered_at FROM deliveries WHERE id = $1`, [deliveryId]);
      expect(new Date(late.expiresAt!).getTime()).toBe(new Date(rows[0].delivered_at).getTime() + 3_600_000);
      await http().get(`/track/${token}`).expect(200);
      await http().get(`/track/${token}/page`).expect(200);

      // The delivery ended an hour and a second ago.
      await sql.query(`UPDATE deliveries SET delivered_at = now() - interval '3601 seconds' WHERE id = $1`, [deliveryId]);
      for (const path of [`/track/${token}`, `/track/${token}/page`, `/track/${token}/events`]) {
        const response = await http().get(path).expect(404);
        expect({ path, code: response.body.code }).toEqual({ path, code: 'TRACKING_LINK_NOT_FOUND' });
      }
      const refused = await http().post(`/deliveries/${deliveryId}/tracking-links`).set(admin).send({}).expect(409);
      expect(refused.body.code).toBe('DELIVERY_ALREADY_FINISHED');
    });

    it('a random or malformed token is 404, on the view, the stream and the page', async () => {
      const { deliveryId } = await assigned();
      await linkFor(deliveryId);
      const random = `trk_${Buffer.alloc(32, 7).toString('base64url')}`;
      for (const token of [random, 'nope', 'trk_', `${random}x`, encodeURIComponent('../drivers')]) {
        for (const suffix of ['', '/events', '/page']) {
          const response = await http().get(`/track/${token}${suffix}`);
          expect({ token, suffix, status: response.status, code: response.body.code }).toEqual({
            token,
            suffix,
            status: 404,
            code: 'TRACKING_LINK_NOT_FOUND',
          });
        }
      }
    });

    it('the token opens nothing else: every other route answers 401 to it, and nothing changes', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      const before = JSON.stringify(
        (await sql.query('SELECT status, driver_id FROM deliveries UNION ALL SELECT status, id FROM drivers ORDER BY 1, 2')).rows,
      );
      const guarded = servedRoutes(t.app).filter((route) => route.callers !== 'public');
      expect(guarded.length).toBeGreaterThan(20);
      for (const route of guarded) {
        const path = route.path.replace(/:id/g, route.path.startsWith('/drivers') ? driver.id : deliveryId);
        const sent = http()[route.method.toLowerCase() as 'get' | 'post' | 'patch'](path);
        const response = await sent.set({ 'content-type': 'application/json', ...bearer(token) }).send('{}');
        expect({ route: `${route.method} ${route.path}`, status: response.status }).toEqual({
          route: `${route.method} ${route.path}`,
          status: 401,
        });
      }
      const after = JSON.stringify(
        (await sql.query('SELECT status, driver_id FROM deliveries UNION ALL SELECT status, id FROM drivers ORDER BY 1, 2')).rows,
      );
      expect(after).toBe(before);
    });
  });

  // ---------------------------------------------------------------- stream

  describe('the event stream', () => {
    it('connect, move, pick up, deliver: every status in order, positions while on the way, heartbeats, then the end', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      const events = await stream(token);
      expect(events.status).toBe(200);
      expect(events.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(events.headers['cache-control']).toBe('no-store');
      expect(events.headers['x-request-id']).toBeDefined();

      await events.waitForStatus('ASSIGNED');
      await events.waitFor((e) => e.type === 'position' && e.data.lat === START.lat, 'the first position');
      await ping(driver, { lat: 52.515, lon: 13.4 });
      const moved = await events.waitFor((e) => e.type === 'position' && e.data.lat === 52.515, 'the moved position');
      expect(moved.data).toMatchObject({ lon: 13.4, etaSeconds: etaOf({ lat: 52.515, lon: 13.4 }, PICKUP) });
      await move(driver, deliveryId, 'PICKED_UP');
      await events.waitForStatus('PICKED_UP');
      await ping(driver, { lat: 52.512, lon: 13.42 });
      const carried = await events.waitFor((e) => e.type === 'position' && e.data.lat === 52.512, 'a position on the way to the drop-off');
      expect(carried.data.etaSeconds).toBe(etaOf({ lat: 52.512, lon: 13.42 }, DROPOFF));
      await events.waitFor(() => events.comments.includes('keep-alive'), 'a heartbeat comment');
      await move(driver, deliveryId, 'DELIVERED');
      await events.waitFor((e) => e.type === 'end', 'the end event');
      await eventually(() => events.ended, { what: 'the stream to close' });

      expect(events.statuses()).toEqual(['ASSIGNED', 'PICKED_UP', 'DELIVERED']);
      const ids = events.ofType('status').map((e) => Number(e.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      expect(new Set(ids).size).toBe(3);
      // Positions only between ASSIGNED and DELIVERED; none after.
      const delivered = events.events.findIndex((e) => e.type === 'status' && e.data.status === 'DELIVERED');
      expect(events.events.slice(delivered).map((e) => e.type)).toEqual(['status', 'end']);

      // The client saw the end: reconnecting gets 204, which stops an EventSource.
      const again = await stream(token, { 'last-event-id': String(ids[2]) });
      expect(again.status).toBe(204);
    });

    it('positions: at most one a second, the latest one last', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      const events = await stream(token);
      await events.waitFor((e) => e.type === 'position', 'the first position');
      // Twelve points over three seconds: four a second.
      const t0 = Date.now();
      for (let i = 1; i <= 12; i++) {
        await ping(driver, { lat: 52.51 + i / 10_000, lon: 13.39 }, new Date(t0 + i * 250));
        await delay(250);
      }
      const last = 52.51 + 12 / 10_000;
      await events.waitFor((e) => e.type === 'position' && e.data.lat === last, 'the last position');
      const positions = events.ofType('position');
      const span = positions.at(-1)!.receivedAt - positions[0].receivedAt;
      expect(positions.length).toBeLessThan(13);
      // n positions a second apart span at least n - 1 seconds (200 ms for the network's jitter).
      expect(positions.length - 1).toBeLessThanOrEqual(Math.floor((span + 200) / 1000));
    });

    it('resume: reconnecting with Last-Event-ID misses no status change and repeats none', async () => {
      const { driver, deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      const first = await stream(token);
      const assignedEvent = await first.waitForStatus('ASSIGNED');
      first.close();
      await eventually(() => t.app.get(TrackingFeed).openStreams === 0, { what: 'the closed stream to be let go' });

      // Picked up while nobody listened.
      await move(driver, deliveryId, 'PICKED_UP');
      const resumed = await stream(token, { 'last-event-id': assignedEvent.id! });
      await resumed.waitForStatus('PICKED_UP');
      await move(driver, deliveryId, 'DELIVERED');
      await resumed.waitForStatus('DELIVERED');
      expect(resumed.statuses()).toEqual(['PICKED_UP', 'DELIVERED']);
      expect(Number(resumed.ofType('status')[0].id)).toBeGreaterThan(Number(assignedEvent.id));

      // The same id in the query, as the page sends it when it reconnects by hand.
      const byQuery = await SseClient.open(`${base}/track/${token}/events?lastEventId=${assignedEvent.id}`);
      streams.push(byQuery);
      await byQuery.waitFor((e) => e.type === 'end', 'the end, by query');
      expect(byQuery.statuses()).toEqual(['PICKED_UP', 'DELIVERED']);

      // Without Last-Event-ID (or with one that is not an id), the whole history.
      const fresh = await stream(token, { 'last-event-id': 'garbage' });
      await fresh.waitFor((e) => e.type === 'end', 'the end');
      expect(fresh.statuses()).toEqual(['ASSIGNED', 'PICKED_UP', 'DELIVERED']);
    });

    it('a reassignment shows in the stream: back to PENDING, then the next driver', async () => {
      const { driver, deliveryId } = await assigned();
      const second = await newDriver(t, { name: 'Grace Hopper', vehicleType: 'car' });
      await ping(second, DROPOFF);
      await http().patch(`/drivers/${second.id}/status`).set(bearer(second.token)).send({ status: 'AVAILABLE' }).expect(200);
      const { token } = await linkFor(deliveryId);
      const events = await stream(token);
      await events.waitForStatus('ASSIGNED');
      await http().post(`/deliveries/${deliveryId}/decline`).set(bearer(driver.token)).send({}).expect(200);
      await events.waitFor(
        (e) => e.type === 'status' && e.data.status === 'ASSIGNED' && e.data.previousStatus === 'PENDING',
        'the next driver',
      );
      expect(events.statuses()).toEqual(['ASSIGNED', 'PENDING', 'ASSIGNED']);
      await events.waitFor((e) => e.type === 'position' && e.data.lat === DROPOFF.lat, "the next driver's position");
      expect((await http().get(`/track/${token}`).expect(200)).body.driver).toEqual({ name: 'Grace', vehicleType: 'car' });
    });

    it('a change to a tracked delivery is notified on delivery_tracking (an untracked one is not), and the process listens', async () => {
      const listener = new pg.Client({ connectionString: env.database.url });
      await listener.connect();
      const heard: string[] = [];
      listener.on('notification', (message) => heard.push(String(message.payload)));
      await listener.query('LISTEN delivery_tracking');
      try {
        const tracked = await assigned('TRK-N1');
        const untracked = await assigned('TRK-N2');
        await linkFor(tracked.deliveryId);
        await move(untracked.driver, untracked.deliveryId, 'PICKED_UP');
        await move(tracked.driver, tracked.deliveryId, 'PICKED_UP');
        await eventually(() => heard.includes(tracked.deliveryId), { what: 'the notification' });
        expect(heard).toEqual([tracked.deliveryId]);
      } finally {
        await listener.end();
      }
      const { rows } = await sql.query(
        // pg_stat_activity spans the server: other test files' services listen on their own databases.
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'driver-service tracking' AND datname = current_database()`,
      );
      expect(rows[0].n).toBe(1);
    });

    it('limits: a third stream of one link is 429 TOO_MANY_STREAMS with Retry-After; closing one lets the next in', async () => {
      const { deliveryId } = await assigned();
      const { token } = await linkFor(deliveryId);
      const one = await stream(token);
      await stream(token);
      const third = await http().get(`/track/${token}/events`).expect(429);
      expect(third.body.code).toBe('TOO_MANY_STREAMS');
      expect(third.headers['retry-after']).toBe('5');
      // Another link of the same delivery has its own allowance.
      const other = await linkFor(deliveryId);
      expect((await stream(other.token)).status).toBe(200);
      one.close();
      await eventually(() => t.app.get(TrackingFeed).openStreams === 2, { what: 'the closed stream to be let go' });
      expect((await stream(token)).status).toBe(200);
    });

    it('leaks: 200 streams opened and closed leave no stream, no followed delivery and no connection behind', async () => {
      const { deliveryId } = await assigned();
      const links = [await linkFor(deliveryId), await linkFor(deliveryId)];
      const feed = t.app.get(TrackingFeed);
      const connections = () =>
        new Promise<number>((resolve, reject) => t.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
      const baseline = await connections();
      for (let round = 0; round < 100; round++) {
        const pair = await Promise.all(links.map((link) => SseClient.open(`${base}/track/${link.token}/events`)));
        await Promise.all(pair.map((client) => client.waitForStatus('ASSIGNED')));
        pair.forEach((client) => client.close());
        await eventually(() => feed.openStreams === 0, { what: `round ${round}'s streams to be let go` });
      }
      expect(feed.followedDeliveries).toBe(0);
      expect(await metric('tracking_streams_open')).toBe(0);
      await eventually(async () => (await connections()) <= baseline, { what: "the streams' sockets to close" });
      expect(await metric('tracking_events_sent_total{type="status"}')).toBeGreaterThanOrEqual(200);
    });
  });

  // ---------------------------------------------------------------- ETA in webhooks

  describe('ETA in webhooks', () => {
    it('delivery.assigned carries the ETA to the pickup, delivery.picked_up to the drop-off, the same on every attempt', async () => {
      receiver.answerFirst(1, 500);
      const { driver, deliveryId } = await assigned();
      // Its ETA is fixed before its first attempt: only then does the driver move.
      await eventually(() => receiver.requests.length > 0, { what: 'the first attempt of delivery.assigned' });
      await ping(driver, PICKUP);
      await t.app.get(LocationWriter).flush();
      await move(driver, deliveryId, 'PICKED_UP');
      await move(driver, deliveryId, 'DELIVERED');
      await eventually(() => receiver.accepted().length === 3, { what: 'three webhooks accepted' });
      expect(receiver.invalid()).toEqual([]);
      const [assignedHook, pickedUp, delivered] = receiver.accepted().map((r) => r.body!);
      expect(assignedHook).toMatchObject({ type: 'delivery.assigned', data: { etaSeconds: etaOf(START, PICKUP) } });
      expect(pickedUp).toMatchObject({ type: 'delivery.picked_up', data: { etaSeconds: etaOf(PICKUP, DROPOFF) } });
      expect(delivered.type).toBe('delivery.delivered');
      expect(Object.hasOwn(delivered.data, 'etaSeconds')).toBe(false);
      // The first attempt was refused; the retry sent the same bytes.
      const attempts = receiver.attemptsOf(receiver.accepted()[0].id);
      expect(attempts).toHaveLength(2);
      expect(attempts[1].rawBody).toBe(attempts[0].rawBody);
      const stored = await sql.query(`SELECT payload FROM webhook_messages WHERE delivery_id = $1 ORDER BY delivery_seq`, [deliveryId]);
      expect(stored.rows.map((row) => row.payload.data.etaSeconds)).toEqual([etaOf(START, PICKUP), etaOf(PICKUP, DROPOFF), undefined]);
    });
  });
});
