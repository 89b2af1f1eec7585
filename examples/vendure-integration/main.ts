/**
 * Demo against a running driver service: serves the delivery webhook
 * receiver, reports a seller order ready, waits for delivery.assigned,
 * cancels the order and waits for delivery.cancelled.
 *
 *   DRIVER_SERVICE_URL   the service (default http://localhost:3001)
 *   VENDURE_WEBHOOK_SECRET  the service's VENDURE_WEBHOOK_SECRET (required)
 *   WEBHOOK_PORT         port of the receiver on 127.0.0.1 (default 3002); start the
 *                        service with VENDURE_WEBHOOK_URL=http://127.0.0.1:3002/driver-webhooks
 *   ADMIN_API_KEY        optional: the demo then registers a driver at the pickup first
 *
 * Build and run (from the repository root):
 *   npx tsc -p examples/vendure-integration && node examples/vendure-integration/dist/main.js
 */
import { randomInt } from 'node:crypto';
import { createDeliveryWebhookHandler, DeliveryEffects, DeliveryWebhook, startWebhookServer } from './delivery-webhooks.js';
import { DriverServiceOptions, sellerOrderCancelled, sellerOrderReady } from './driver-service-client.js';

const PICKUP = { lat: 52.52, lon: 13.405 };

const baseUrl = process.env.DRIVER_SERVICE_URL ?? 'http://localhost:3001';
const secret = process.env.VENDURE_WEBHOOK_SECRET ?? '';
const adminKey = process.env.ADMIN_API_KEY;
const webhookPort = Number(process.env.WEBHOOK_PORT ?? 3002);
if (!secret.startsWith('whsec_')) {
  console.error('Set VENDURE_WEBHOOK_SECRET to the driver service\'s secret (whsec_...)');
  process.exit(1);
}

// Each effect resolves a waiter, so the demo can wait for the webhook of its own order.
const waiters = new Map<string, (data: DeliveryWebhook['data']) => void>();
const effect = (type: DeliveryWebhook['type']) => async (data: DeliveryWebhook['data']) => {
  console.log(`webhook ${type}: order ${data.sellerOrderId}, delivery ${data.deliveryId}, status ${data.status}`);
  waiters.get(`${type} ${data.sellerOrderId}`)?.(data);
};
const effects: DeliveryEffects = {
  assigned: effect('delivery.assigned'),
  pickedUp: effect('delivery.picked_up'),
  delivered: effect('delivery.delivered'),
  failed: effect('delivery.failed'),
  cancelled: effect('delivery.cancelled'),
};
function webhookFor(type: DeliveryWebhook['type'], sellerOrderId: string, timeoutMs = 20_000): Promise<DeliveryWebhook['data']> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} webhook within ${timeoutMs / 1000} s: is the service's VENDURE_WEBHOOK_URL ${receiver.url}?`)), timeoutMs);
    waiters.set(`${type} ${sellerOrderId}`, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

/** Demo only (a plugin never does this): a driver at the pickup, online and AVAILABLE. */
async function seedDriver(): Promise<void> {
  const call = async (path: string, method: string, token: string, body: object) => {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, string>;
  };
  const driver = await call('/drivers', 'POST', adminKey!, { name: 'Demo Driver', phone: `+49151${randomInt(10_000_000, 99_999_999)}` });
  await call(`/drivers/${driver.id}/location`, 'PATCH', driver.token, PICKUP);
  await call(`/drivers/${driver.id}/status`, 'PATCH', driver.token, { status: 'AVAILABLE' });
  console.log(`driver ${driver.id} is AVAILABLE at the pickup`);
}

const receiver = await startWebhookServer(createDeliveryWebhookHandler({ secret, effects }), {
  port: webhookPort,
  onResult: (r) => r.outcome !== 'applied' && console.log(`webhook ${r.webhookId ?? ''}: ${r.outcome} (${r.status})${r.error ? `: ${r.error}` : ''}`),
});
console.log(`receiving delivery webhooks at ${receiver.url}`);

const service: DriverServiceOptions = { baseUrl, secret };
let exitCode = 0;
try {
  if (adminKey) await seedDriver();
  const sellerOrderId = `DEMO-${Date.now()}`;
  const assignedWebhook = webhookFor('delivery.assigned', sellerOrderId);
  const answer = await sellerOrderReady(service, { sellerOrderId, pickupLat: PICKUP.lat, pickupLon: PICKUP.lon, channelId: 'default' });
  console.log('seller-order-ready:', JSON.stringify(answer));
  if (!answer.assigned) {
    assignedWebhook.catch(() => undefined);
    throw new Error('no driver available near the pickup: set ADMIN_API_KEY to register one, or put a driver online first');
  }
  await assignedWebhook;

  const cancelledWebhook = webhookFor('delivery.cancelled', sellerOrderId);
  console.log('seller-order-cancelled:', JSON.stringify(await sellerOrderCancelled(service, sellerOrderId, 'demo')));
  await cancelledWebhook;
  console.log('done');
} catch (error) {
  console.error((error as Error).message);
  exitCode = 1;
} finally {
  await receiver.close();
}
process.exit(exitCode);
