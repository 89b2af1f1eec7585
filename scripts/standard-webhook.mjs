// Standard Webhooks (https://www.standardwebhooks.com/) for the scripts, as the service signs and
// verifies (src/common/standard-webhook.ts): HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}",
// keyed with the base64 after `whsec_`, sent as `v1,<base64>` (a space-separated list is allowed).
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** The form the service accepts for VENDURE_WEBHOOK_SECRET and DRIVER_WEBHOOK_SECRET. */
export const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
/** A timestamp this far from now, either way, is accepted. */
const TOLERANCE_SECONDS = 5 * 60;

/** A fresh secret: `whsec_` and the base64 of 32 random bytes. */
export function newWebhookSecret() {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function digest(secret, id, timestamp, body) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** The headers of a message signing `body`, which must be sent as exactly this string. */
export function signedHeaders(secret, body) {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': `v1,${digest(secret, id, timestamp, body).toString('base64')}`,
  };
}

/** Throws an Error saying why, unless one of the message's signatures matches and its timestamp is recent. */
export function verifySignature(secret, headers, body) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new Error('missing webhook-id, webhook-timestamp or webhook-signature');
  if (!/^\d{1,12}$/.test(timestamp)) throw new Error('webhook-timestamp is not a unix time in seconds');
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) throw new Error('webhook-timestamp is too far from now');
  const expected = digest(secret, id, timestamp, body);
  // Every entry is checked (no early exit), as the service does.
  const matching = signatures.split(' ').filter((entry) => {
    const [version, encoded] = entry.split(',', 2);
    const given = Buffer.from(encoded ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (matching.length === 0) throw new Error('no matching signature');
}
