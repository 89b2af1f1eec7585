import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { signedHeaders } from './standard-webhooks';

/** What the plugin sends when a seller order is ready for pickup (the service's `seller-order-ready`). */
export interface SellerOrderReady {
    sellerOrderId: string;
    pickupLat: number;
    pickupLon: number;
    /** Both or neither. */
    dropoffLat?: number;
    dropoffLon?: number;
    channelId?: string;
    dispatchMode?: 'auto' | 'offer';
    maxWaitSeconds?: number;
}

/** The service's answers to `seller-order-ready`, v1 and dispatch. */
export type ReadyAnswer =
    | {
          assigned: true;
          status?: 'ASSIGNED';
          sellerOrderId: string;
          deliveryId: string;
          driverId: string;
          distanceMeters: number;
      }
    | {
          assigned: false;
          status: 'OFFERED';
          sellerOrderId: string;
          deliveryId: string;
          driverId: string;
          distanceMeters: number;
          offerExpiresAt: string;
      }
    | {
          assigned: false;
          status: 'PENDING';
          sellerOrderId: string;
          deliveryId: string;
          reason: 'NO_DRIVER_AVAILABLE';
          waitUntil: string;
      }
    | { assigned: false; status?: undefined; sellerOrderId: string; reason: 'NO_DRIVER_AVAILABLE' };

export interface CancelledAnswer {
    cancelled: true;
    deliveryId: string;
}

/** The parts of the service's delivery the plugin reads. */
export interface ServiceDelivery {
    id: string;
    status: string;
    driverId: string | null;
    distanceMeters: number | null;
}

export interface ServiceDriver {
    id: string;
    name: string;
}

export interface DriverServiceOptions {
    /** The driver service, e.g. https://drivers.internal:3001 */
    baseUrl: string;
    /** The driver service's VENDURE_WEBHOOK_SECRET (`whsec_...`). */
    secret: string;
    /** The driver service's ADMIN_API_KEY: needed for reassignment and driver names only. */
    adminApiKey?: string;
    /** Waits before each retry within one send; its length is the number of retries. */
    retryDelaysMs?: number[];
    /** Per attempt. */
    timeoutMs?: number;
}

/** A final answer other than 200: `code` is the service's stable error code (DELIVERY_NOT_FOUND, ...). */
export class DriverServiceError extends Error {
    override name = 'DriverServiceError';
    constructor(
        readonly status: number | null,
        readonly code: string | undefined,
        message: string,
    ) {
        super(message);
    }

    /** Worth sending again later: no answer, a 5xx, a rate limit or a request still running. */
    get retryable(): boolean {
        return (
            this.status === null ||
            this.status >= 500 ||
            this.status === 429 ||
            this.code === 'WEBHOOK_IN_PROGRESS'
        );
    }
}

const DEFAULT_RETRY_DELAYS_MS = [500, 2_000];
const MAX_RETRY_AFTER_MS = 30_000;

interface Attempt {
    method: 'GET' | 'POST';
    path: string;
    body?: string;
    headers: () => Record<string, string>;
}

/**
 * One request with short retries inside it. Retried: a network error or
 * timeout, any 5xx, 409 WEBHOOK_IN_PROGRESS and 429 (waiting at least its
 * Retry-After). Any other answer is final.
 */
async function call<T>(options: DriverServiceOptions, request: Attempt): Promise<T> {
    const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    let failure = new DriverServiceError(null, undefined, `${request.path}: no answer`);
    let retryAfterMs = 0;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
        if (attempt > 0) await sleep(Math.max(delays[attempt - 1], retryAfterMs));
        let response: Response;
        try {
            response = await fetch(new URL(request.path, options.baseUrl), {
                method: request.method,
                headers: { 'content-type': 'application/json', ...request.headers() },
                body: request.body,
                signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
            });
        } catch (error) {
            // The request may or may not have arrived: every route used here is idempotent.
            failure = new DriverServiceError(null, undefined, `${request.path}: ${(error as Error).message}`);
            continue;
        }
        const text = await response.text();
        const answer = parse(text);
        if (response.status === 200 || response.status === 201) return answer as T;
        const code = typeof answer?.code === 'string' ? answer.code : undefined;
        const message = typeof answer?.message === 'string' ? answer.message : text.slice(0, 200);
        failure = new DriverServiceError(response.status, code, `${request.path}: ${response.status} ${code ?? ''} ${message}`.trim());
        retryAfterMs = Number(response.headers.get('retry-after') ?? 0) * 1000 || 0;
        // A long Retry-After is left to the caller's own schedule rather than waited out here.
        if (!failure.retryable || retryAfterMs > MAX_RETRY_AFTER_MS) break;
    }
    throw failure;
}

function parse(text: string): Record<string, unknown> | undefined {
    try {
        return JSON.parse(text) as Record<string, unknown>;
    } catch {
        return undefined;
    }
}

/**
 * Sends one signed event. Every attempt carries the same webhook-id and body
 * (re-signed with a fresh timestamp), so a retry of a request that did reach
 * the service gets the first answer back instead of running twice.
 */
function sendSignedEvent<T>(options: DriverServiceOptions, path: string, payload: object, webhookId = `msg_${randomUUID()}`): Promise<T> {
    const body = JSON.stringify(payload); // signed and sent as this exact string
    // The path as the service sees it: the plugin calls the service's own routes (/events/*, /deliveries/*), no prefix.
    const target = `POST ${path}`;
    return call<T>(options, { method: 'POST', path, body, headers: () => signedHeaders(options.secret, webhookId, body, new Date(), target) });
}

function adminCall<T>(options: DriverServiceOptions, method: 'GET' | 'POST', path: string, payload?: object): Promise<T> {
    if (!options.adminApiKey) {
        return Promise.reject(new DriverServiceError(null, 'ADMIN_API_KEY_NOT_CONFIGURED', `${path}: the plugin has no adminApiKey`));
    }
    return call<T>(options, {
        method,
        path,
        body: payload ? JSON.stringify(payload) : undefined,
        headers: () => ({ authorization: `Bearer ${options.adminApiKey}` }),
    });
}

/**
 * A seller order is ready: the service assigns or offers the nearest available
 * driver, keeps the order waiting (`maxWaitSeconds`), or answers
 * NO_DRIVER_AVAILABLE. Idempotent on sellerOrderId.
 */
export function sellerOrderReady(options: DriverServiceOptions, order: SellerOrderReady): Promise<ReadyAnswer> {
    return sendSignedEvent<ReadyAnswer>(options, '/events/seller-order-ready', order);
}

/**
 * A seller order was cancelled: its delivery is cancelled and the driver freed.
 * Throws DriverServiceError with code DELIVERY_NOT_FOUND (never dispatched) or
 * DELIVERY_ALREADY_FINISHED; a repeat answers 200.
 */
export function sellerOrderCancelled(options: DriverServiceOptions, sellerOrderId: string, reason?: string): Promise<CancelledAnswer> {
    return sendSignedEvent<CancelledAnswer>(options, '/events/seller-order-cancelled', {
        sellerOrderId,
        ...(reason ? { reason } : {}),
    });
}

/** Frees the driver of an offered or assigned delivery; the order goes back to waiting for the next one. */
export function reassignDelivery(options: DriverServiceOptions, deliveryId: string, reason?: string): Promise<ServiceDelivery> {
    return adminCall<ServiceDelivery>(options, 'POST', `/deliveries/${encodeURIComponent(deliveryId)}/reassign`, reason ? { reason } : {});
}

export interface TrackingLink {
    token: string;
    /** The page for the customer. */
    url: string;
    /** Null while the delivery is in progress; then an hour (the service's TRACKING_LINK_TTL_SECONDS) after it ends. */
    expiresAt: string | null;
}

/**
 * A tracking link to the delivery, for the customer. `messageId` names the
 * request: the service gives the same link for the same id, so a retry (of
 * this call, or of the webhook that asked for it) gets the link already made.
 */
export function createTrackingLink(options: DriverServiceOptions, deliveryId: string, messageId?: string): Promise<TrackingLink> {
    return sendSignedEvent<TrackingLink>(options, `/deliveries/${encodeURIComponent(deliveryId)}/tracking-links`, {}, messageId);
}

export function getDriver(options: DriverServiceOptions, driverId: string): Promise<ServiceDriver> {
    return adminCall<ServiceDriver>(options, 'GET', `/drivers/${encodeURIComponent(driverId)}`);
}
