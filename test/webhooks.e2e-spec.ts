import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import request from 'supertest';
import { WebhookRelay } from '../src/outbox/webhook-relay.service.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer, startTestApp, TestApp } from './support/test-app.js';
import { ReceivedRequest, WebhookReceiver } from './support/webhook-receiver.js';

type Point = { lat: number; lon: number };
type Headers = Record<string, string>;

const BERLIN = { lat: 52.52, lon: 13.405 };
const PANKOW = { lat: 52.569, lon: 13.402 };
const UNKNOWN_MESSAGE = 'msg_00000000-0000-4000-8000-000000000000';

interface MessageRow {
  id: string;
  deliveryId: string;
  deliverySeq: number;
  type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  requestId: string | null;
  payload: Record<string, unknown>;
  lastStatusCode: number | null;
}

/**
 * The outbound webhook outbox (api-contract.md, "Webhooks (service →
 * Vendure)"): one Standard Webhooks message per delivery change, written in
 * the change's transaction, sent at least once and in order per delivery to
 * a real HTTP receiver that verifies every message with the reference
 * `standardwebhooks` package. Real PostgreSQL, a private redis-server.
 */
describe('webhooks to Vendure: the transactional outbox and its relay', () => {
  const receiver = new WebhookReceiver();
  // The receiver's port is known only once it listens; this beforeAll runs before
  // useServiceEnvironment's, which reads the object when it starts the service.
  const relayEnv: Record<string, string> = { WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.1,0.1,0.1' };
  beforeAll(async () => {
    await receiver.start();
    relayEnv.VENDURE_WEBHOOK_URL = receiver.url;
  });
  const env = useServiceEnvironment('webhooks', relayEnv);
  afterAll(() => receiver.close());

  let sql: pg.Client;
  let t: TestApp;
  beforeAll(() => {
    ({ sql, t } = env);
  });

  beforeEach(async () => {
    await env.reset();
    receiver.reset();
  });

  // ---------------------------------------------------------------- helpers

  /** Another instance of the service on this file's database and Redis. */
  const otherApp = (extra: Record<string, string | undefined>) =>
    startTestApp({ DATABASE_URL: env.database.url, REDIS_URL: env.redisServer.url, RECONCILE_INTERVAL_SECONDS: '3600', ...extra });

  /** A driver created through the API, located at `point`, AVAILABLE: choosable, with a usable token. */
  async function availableDriver(point: Point = BERLIN, fields: Record<string, unknown> = {}): Promise<CreatedDriver> {
    const driver = await newDriver(t, fields);
    await request(t.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point).expect(200);
    await request(t.server).patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    return driver;
  }

  const withRequestId = <T extends { set: (name: string, value: string) => T }>(test: T, requestId?: string) =>
    requestId ? test.set('x-request-id', requestId) : test;

  /** Vendure's seller-order-ready; the order must be assigned. */
  async function assign(
    sellerOrderId: string,
    { at = BERLIN, requestId, channelId, app = t }: { at?: Point; requestId?: string; channelId?: string; app?: TestApp } = {},
  ) {
    const body = { sellerOrderId, pickupLat: at.lat, pickupLon: at.lon, ...(channelId ? { channelId } : {}) };
    const response = await withRequestId(sendEvent(app, 'seller-order-ready', body), requestId).expect(200);
    expect(response.body).toMatchObject({ assigned: true, sellerOrderId });
    return response.body as { deliveryId: string; driverId: string; distanceMeters: number };
  }

  const setStatus = (deliveryId: string, headers: Headers, body: object, requestId?: string, app = t) =>
    withRequestId(request(app.server).patch(`/deliveries/${deliveryId}/status`).set(headers), requestId).send(body);

  const messageRows = async (where = 'true', params: unknown[] = []): Promise<MessageRow[]> =>
    (
      await sql.query(
        `SELECT id, delivery_id AS "deliveryId", delivery_seq AS "deliverySeq", type, status, attempts, request_id AS "requestId",
                payload, last_status_code AS "lastStatusCode"
         FROM webhook_messages WHERE ${where} ORDER BY delivery_seq`,
        params,
      )
    ).rows;

  /** Waits until the outbox holds exactly `n` messages, all delivered. */
  const allDelivered = (n: number) =>
    eventually(
      async () => {
        const rows = await messageRows();
        return rows.length === n && rows.every((r) => r.status === 'delivered') && rows;
      },
      { what: `${n} outbox messages delivered`, timeoutMs: 15_000 },
    );

  /** The types a receiver de-duplicating by webhook-id processed for one delivery, in order of arrival. */
  const processedTypes = (deliveryId: string) =>
    receiver
      .processed()
      .filter((r) => r.body!.data.deliveryId === deliveryId)
      .map((r) => r.body!.type);

  const auditTrail = async (deliveryId: string) =>
    (await request(t.server).get(`/deliveries/${deliveryId}/events`).set(admin).expect(200)).body as Array<{ type: string; at: string }>;

  async function metrics(app: TestApp): Promise<Record<string, number>> {
    const text = (await request(app.server).get('/metrics').expect(200)).text;
    const values: Record<string, number> = {};
    for (const [, name, value] of text.matchAll(/^(webhook_\w+) (\S+)$/gm)) values[name] = Number(value);
    return values;
  }

  // ---------------------------------------------------------------- one message per change

  it('sends one verified message per state change, typed, with the contract fields and the causing x-request-id, in change order per delivery', async () => {
    const ada = await availableDriver(BERLIN);
    const bob = await availableDriver(PANKOW);

    // Two deliveries whose changes interleave.
    const first = await assign('SO-WH-1', { at: BERLIN, requestId: 'req-wh-assign-1', channelId: 'channel-wh' });
    const second = await assign('SO-WH-2', { at: PANKOW, requestId: 'req-wh-assign-2' });
    expect([first.driverId, second.driverId]).toEqual([ada.id, bob.id]);
    await setStatus(first.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }, 'req-wh-pickup-1').expect(200);
    await withRequestId(
      sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-WH-2', reason: 'Customer cancelled' }),
      'req-wh-cancel-2',
    ).expect(200);
    await setStatus(first.deliveryId, admin, { status: 'DELIVERED' }, 'req-wh-deliver-1').expect(200);
    // No-op repeats of each transition: 200, and no new change, so no new message.
    await setStatus(first.deliveryId, bearer(ada.token), { status: 'DELIVERED' }, 'req-wh-noop-1').expect(200);
    await withRequestId(sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-WH-2' }), 'req-wh-noop-2').expect(200);

    const rows = await allDelivered(5);
    expect(rows.map((r) => [r.deliveryId, r.type, r.requestId])).toEqual([
      [first.deliveryId, 'delivery.assigned', 'req-wh-assign-1'],
      [second.deliveryId, 'delivery.assigned', 'req-wh-assign-2'],
      [first.deliveryId, 'delivery.picked_up', 'req-wh-pickup-1'],
      [second.deliveryId, 'delivery.cancelled', 'req-wh-cancel-2'],
      [first.deliveryId, 'delivery.delivered', 'req-wh-deliver-1'],
    ]);

    // Every request verified, each message was sent once (the receiver answered 200), and nothing else arrived.
    expect(receiver.invalid()).toEqual([]);
    expect(receiver.requests.map((r) => r.id).sort()).toEqual(rows.map((r) => r.id).sort());
    expect(receiver.requests.map((r) => r.headers['x-request-id'])).not.toEqual(expect.arrayContaining(['req-wh-noop-1']));
    expect(receiver.requests.map((r) => r.headers['x-request-id'])).not.toEqual(expect.arrayContaining(['req-wh-noop-2']));

    const trails = { [first.deliveryId]: await auditTrail(first.deliveryId), [second.deliveryId]: await auditTrail(second.deliveryId) };
    const expected = {
      [first.deliveryId]: { sellerOrderId: 'SO-WH-1', channelId: 'channel-wh', driverId: ada.id, distanceMeters: first.distanceMeters },
      [second.deliveryId]: { sellerOrderId: 'SO-WH-2', channelId: null, driverId: bob.id, distanceMeters: second.distanceMeters },
    };
    const statusOf: Record<string, string> = {
      'delivery.assigned': 'ASSIGNED',
      'delivery.picked_up': 'PICKED_UP',
      'delivery.delivered': 'DELIVERED',
      'delivery.cancelled': 'CANCELLED',
    };
    for (const row of rows) {
      const [sent] = receiver.attemptsOf(row.id);
      expect(sent.method).toBe('POST');
      expect(sent.id).toMatch(/^msg_[0-9a-f-]{36}$/);
      expect(sent.headers['content-type']).toBe('application/json');
      expect(sent.headers['x-request-id']).toBe(row.requestId);
      // The audit event of the change this message reports.
      const event = trails[row.deliveryId].find((e) => e.type === row.type)!;
      expect(sent.body).toEqual({
        type: row.type,
        timestamp: new Date(event.at).toISOString(),
        data: expect.objectContaining({
          deliveryId: row.deliveryId,
          ...expected[row.deliveryId],
          status: statusOf[row.type],
          occurredAt: new Date(event.at).toISOString(),
        }),
      });
      expect(sent.body).toEqual(row.payload);
    }

    // Per delivery, the order of arrival is the order of the changes.
    expect(processedTypes(first.deliveryId)).toEqual(['delivery.assigned', 'delivery.picked_up', 'delivery.delivered']);
    expect(processedTypes(second.deliveryId)).toEqual(['delivery.assigned', 'delivery.cancelled']);

    // Operators see them as delivered, in creation order.
    const listed = await request(t.server).get('/webhooks/messages?status=delivered').set(admin).expect(200);
    expect(listed.body.items.map((m: { id: string }) => m.id)).toEqual(rows.map((r) => r.id));
    for (const item of listed.body.items) {
      expect(item).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null, failedAt: null });
      expect(item.deliveredAt).not.toBeNull();
    }
  });

  // ---------------------------------------------------------------- retries

  it('a receiver answering 503 for a while loses nothing: retries keep the webhook-id, and de-duplicating by it gives one message per change', async () => {
    receiver.answerFirst(3, 503);
    const ada = await availableDriver(BERLIN);
    await availableDriver(PANKOW);
    const one = await assign('SO-WH-R1', { at: BERLIN });
    const two = await assign('SO-WH-R2', { at: PANKOW });
    await setStatus(one.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }).expect(200);
    await setStatus(one.deliveryId, bearer(ada.token), { status: 'DELIVERED' }).expect(200);

    const rows = await allDelivered(4);
    expect(receiver.invalid()).toEqual([]);
    expect(receiver.requests.filter((r) => r.answered === 503)).toHaveLength(3);

    // No new id for the same change: the receiver saw exactly the outbox's ids, some of them more than once.
    expect([...new Set(receiver.requests.map((r) => r.id))].sort()).toEqual(rows.map((r) => r.id).sort());
    expect(rows.some((row) => receiver.attemptsOf(row.id).length > 1)).toBe(true);
    for (const row of rows) {
      const attempts = receiver.attemptsOf(row.id);
      // Failed attempts, then the one accepted; the same body every time; the outbox counted each one.
      expect(attempts.map((a) => a.answered)).toEqual([...Array(attempts.length - 1).fill(503), 200]);
      expect(new Set(attempts.map((a) => a.rawBody)).size).toBe(1);
      expect(row.attempts).toBe(attempts.length);
    }

    // A receiver de-duplicating by webhook-id processed each change exactly once, in order per delivery.
    expect(
      receiver
        .processed()
        .map((r) => r.id)
        .sort(),
    ).toEqual(rows.map((r) => r.id).sort());
    expect(processedTypes(one.deliveryId)).toEqual(['delivery.assigned', 'delivery.picked_up', 'delivery.delivered']);
    expect(processedTypes(two.deliveryId)).toEqual(['delivery.assigned']);
    // And nothing of a delivery was sent before its earlier message had been accepted.
    for (const deliveryId of [one.deliveryId, two.deliveryId]) {
      const ofDelivery = receiver.requests.filter((r) => r.body!.data.deliveryId === deliveryId);
      const seqOf = (r: ReceivedRequest) => rows.find((row) => row.id === r.id)!.deliverySeq;
      expect(ofDelivery.map(seqOf)).toEqual([...ofDelivery.map(seqOf)].sort((a, b) => a - b));
    }
  });

  it('a receiver hanging on one message holds only that delivery: the others are sent while its attempt is open', async () => {
    await availableDriver();
    await availableDriver();
    receiver.answerWith((r) => (r.body?.data.sellerOrderId === 'WH-HANG-A' ? 'hang' : 200));
    const a = await assign('WH-HANG-A');
    await receiver.waitFor((rcv) => rcv.requests.some((r) => r.body?.data.deliveryId === a.deliveryId), "A's message held at the receiver");

    const b = await assign('WH-HANG-B');
    await receiver.waitFor((rcv) => rcv.accepted().some((r) => r.body?.data.deliveryId === b.deliveryId), "B's message accepted");
    // A's only attempt has not ended yet (a timed-out attempt records its error and schedules the next).
    const { rows } = await sql.query('SELECT status, attempts, last_error FROM webhook_messages WHERE delivery_id = $1', [a.deliveryId]);
    expect(rows).toEqual([{ status: 'pending', attempts: 1, last_error: null }]);
  });

  it('honours Retry-After (seconds and HTTP date) over a shorter retry schedule', async () => {
    const inTwoHours = new Date(Date.now() + 2 * 3600 * 1000).toUTCString();
    receiver.answerWith((r) =>
      r.index === 0
        ? { status: 503, headers: { 'retry-after': '3600' } }
        : r.index === 1
          ? { status: 429, headers: { 'retry-after': inTwoHours } }
          : 200,
    );
    await availableDriver(BERLIN);
    await availableDriver(PANKOW);
    await assign('SO-WH-RA1', { at: BERLIN });
    await assign('SO-WH-RA2', { at: PANKOW });

    // Both first attempts failed and were recorded; the next is due no sooner than the receiver asked
    // (about an hour or two away, where the schedule alone would have said 0.1 s).
    const rows = await eventually(
      async () => {
        const { rows } = await sql.query(
          `SELECT id, attempts, last_status_code AS "lastStatusCode", lease_until IS NULL AS released,
                  next_attempt_at > now() + interval '50 minutes' AS "waitsLong"
           FROM webhook_messages ORDER BY delivery_seq`,
        );
        return rows.length === 2 && rows.every((r) => r.attempts === 1 && r.released && r.lastStatusCode !== null) && rows;
      },
      { what: 'both first attempts recorded' },
    );
    expect(rows.map((r) => r.waitsLong)).toEqual([true, true]);
    expect(rows.map((r) => r.lastStatusCode).sort()).toEqual([429, 503]);

    // An operator need not wait: a retry sends them now.
    for (const row of rows) await request(t.server).post(`/webhooks/messages/${row.id}/retry`).set(admin).expect(200);
    await allDelivered(2);
    for (const row of rows) expect(receiver.attemptsOf(row.id).map((a) => a.answered)).toEqual([expect.any(Number), 200]);
    expect(receiver.invalid()).toEqual([]);
  });

  it('a 3xx answer is a failure: the redirect is not followed and the message is sent again', async () => {
    const moved = receiver.url.replace(/\/vendure\/webhooks$/, '/moved');
    const hook = new URL(receiver.url).pathname;
    let redirects = 0;
    // The redirect target would accept anything: following it would count as delivered.
    receiver.answerWith((r) => {
      if (r.path !== hook) return 200;
      redirects += 1;
      if (redirects === 1) return { status: 301, headers: { location: moved } };
      if (redirects === 2) return { status: 307, headers: { location: moved } };
      return 200;
    });
    await availableDriver(BERLIN);
    await assign('SO-WH-3XX');

    const [row] = await allDelivered(1);
    expect(receiver.requests.filter((r) => r.path !== hook)).toEqual([]);
    expect(receiver.attemptsOf(row.id).map((a) => a.answered)).toEqual([301, 307, 200]);
    expect(row).toMatchObject({ attempts: 3, lastStatusCode: 200 });
    expect(receiver.invalid()).toEqual([]);
  });

  // ---------------------------------------------------------------- rollback

  it('a change that rolls back sends nothing: a refused move, an order nobody can take, a failure after the outbox row was written', async () => {
    const ada = await availableDriver(BERLIN, { name: 'Rollback Driver' });
    const answer = await assign('SO-WH-RB', { requestId: 'req-rb-assign' });

    // A move the state machine forbids: 409, nothing written.
    await setStatus(answer.deliveryId, admin, { status: 'DELIVERED' }, 'req-rb-forbidden').expect(409);

    // A ready that ends NO_DRIVER_AVAILABLE (the only driver is busy): no delivery, no message.
    const none = await withRequestId(
      sendEvent(t, 'seller-order-ready', { sellerOrderId: 'SO-WH-NONE', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon }),
      'req-rb-none',
    ).expect(200);
    expect(none.body).toEqual({ assigned: false, sellerOrderId: 'SO-WH-NONE', reason: 'NO_DRIVER_AVAILABLE' });
    expect((await sql.query(`SELECT count(*)::int AS n FROM deliveries WHERE seller_order_id = 'SO-WH-NONE'`)).rows[0].n).toBe(0);
    expect((await messageRows()).map((r) => r.requestId)).toEqual(['req-rb-assign']);

    await setStatus(answer.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }, 'req-rb-pickup').expect(200);

    // DELIVERED writes its event and its outbox row, then frees the driver: make that last step fail
    // (a trigger of this test's own database), so the transaction rolls back after the outbox insert.
    await sql.query(`CREATE FUNCTION test_refuse_release() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN RAISE EXCEPTION 'test: refusing to free the driver'; END $$`);
    await sql.query(`CREATE TRIGGER test_refuse_release BEFORE UPDATE ON drivers FOR EACH ROW
                     WHEN (OLD.name = 'Rollback Driver' AND NEW.status = 'AVAILABLE') EXECUTE FUNCTION test_refuse_release()`);
    try {
      await setStatus(answer.deliveryId, admin, { status: 'DELIVERED' }, 'req-rb-rolled-back').expect(500);
    } finally {
      await sql.query('DROP TRIGGER test_refuse_release ON drivers');
      await sql.query('DROP FUNCTION test_refuse_release()');
    }
    expect((await sql.query('SELECT status FROM deliveries WHERE id = $1', [answer.deliveryId])).rows[0].status).toBe('PICKED_UP');
    expect((await messageRows()).map((r) => [r.type, r.requestId])).toEqual([
      ['delivery.assigned', 'req-rb-assign'],
      ['delivery.picked_up', 'req-rb-pickup'],
    ]);

    // The same move, now committed: its message is the only delivered one the receiver ever gets.
    await setStatus(answer.deliveryId, admin, { status: 'DELIVERED' }, 'req-rb-delivered').expect(200);
    const rows = await allDelivered(3);
    expect(rows.map((r) => r.requestId)).toEqual(['req-rb-assign', 'req-rb-pickup', 'req-rb-delivered']);
    expect(receiver.requests.map((r) => [r.body!.type, r.headers['x-request-id']])).toEqual([
      ['delivery.assigned', 'req-rb-assign'],
      ['delivery.picked_up', 'req-rb-pickup'],
      ['delivery.delivered', 'req-rb-delivered'],
    ]);
    expect(receiver.invalid()).toEqual([]);
  });

  // ---------------------------------------------------------------- with other instances sending

  describe('with the in-process relay stopped (other instances on the same database do the sending)', () => {
    beforeAll(async () => {
      // Stopped as at shutdown: from now on only the instances these tests start send anything.
      await t.app.get(WebhookRelay).beforeApplicationShutdown();
    });

    it('dead letter: after the last attempt the message is failed and listed, later messages of its delivery wait; a retry sends it, then them, in order', async () => {
      const deadLetter = await otherApp({ VENDURE_WEBHOOK_URL: receiver.url, WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.1' });
      try {
        const ada = await availableDriver(BERLIN);
        await availableDriver(PANKOW);
        // This order's messages are refused (500), every time; everything else is accepted.
        receiver.answerWith((r) => (r.body?.data.sellerOrderId === 'SO-WH-DL' ? 500 : 200));
        const doomed = await assign('SO-WH-DL', { at: BERLIN, requestId: 'req-dl-assign', app: deadLetter });

        const failed = await eventually(
          async () => {
            const page = (await request(deadLetter.server).get('/webhooks/messages?status=failed').set(admin).expect(200)).body;
            return page.items.length === 1 && page;
          },
          { what: 'the message listed as failed' },
        );
        const [dead] = failed.items;
        expect(dead).toMatchObject({
          deliveryId: doomed.deliveryId,
          type: 'delivery.assigned',
          status: 'failed',
          attempts: 2,
          lastStatusCode: 500,
          lastError: 'HTTP 500',
          deliveredAt: null,
        });
        expect(dead.failedAt).not.toBeNull();
        expect(dead.payload).toMatchObject({ type: 'delivery.assigned', data: { sellerOrderId: 'SO-WH-DL', status: 'ASSIGNED' } });
        // Two attempts, as the schedule has two entries, and then no more.
        expect(receiver.attemptsOf(dead.id).map((a) => a.answered)).toEqual([500, 500]);

        // A later change of the same delivery is written but held back while the earlier one is failed...
        await setStatus(doomed.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }, 'req-dl-pickup', deadLetter).expect(200);
        const [held] = await messageRows(`delivery_id = $1 AND type = 'delivery.picked_up'`, [doomed.deliveryId]);
        // ...while a change of another delivery, written after it, goes out. The relay takes due messages
        // oldest first, so had the held one been due it would have been claimed (attempts > 0) by now.
        const other = await assign('SO-WH-OTHER', { at: PANKOW, app: deadLetter });
        await eventually(async () => (await messageRows(`delivery_id = $1 AND status = 'delivered'`, [other.deliveryId])).length === 1, {
          what: "the other delivery's message to be delivered",
        });
        expect(await messageRows('id = $1', [held.id])).toEqual([expect.objectContaining({ status: 'pending', attempts: 0 })]);
        expect(receiver.attemptsOf(held.id)).toEqual([]);
        expect(await metrics(deadLetter)).toMatchObject({
          webhook_relay_enabled: 1,
          webhook_messages_failed: 1,
          webhook_messages_pending: 1,
          webhook_dead_letters_total: 1,
        });

        // The receiver is fixed; an operator retries the dead letter.
        receiver.answerAlways(200);
        const retried = await request(deadLetter.server).post(`/webhooks/messages/${dead.id}/retry`).set(admin).expect(200);
        expect(retried.body).toMatchObject({ id: dead.id, status: 'pending', attempts: 0, failedAt: null });
        await eventually(async () => (await messageRows('delivery_id = $1', [doomed.deliveryId])).every((r) => r.status === 'delivered'), {
          what: 'the retried message and the one held back to be delivered',
        });
        const deadAccepted = receiver.attemptsOf(dead.id).find((a) => a.answered === 200)!;
        const [heldFirst] = receiver.attemptsOf(held.id);
        expect(heldFirst.index).toBeGreaterThan(deadAccepted.index);
        expect(receiver.attemptsOf(held.id).map((a) => a.answered)).toEqual([200]);
        expect(processedTypes(doomed.deliveryId)).toEqual(['delivery.assigned', 'delivery.picked_up']);
        expect(heldFirst.headers['x-request-id']).toBe('req-dl-pickup');

        // Retrying a delivered message, or one that does not exist.
        const again = await request(deadLetter.server).post(`/webhooks/messages/${dead.id}/retry`).set(admin).expect(409);
        expect(again.body).toMatchObject({ statusCode: 409, code: 'WEBHOOK_ALREADY_DELIVERED' });
        for (const id of [UNKNOWN_MESSAGE, 'not-a-message-id']) {
          const missing = await request(deadLetter.server).post(`/webhooks/messages/${id}/retry`).set(admin).expect(404);
          expect(missing.body).toMatchObject({ statusCode: 404, code: 'WEBHOOK_MESSAGE_NOT_FOUND' });
        }

        // Operators only.
        for (const call of [
          request(deadLetter.server).get('/webhooks/messages').set(bearer(ada.token)),
          request(deadLetter.server).post(`/webhooks/messages/${held.id}/retry`).set(bearer(ada.token)),
        ]) {
          expect((await call.expect(403)).body).toMatchObject({ statusCode: 403 });
        }
        await request(deadLetter.server).get('/webhooks/messages').expect(401);
        expect(receiver.invalid()).toEqual([]);
      } finally {
        await deadLetter.close();
      }
    });

    it('without VENDURE_WEBHOOK_URL messages stay pending (relay disabled in the metrics), and a configured instance sends them later', async () => {
      const quiet = await otherApp({ VENDURE_WEBHOOK_URL: undefined });
      try {
        const ada = await availableDriver(BERLIN);
        const answer = await assign('SO-WH-QUIET', { requestId: 'req-quiet-assign', app: quiet });
        await setStatus(answer.deliveryId, bearer(ada.token), { status: 'PICKED_UP' }, 'req-quiet-pickup', quiet).expect(200);

        expect(await messageRows()).toEqual([
          expect.objectContaining({ type: 'delivery.assigned', status: 'pending', attempts: 0 }),
          expect.objectContaining({ type: 'delivery.picked_up', status: 'pending', attempts: 0 }),
        ]);
        const pending = await request(quiet.server).get('/webhooks/messages?status=pending').set(admin).expect(200);
        expect(pending.body.items).toHaveLength(2);
        const gauges = await metrics(quiet);
        expect(gauges.webhook_relay_enabled).toBe(0);
        expect(gauges.webhook_messages_pending).toBeGreaterThan(0);
        expect(gauges.webhook_messages_pending).toBe(2);
        expect(gauges.webhook_attempts_total).toBe(0);
        expect(await messageRows(`attempts > 0 OR status <> 'pending'`)).toEqual([]);
        expect(receiver.requests).toEqual([]);
      } finally {
        await quiet.close();
      }

      // Nothing was lost: an instance with a URL sends them, in order.
      const sender = await otherApp({ VENDURE_WEBHOOK_URL: receiver.url });
      try {
        await allDelivered(2);
        expect(receiver.requests.map((r) => [r.body!.type, r.headers['x-request-id']])).toEqual([
          ['delivery.assigned', 'req-quiet-assign'],
          ['delivery.picked_up', 'req-quiet-pickup'],
        ]);
        expect(receiver.invalid()).toEqual([]);
      } finally {
        await sender.close();
      }
    });
  });
});
