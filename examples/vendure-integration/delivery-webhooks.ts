import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { HeaderBag, verifySignature, WebhookVerificationError } from './standard-webhooks.js';

export type DeliveryStatus = 'ASSIGNED' | 'PICKED_UP' | 'DELIVERED' | 'FAILED' | 'CANCELLED';

/** The body of every webhook the driver service sends to VENDURE_WEBHOOK_URL. */
export interface DeliveryWebhook {
  type: 'delivery.assigned' | 'delivery.picked_up' | 'delivery.delivered' | 'delivery.failed' | 'delivery.cancelled';
  /** When the change happened (not when it was sent). */
  timestamp: string;
  data: {
    deliveryId: string;
    sellerOrderId: string;
    channelId: string | null;
    driverId: string;
    /** The delivery's status after the change. */
    status: DeliveryStatus;
    /** Driver to pickup when assigned, metres. */
    distanceMeters: number;
    occurredAt: string;
    /** The x-request-id of the request that made the change, when known. */
    requestId?: string;
  };
}

/** What the plugin does for each delivery change. Throwing makes the service send the message again later. */
export interface DeliveryEffects {
  assigned(data: DeliveryWebhook['data']): Promise<void>;
  pickedUp(data: DeliveryWebhook['data']): Promise<void>;
  delivered(data: DeliveryWebhook['data']): Promise<void>;
  failed(data: DeliveryWebhook['data']): Promise<void>;
  cancelled(data: DeliveryWebhook['data']): Promise<void>;
}

/**
 * Maps a delivery change to the plugin's effect. In a Vendure plugin each
 * effect runs with a RequestContext for `data.channelId` and finds the order
 * by `data.sellerOrderId`; the comments name the usual Vendure calls.
 * Returns false for a type this code does not know (acknowledged and ignored,
 * so a newer service never blocks the delivery's later messages).
 */
export async function applyDeliveryWebhook(message: DeliveryWebhook, effects: DeliveryEffects): Promise<boolean> {
  switch (message.type) {
    case 'delivery.assigned':
      // Store deliveryId and driverId on the order (custom fields), add an order history entry,
      // and create the fulfillment: orderService.createFulfillment(ctx, { lines, handler }).
      await effects.assigned(message.data);
      return true;
    case 'delivery.picked_up':
      // orderService.transitionFulfillmentToState(ctx, fulfillmentId, 'Shipped')
      await effects.pickedUp(message.data);
      return true;
    case 'delivery.delivered':
      // orderService.transitionFulfillmentToState(ctx, fulfillmentId, 'Delivered')
      await effects.delivered(message.data);
      return true;
    case 'delivery.failed':
      // The driver could not complete it and is free again; the reason stays with the delivery
      // (failureReason) for operators. Flag the order for staff, or ask for another driver by
      // sending seller-order-ready again: an order whose delivery failed is assigned anew.
      await effects.failed(message.data);
      return true;
    case 'delivery.cancelled':
      // orderService.transitionFulfillmentToState(ctx, fulfillmentId, 'Cancelled'), unless the
      // cancellation came from Vendure itself (seller-order-cancelled) and is already applied.
      await effects.cancelled(message.data);
      return true;
    default:
      return false;
  }
}

export type WebhookOutcome = 'applied' | 'ignored' | 'duplicate' | 'rejected' | 'invalid' | 'failed';

export interface WebhookResult {
  /** 2xx tells the service the message is done; anything else makes it send it again. */
  status: number;
  outcome: WebhookOutcome;
  webhookId?: string;
  message?: DeliveryWebhook;
  error?: string;
}

/**
 * A framework-free receiver: give it the request headers and the raw body
 * bytes, answer with the returned status. Verifies the signature with the
 * shared secret, then applies each webhook-id once: the service sends every
 * message at least once, with the same webhook-id on every attempt.
 *
 * The ids here live in memory. In a plugin, record them in the shop's
 * database (a unique key on the id), in the same transaction as the order
 * change, and keep them: a retried message can arrive more than a day later.
 */
export function createDeliveryWebhookHandler(options: { secret: string; effects: DeliveryEffects }) {
  const applied = new Set<string>();
  const running = new Map<string, Promise<unknown>>();

  return async function handle(headers: HeaderBag, rawBody: Buffer | string): Promise<WebhookResult> {
    let webhookId: string;
    try {
      webhookId = verifySignature(options.secret, headers, rawBody).id;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      return { status: 401, outcome: 'rejected', error: error.message };
    }

    // A repeat is answered 2xx too, or the service would keep sending it.
    if (applied.has(webhookId)) return { status: 204, outcome: 'duplicate', webhookId };
    const inFlight = running.get(webhookId);
    if (inFlight) {
      const firstSucceeded = await inFlight.then(() => true, () => false);
      return firstSucceeded ? { status: 204, outcome: 'duplicate', webhookId } : { status: 503, outcome: 'failed', webhookId };
    }

    let message: DeliveryWebhook;
    try {
      message = JSON.parse(rawBody.toString()) as DeliveryWebhook;
    } catch {
      return { status: 400, outcome: 'invalid', webhookId, error: 'Body is not JSON' };
    }

    const work = applyDeliveryWebhook(message, options.effects);
    running.set(webhookId, work);
    try {
      const known = await work;
      applied.add(webhookId);
      return { status: 204, outcome: known ? 'applied' : 'ignored', webhookId, message };
    } catch (error) {
      // Not recorded: the service's retry, with the same webhook-id, applies it afresh.
      return { status: 503, outcome: 'failed', webhookId, message, error: (error as Error).message };
    } finally {
      running.delete(webhookId);
    }
  };
}

export type DeliveryWebhookHandler = ReturnType<typeof createDeliveryWebhookHandler>;

/**
 * Serves the handler on node:http at `path` (POST only). Answers fast: the
 * service waits at most 15 s per attempt, and holds the delivery's later
 * messages until this one is answered 2xx.
 */
export async function startWebhookServer(
  handle: DeliveryWebhookHandler,
  { port = 0, host = '127.0.0.1', path = '/driver-webhooks', onResult }: { port?: number; host?: string; path?: string; onResult?: (result: WebhookResult) => void } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    try {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== path) return void res.writeHead(404).end();
      if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > 1024 * 1024) return void res.writeHead(413).end();
        chunks.push(chunk as Buffer);
      }
      const result = await handle(req.headers, Buffer.concat(chunks));
      onResult?.(result);
      res.writeHead(result.status, { 'content-type': 'text/plain' }).end(result.error ?? '');
    } catch (error) {
      res.writeHead(500).end();
      console.error('driver webhook:', error);
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}${path}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
