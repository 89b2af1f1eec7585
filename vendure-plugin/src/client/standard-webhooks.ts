import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks (https://www.standardwebhooks.com/) on node:crypto alone:
 * HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}", keyed with
 * the base64-decoded part of a `whsec_` secret, sent as `v1,<base64>`.
 * One secret, the driver service's VENDURE_WEBHOOK_SECRET, signs both ways.
 */

/** A timestamp may be this far from now, either way. */
export const TOLERANCE_SECONDS = 5 * 60;

export type HeaderBag = Record<string, string | string[] | undefined>;

export class WebhookVerificationError extends Error {
    override name = 'WebhookVerificationError';
}

export function secretKey(secret: string): Buffer {
    const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
    if (key.length === 0) throw new Error('The webhook secret is empty');
    return key;
}

function digest(key: Buffer, id: string, timestamp: number, body: string | Buffer): Buffer {
    return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/**
 * The headers of a signed request. Sign the exact string you send as the body. With `target`
 * ("POST /events/seller-order-ready", the method and the path the service sees), also
 * `webhook-target-signature`, the same signature over the target, which binds the message to
 * that route (the service requires it when SIGNED_TARGET=required).
 */
export function signedHeaders(secret: string, id: string, body: string, now = new Date(), target?: string): Record<string, string> {
    const timestamp = Math.floor(now.getTime() / 1000);
    const key = secretKey(secret);
    return {
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': `v1,${digest(key, id, timestamp, body).toString('base64')}`,
        ...(target !== undefined && { 'webhook-target-signature': `v1,${digest(key, id, timestamp, target).toString('base64')}` }),
    };
}

function single(headers: HeaderBag, name: string): string | undefined {
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
}

/**
 * Checks a message's signature over its raw body (the bytes as received,
 * before any JSON parsing) and returns its webhook-id; throws
 * `WebhookVerificationError` saying why not.
 */
export function verifySignature(secret: string, headers: HeaderBag, rawBody: string | Buffer, now = new Date()): { id: string; timestamp: number } {
    const id = single(headers, 'webhook-id');
    const timestampHeader = single(headers, 'webhook-timestamp');
    const signatures = single(headers, 'webhook-signature');
    if (!id || !timestampHeader || !signatures) throw new WebhookVerificationError('Missing webhook-id, webhook-timestamp or webhook-signature');
    if (!/^\d{1,12}$/.test(timestampHeader)) throw new WebhookVerificationError('webhook-timestamp is not unix seconds');
    const timestamp = Number(timestampHeader);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (Math.abs(nowSeconds - timestamp) > TOLERANCE_SECONDS) throw new WebhookVerificationError('webhook-timestamp is outside the 5-minute tolerance');

    const expected = digest(secretKey(secret), id, timestamp, rawBody);
    let matched = false;
    // A space-separated list ("v1,xxx v1,yyy"), e.g. while a secret is being rotated; other versions are skipped.
    for (const entry of signatures.split(' ')) {
        const comma = entry.indexOf(',');
        if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
        const given = Buffer.from(entry.slice(comma + 1), 'base64');
        // Constant time, and every entry checked, so timing tells nothing about the expected value.
        if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
    }
    if (!matched) throw new WebhookVerificationError('No matching signature');
    return { id, timestamp };
}
