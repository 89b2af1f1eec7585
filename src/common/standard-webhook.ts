import { createHmac, timingSafeEqual } from 'node:crypto';

/** Standard Webhooks allows a timestamp this far from now, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

export class SignatureError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SignatureError';
  }
}

export interface SignedMessage {
  id: string;
  timestamp: number;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Signs and verifies messages per Standard Webhooks
 * (https://www.standardwebhooks.com/): HMAC-SHA256 over
 * "{webhook-id}.{webhook-timestamp}.{raw body}", keyed with the base64 part of
 * a `whsec_` secret, sent as a space-separated list of `v1,<base64>`.
 * Interoperable with the `standardwebhooks` package (the tests prove it), but
 * on node:crypto and over the raw body bytes.
 */
export class StandardWebhook {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    if (this.key.length === 0) throw new Error('Webhook secret is empty');
  }

  sign(id: string, timestamp: number, body: Buffer | string): string {
    return `v1,${this.digest(id, timestamp, body).toString('base64')}`;
  }

  /** Returns the message id and timestamp, or throws `SignatureError` saying why not. */
  verify(headers: Headers, body: Buffer | string, nowSeconds = Math.floor(Date.now() / 1000)): SignedMessage {
    const id = header(headers, 'webhook-id');
    const timestampHeader = header(headers, 'webhook-timestamp');
    const signatures = header(headers, 'webhook-signature');
    if (!id || !timestampHeader || !signatures) {
      throw new SignatureError('Missing webhook-id, webhook-timestamp or webhook-signature header');
    }
    if (id.length > 256) throw new SignatureError('webhook-id is too long');
    if (!/^\d{1,12}$/.test(timestampHeader)) throw new SignatureError('webhook-timestamp is not a unix time in seconds');
    const timestamp = Number(timestampHeader);
    if (nowSeconds - timestamp > SIGNATURE_TOLERANCE_SECONDS) throw new SignatureError('Message timestamp too old');
    if (timestamp - nowSeconds > SIGNATURE_TOLERANCE_SECONDS) throw new SignatureError('Message timestamp too new');

    const expected = this.digest(id, timestamp, body);
    let matched = false;
    for (const candidate of signatures.split(' ')) {
      const [version, encoded] = candidate.split(',', 2);
      if (version !== 'v1' || !encoded) continue;
      const given = Buffer.from(encoded, 'base64');
      // Check every entry (no early exit) so timing does not tell which one matched.
      if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
    }
    if (!matched) throw new SignatureError('No matching signature');
    return { id, timestamp };
  }

  private digest(id: string, timestamp: number, body: Buffer | string): Buffer {
    return createHmac('sha256', this.key).update(`${id}.${timestamp}.`).update(body).digest();
  }
}
