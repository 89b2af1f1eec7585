import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import {
  createDeliveryWebhookHandler,
  DeliveryEffects,
  DeliveryWebhook,
  startWebhookServer,
  WebhookResult,
} from '../examples/vendure-integration/delivery-webhooks.js';
import {
  DriverServiceError,
  DriverServiceOptions,
  sellerOrderCancelled,
  sellerOrderReady,
} from '../examples/vendure-integration/driver-service-client.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer, VENDURE_SECRET } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };
const HAMBURG = { lat: 53.55, lon: 9.99 };
const OTHER_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

type Applied = { type: DeliveryWebhook['type']; data: DeliveryWebhook['data'] };

/**
 * The Vendure integration example (examples/vendure-integration/) against the
 * real service, listening on a port, on real PostgreSQL and Redis: its client
 * signs the events, its node:http handler is the service's VENDURE_WEBHOOK_URL.
 * The handler's effects are recorded; signatures it must refuse are made with
 * the reference `standardwebhooks` package.
 */
describe('the Vendure integration example against the service', () => {
  const applied: Applied[] = [];
  const results: WebhookResult[] = [];
  /** Effects that throw once for these orders (a plugin failing to apply a change). */
  const failOnceFor = new Set<string>();
  /** Orders whose first successful answer is turned into a 500, as if the answer was lost. */
  const loseFirstAnswerFor = new Set<string>();

  const effect = (type: DeliveryWebhook['type']) => async (data: DeliveryWebhook['data']) => {
    if (failOnceFor.delete(data.sellerOrderId)) throw new Error('the shop database is busy');
    applied.push({ type, data });
  };
  const effects: DeliveryEffects = {
    assigned: effect('delivery.assigned'),
    pickedUp: effect('delivery.picked_up'),
    delivered: effect('delivery.delivered'),
    failed: effect('delivery.failed'),
    cancelled: effect('delivery.cancelled'),
  };
  const handle = createDeliveryWebhookHandler({ secret: VENDURE_SECRET, effects });

  let receiver: { url: string; close: () => Promise<void> };
  // Known only once the receiver listens; useServiceEnvironment reads it when it starts the service.
  const relayEnv: Record<string, string> = { WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.2,0.2,0.2' };
  beforeAll(async () => {
    receiver = await startWebhookServer(
      async (headers, rawBody) => {
        const result = await handle(headers, rawBody);
        const order = result.message?.data.sellerOrderId;
        if (result.status < 300 && order && loseFirstAnswerFor.delete(order)) return { ...result, status: 500 };
        return result;
      },
      { onResult: (result) => results.push(result) },
    );
    relayEnv.VENDURE_WEBHOOK_URL = receiver.url;
  });
  const env = useServiceEnvironment('vendure_example', relayEnv);
  afterAll(() => receiver.close());

  let service: DriverServiceOptions;
  beforeAll(async () => {
    await env.t.app.listen(0, '127.0.0.1');
    const { port } = env.t.server.address() as AddressInfo;
    service = { baseUrl: `http://127.0.0.1:${port}`, secret: VENDURE_SECRET, retryDelaysMs: [20, 20, 20] };
  });

  beforeEach(async () => {
    await env.reset();
    applied.length = 0;
    results.length = 0;
    failOnceFor.clear();
    loseFirstAnswerFor.clear();
  });

  async function availableDriver(point = BERLIN): Promise<CreatedDriver> {
    const driver = await newDriver(env.t);
    await request(env.t.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point).expect(200);
    await request(env.t.server).patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    return driver;
  }

  const appliedFor = (sellerOrderId: string) => applied.filter((a) => a.data.sellerOrderId === sellerOrderId);
  const waitForApplied = (sellerOrderId: string, types: string[]) =>
    eventually(async () => appliedFor(sellerOrderId).length >= types.length || undefined, {
      what: `${types.join(', ')} applied for ${sellerOrderId}`,
      timeoutMs: 15_000,
    });
  const outbox = async (sellerOrderId: string) =>
    (
      await env.sql.query(
        `SELECT m.id, m.type, m.status, m.attempts, m.payload FROM webhook_messages m JOIN deliveries d ON d.id = m.delivery_id
         WHERE d.seller_order_id = $1 ORDER BY m.delivery_seq`,
        [sellerOrderId],
      )
    ).rows as Array<{ id: string; type: string; status: string; attempts: number; payload: DeliveryWebhook }>;
  const post = (body: string, headers: Record<string, string>) =>
    fetch(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('signs seller-order-ready so the service assigns the driver at the pickup; the handler verifies and applies delivery.assigned', async () => {
    const driver = await availableDriver(BERLIN);

    const answer = await sellerOrderReady(service, { sellerOrderId: 'SO-EX-1', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon, channelId: 'default' });

    expect(answer).toEqual({ assigned: true, sellerOrderId: 'SO-EX-1', deliveryId: expect.any(String), driverId: driver.id, distanceMeters: 0 });
    if (!answer.assigned) throw new Error('unreachable');
    await waitForApplied('SO-EX-1', ['delivery.assigned']);
    expect(appliedFor('SO-EX-1')).toEqual([
      {
        type: 'delivery.assigned',
        data: expect.objectContaining({ deliveryId: answer.deliveryId, driverId: driver.id, channelId: 'default', status: 'ASSIGNED' }),
      },
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['applied']);
    // The service took the handler's answer as delivered.
    await eventually(async () => (await outbox('SO-EX-1'))[0]?.status === 'delivered' || undefined, { what: 'the message delivered' });
  });

  it('answers NO_DRIVER_AVAILABLE when no driver is in reach, and assigns on a later call once one is', async () => {
    await availableDriver(HAMBURG);

    expect(await sellerOrderReady(service, { sellerOrderId: 'SO-EX-2', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon })).toEqual({
      assigned: false,
      sellerOrderId: 'SO-EX-2',
      reason: 'NO_DRIVER_AVAILABLE',
    });

    const near = await availableDriver(BERLIN);
    // A new call is a new webhook-id, so the service runs it afresh instead of repeating the first answer.
    expect(await sellerOrderReady(service, { sellerOrderId: 'SO-EX-2', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon })).toMatchObject({
      assigned: true,
      driverId: near.id,
    });
  });

  it('retries a lost answer, a 503 and a 429 with the same webhook-id; the service answers the repeat with the first answer', async () => {
    const driver = await availableDriver(BERLIN);
    const attempts: Array<{ id: string; outcome: string }> = [];
    const flaky: typeof fetch = async (input, init) => {
      const id = (init?.headers as Record<string, string>)['webhook-id'];
      if (attempts.length === 0) {
        await fetch(input, init); // it reaches the service, which assigns...
        attempts.push({ id, outcome: 'answer lost' });
        throw new TypeError('fetch failed'); // ...but the answer never comes back
      }
      if (attempts.length === 1) {
        attempts.push({ id, outcome: '503' }); // a proxy in between answers 503
        return new Response(JSON.stringify({ statusCode: 503, code: 'DATABASE_UNAVAILABLE' }), { status: 503 });
      }
      if (attempts.length === 2) {
        attempts.push({ id, outcome: '429' }); // over the allowance: wait Retry-After, then the same message again
        return new Response(JSON.stringify({ statusCode: 429, code: 'RATE_LIMITED' }), { status: 429, headers: { 'retry-after': '1' } });
      }
      attempts.push({ id, outcome: 'sent' });
      return fetch(input, init);
    };

    const answer = await sellerOrderReady({ ...service, fetch: flaky }, { sellerOrderId: 'SO-EX-3', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon });

    expect(attempts.map((a) => a.outcome)).toEqual(['answer lost', '503', '429', 'sent']);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(1);
    expect(answer).toMatchObject({ assigned: true, driverId: driver.id });
    const receipts = await env.sql.query(`SELECT webhook_id, status_code FROM webhook_receipts WHERE source = 'vendure'`);
    expect(receipts.rows).toEqual([{ webhook_id: attempts[0].id, status_code: 200 }]);
    const deliveries = await request(env.t.server).get('/deliveries?sellerOrderId=SO-EX-3').set(admin).expect(200);
    expect(deliveries.body.items.map((d: { id: string }) => d.id)).toEqual([(answer as { deliveryId: string }).deliveryId]);
  });

  it('does not retry a final answer: an unknown order cancelled is DELIVERY_NOT_FOUND after one attempt', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => ((calls += 1), fetch(input, init));

    const error = await sellerOrderCancelled({ ...service, fetch: counting }, 'SO-NEVER').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DriverServiceError);
    expect(error).toMatchObject({ status: 404, code: 'DELIVERY_NOT_FOUND' });
    expect(calls).toBe(1);
  });

  it('cancels through the example: the driver is free and the handler applies delivery.cancelled after delivery.assigned', async () => {
    const driver = await availableDriver(BERLIN);
    const answer = await sellerOrderReady(service, { sellerOrderId: 'SO-EX-4', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon });
    expect(answer.assigned).toBe(true);

    const cancelled = await sellerOrderCancelled(service, 'SO-EX-4', 'customer changed their mind');

    expect(cancelled).toEqual({ cancelled: true, deliveryId: (answer as { deliveryId: string }).deliveryId });
    await waitForApplied('SO-EX-4', ['delivery.assigned', 'delivery.cancelled']);
    expect(appliedFor('SO-EX-4').map((a) => [a.type, a.data.status])).toEqual([
      ['delivery.assigned', 'ASSIGNED'],
      ['delivery.cancelled', 'CANCELLED'],
    ]);
    const after = await request(env.t.server).get(`/drivers/${driver.id}`).set(admin).expect(200);
    expect(after.body.status).toBe('AVAILABLE');
  });

  it('rejects another secret, a tampered body, a stale timestamp and a missing signature; accepts a list with one good entry', async () => {
    const message = (status: string) =>
      JSON.stringify({
        type: 'delivery.picked_up',
        timestamp: new Date().toISOString(),
        data: { deliveryId: '00000000-0000-4000-8000-000000000001', sellerOrderId: 'SO-FORGED', channelId: null, driverId: '00000000-0000-4000-8000-000000000002', status, distanceMeters: 1, occurredAt: new Date().toISOString() },
      });
    const body = message('PICKED_UP');
    const sign = (secret: string, signed: string, id: string, at = new Date()) => ({
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, signed),
    });

    const wrongSecret = await post(body, sign(OTHER_SECRET, body, 'msg_forged-1'));
    const tampered = await post(message('DELIVERED'), sign(VENDURE_SECRET, body, 'msg_forged-2'));
    const stale = await post(body, sign(VENDURE_SECRET, body, 'msg_forged-3', new Date(Date.now() - 6 * 60_000)));
    const unsigned = await post(body, { 'webhook-id': 'msg_forged-4', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) });
    const good = sign(VENDURE_SECRET, body, 'msg_forged-5');
    const listed = await post(body, { ...good, 'webhook-signature': `${sign(OTHER_SECRET, body, 'msg_forged-5')['webhook-signature']} ${good['webhook-signature']}` });

    expect([wrongSecret.status, tampered.status, stale.status, unsigned.status]).toEqual([401, 401, 401, 401]);
    const forged = results.filter((r) => r.status === 401 || r.webhookId?.startsWith('msg_forged'));
    expect(forged.map((r) => r.outcome)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'applied']);
    expect(listed.status).toBe(204);
    expect(appliedFor('SO-FORGED').map((a) => a.data.status)).toEqual(['PICKED_UP']);
  });

  it('applies a message once when the service sends it again after a lost answer, and once when it is repeated by hand', async () => {
    await availableDriver(BERLIN);
    loseFirstAnswerFor.add('SO-EX-5');

    await sellerOrderReady(service, { sellerOrderId: 'SO-EX-5', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon });

    const [row] = await eventually(
      async () => {
        const rows = await outbox('SO-EX-5');
        return rows[0]?.status === 'delivered' && rows;
      },
      { what: 'delivery.assigned delivered after its retry' },
    );
    expect(row.attempts).toBe(2);
    expect(results.filter((r) => r.webhookId === row.id).map((r) => [r.outcome, r.status])).toEqual([
      ['applied', 500],
      ['duplicate', 204],
    ]);

    // The same webhook-id once more, freshly signed (as a retry is): acknowledged, not applied.
    const body = JSON.stringify(row.payload);
    const at = new Date();
    const repeat = await post(body, {
      'webhook-id': row.id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(VENDURE_SECRET).sign(row.id, at, body),
    });
    expect(repeat.status).toBe(204);
    expect(results.at(-1)).toMatchObject({ webhookId: row.id, outcome: 'duplicate' });
    expect(appliedFor('SO-EX-5').map((a) => a.type)).toEqual(['delivery.assigned']);
  });

  it('answers 503 when the plugin fails to apply a message, and applies the service retry with the same webhook-id', async () => {
    await availableDriver(BERLIN);
    failOnceFor.add('SO-EX-6');

    await sellerOrderReady(service, { sellerOrderId: 'SO-EX-6', pickupLat: BERLIN.lat, pickupLon: BERLIN.lon });

    await waitForApplied('SO-EX-6', ['delivery.assigned']);
    const [row] = await outbox('SO-EX-6');
    expect(results.filter((r) => r.webhookId === row.id).map((r) => [r.outcome, r.status])).toEqual([
      ['failed', 503],
      ['applied', 204],
    ]);
    expect(appliedFor('SO-EX-6').map((a) => a.type)).toEqual(['delivery.assigned']);
  });
});
