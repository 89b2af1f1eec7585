import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks headers for a request, made with the reference
 * `standardwebhooks` package (not the service's own code).
 */
export function signedHeaders(secret: string, body: string, options: { id?: string; at?: Date } = {}) {
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}
