import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** `trk_` and 43 base64url characters: 256 bits. */
const TOKEN = /^trk_[A-Za-z0-9_-]{43}$/;

export const isTrackingToken = (value: string): boolean => TOKEN.test(value);

/** What the database keeps of a token: its SHA-256, in hex. */
export const trackingTokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A fresh token: 256 random bits. */
export const randomTrackingToken = (): string => `trk_${randomBytes(32).toString('base64url')}`;

/**
 * Tokens of links Vendure asks for: an HMAC, under a key derived from
 * VENDURE_WEBHOOK_SECRET, of the signed message's id and the delivery. As
 * unguessable as a random token to anyone without the secret, and the same
 * for every copy of one message, so a replayed request is answered with the
 * same link without the token being stored anywhere (replay receipts keep
 * answers, and a receipt must not hold a working token).
 */
export class SignedLinkTokens {
  private readonly key: Buffer;

  constructor(vendureWebhookSecret: string) {
    const secret = Buffer.from(vendureWebhookSecret.slice('whsec_'.length), 'base64');
    this.key = Buffer.from(hkdfSync('sha256', secret, 'driver-service', 'tracking-link tokens', 32));
  }

  tokenFor(messageId: string, deliveryId: string): string {
    return `trk_${createHmac('sha256', this.key).update(`${messageId}\n${deliveryId}`).digest('base64url')}`;
  }
}
