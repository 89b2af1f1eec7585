import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { signedHeaders } from './standard-webhooks.js';

/** What Vendure sends when a seller order is ready for pickup. */
export interface SellerOrderReady {
  sellerOrderId: string;
  pickupLat: number;
  pickupLon: number;
  /** Both or neither. */
  dropoffLat?: number;
  dropoffLon?: number;
  channelId?: string;
}

export type ReadyAnswer =
  | { assigned: true; sellerOrderId: string; deliveryId: string; driverId: string; distanceMeters: number }
  | { assigned: false; sellerOrderId: string; reason: 'NO_DRIVER_AVAILABLE' };

export interface CancelledAnswer {
  cancelled: true;
  deliveryId: string;
}

export interface DriverServiceOptions {
  /** The driver service, e.g. https://drivers.internal:3001 */
  baseUrl: string;
  /** The driver service's VENDURE_WEBHOOK_SECRET (`whsec_...`). */
  secret: string;
  /** Waits before each retry; its length is the number of retries. */
  retryDelaysMs?: number[];
  /** Per attempt. */
  timeoutMs?: number;
  /** Replaceable for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** A final answer other than 200: `code` is the service's stable error code (DELIVERY_NOT_FOUND, ...). */
export class DriverServiceError extends Error {
  override name = 'DriverServiceError';
  constructor(
    readonly status: number | null,
    readonly code: string | undefined,
    message: string,
    readonly webhookId: string,
  ) {
    super(message);
  }
}

const DEFAULT_RETRY_DELAYS_MS = [500, 2_000, 5_000, 15_000];

/**
 * Sends one signed event. Every attempt carries the same webhook-id and the
 * same body (re-signed with a fresh timestamp): the service records each
 * webhook-id with its answer for 10 minutes, so a retry of a request that did
 * reach it gets the first answer back instead of running twice. Retried: a
 * network error or timeout, any 5xx (503 DATABASE_UNAVAILABLE: nothing was
 * changed), 409 WEBHOOK_IN_PROGRESS (the first attempt is still running) and
 * 429 RATE_LIMITED (waiting at least its Retry-After). Any other answer is final.
 */
export async function sendSignedEvent<T>(
  options: DriverServiceOptions,
  path: '/events/seller-order-ready' | '/events/seller-order-cancelled',
  payload: object,
  webhookId = `msg_${randomUUID()}`,
): Promise<T> {
  const doFetch = options.fetch ?? fetch;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const body = JSON.stringify(payload); // signed and sent as this exact string
  let lastError = '';
  let lastStatus: number | null = null;
  let lastCode: string | undefined;
  let retryAfterMs = 0;

  for (let attempt = 0; attempt <= delays.length; attempt++) {
    if (attempt > 0) await sleep(Math.max(delays[attempt - 1], retryAfterMs));
    let response: Response;
    try {
      response = await doFetch(new URL(path, options.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signedHeaders(options.secret, webhookId, body) },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      lastStatus = null;
      lastCode = undefined;
      lastError = (error as Error).message;
      continue; // the request may or may not have arrived: the same webhook-id makes that safe
    }
    const text = await response.text();
    const answer = parse(text);
    if (response.status === 200) return answer as T;
    lastStatus = response.status;
    lastCode = typeof answer?.code === 'string' ? answer.code : undefined;
    lastError = typeof answer?.message === 'string' ? answer.message : text.slice(0, 200);
    retryAfterMs = Number(response.headers.get('retry-after') ?? 0) * 1000 || 0;
    const retryable = response.status >= 500 || response.status === 429 || lastCode === 'WEBHOOK_IN_PROGRESS';
    if (!retryable) break;
  }
  throw new DriverServiceError(lastStatus, lastCode, `${path} failed: ${lastStatus ?? 'no answer'} ${lastCode ?? ''} ${lastError}`.trim(), webhookId);
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A seller order is ready: the service assigns the nearest available driver
 * (idempotent on sellerOrderId) or answers NO_DRIVER_AVAILABLE, in which case
 * call this again later: a new call is a new webhook-id, so it is run afresh.
 */
export function sellerOrderReady(options: DriverServiceOptions, order: SellerOrderReady, webhookId?: string): Promise<ReadyAnswer> {
  return sendSignedEvent<ReadyAnswer>(options, '/events/seller-order-ready', order, webhookId);
}

/**
 * A seller order was cancelled: its delivery is cancelled and the driver freed.
 * Throws DriverServiceError with code DELIVERY_NOT_FOUND (never assigned) or
 * DELIVERY_ALREADY_FINISHED (already delivered or failed); a repeat answers 200.
 */
export function sellerOrderCancelled(
  options: DriverServiceOptions,
  sellerOrderId: string,
  reason?: string,
  webhookId?: string,
): Promise<CancelledAnswer> {
  return sendSignedEvent<CancelledAnswer>(options, '/events/seller-order-cancelled', { sellerOrderId, ...(reason ? { reason } : {}) }, webhookId);
}
