// @ts-check
/**
 * Secrets and signatures as the service expects them: Standard Webhooks
 * (HMAC-SHA256 over "{id}.{timestamp}.{body}" with the base64 key of a
 * `whsec_` secret), driver tokens (`drv_` + 32 random bytes, stored as
 * SHA-256 hex) and an admin key. node:crypto only, so the load generator
 * signs cheaply.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
export const newAdminKey = () => randomBytes(32).toString('base64url');

/** A driver token and the hash the `drivers.token_hash` column stores. */
export function newDriverToken() {
  const token = `drv_${randomBytes(32).toString('base64url')}`;
  return { token, hash: createHash('sha256').update(token).digest('hex') };
}

/**
 * Signs bodies for one secret; `headers(body)` gives the three webhook-* headers.
 * @param {string} secret
 */
export function webhookSigner(secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return {
    /** @param {string} body */
    headers(body, id = `msg_${randomUUID()}`, at = new Date()) {
      const timestamp = Math.floor(at.getTime() / 1000);
      const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
      return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
    },
  };
}
