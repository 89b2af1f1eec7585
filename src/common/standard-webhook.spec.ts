import { describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { SignatureError, StandardWebhook } from './standard-webhook.js';

const SECRET = `whsec_${Buffer.from('a-24-byte-or-longer-secret-key!!').toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.from('another-secret-of-enough-length').toString('base64')}`;
const BODY = '{"sellerOrderId":"SO-1001","pickupLat":52.52,"pickupLon":13.405}';
const NOW = 1_790_000_000;

/** Headers made by the reference implementation, the way a real client makes them. */
function referenceHeaders(secret: string, body: string, timestamp: number, id = 'msg_2Lz8y') {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': new Webhook(secret).sign(id, new Date(timestamp * 1000), body),
  };
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof SignatureError) return error.message;
    throw error;
  }
  throw new Error('expected a SignatureError');
}

describe(StandardWebhook.name, () => {
  const sut = new StandardWebhook(SECRET);

  it('accepts a message signed by the reference implementation', () => {
    const headers = referenceHeaders(SECRET, BODY, NOW);
    expect(sut.verify(headers, Buffer.from(BODY), NOW)).toEqual({ id: 'msg_2Lz8y', timestamp: NOW });
  });

  it('signs exactly as the reference implementation does', () => {
    expect(sut.sign('msg_1', NOW, BODY)).toBe(new Webhook(SECRET).sign('msg_1', new Date(NOW * 1000), BODY));
  });

  it('matches a fixed vector computed with openssl', () => {
    // printf 'msg_1.1790000000.{}' | openssl dgst -sha256 -hmac 'a-24-byte-or-longer-secret-key!!' -binary | base64
    const signature = 'v1,lGqN9Io1ODxPF75355Y/dOy7GOYjZF7yV4QPTkPkTi0=';
    expect(sut.sign('msg_1', NOW, '{}')).toBe(signature);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(NOW), 'webhook-signature': signature };
    expect(sut.verify(headers, '{}', NOW).id).toBe('msg_1');
  });

  it('refuses a message signed with another secret', () => {
    expect(reasonOf(() => sut.verify(referenceHeaders(OTHER_SECRET, BODY, NOW), BODY, NOW))).toBe('No matching signature');
  });

  it('refuses a tampered body', () => {
    const headers = referenceHeaders(SECRET, BODY, NOW);
    expect(reasonOf(() => sut.verify(headers, BODY.replace('SO-1001', 'SO-1002'), NOW))).toBe('No matching signature');
  });

  it('refuses a tampered id or timestamp', () => {
    const headers = referenceHeaders(SECRET, BODY, NOW);
    expect(reasonOf(() => sut.verify({ ...headers, 'webhook-id': 'msg_other' }, BODY, NOW))).toBe('No matching signature');
    expect(reasonOf(() => sut.verify({ ...headers, 'webhook-timestamp': String(NOW - 1) }, BODY, NOW))).toBe('No matching signature');
  });

  it('refuses a timestamp 6 minutes old and one 6 minutes ahead, even when correctly signed', () => {
    expect(reasonOf(() => sut.verify(referenceHeaders(SECRET, BODY, NOW - 360), BODY, NOW))).toBe('Message timestamp too old');
    expect(reasonOf(() => sut.verify(referenceHeaders(SECRET, BODY, NOW + 360), BODY, NOW))).toBe('Message timestamp too new');
  });

  it('accepts timestamps just inside the 5-minute tolerance either way', () => {
    expect(sut.verify(referenceHeaders(SECRET, BODY, NOW - 299), BODY, NOW).timestamp).toBe(NOW - 299);
    expect(sut.verify(referenceHeaders(SECRET, BODY, NOW + 299), BODY, NOW).timestamp).toBe(NOW + 299);
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('refuses a message without %s', (name) => {
    const headers: Record<string, string> = referenceHeaders(SECRET, BODY, NOW);
    delete headers[name];
    expect(reasonOf(() => sut.verify(headers, BODY, NOW))).toMatch(/^Missing/);
  });

  it('refuses a timestamp that is not unix seconds', () => {
    const headers = referenceHeaders(SECRET, BODY, NOW);
    expect(reasonOf(() => sut.verify({ ...headers, 'webhook-timestamp': `${NOW}abc` }, BODY, NOW))).toMatch(/unix time/);
    expect(reasonOf(() => sut.verify({ ...headers, 'webhook-timestamp': '2026-11-21T00:00:00Z' }, BODY, NOW))).toMatch(/unix time/);
  });

  it('accepts a space-separated list when one entry matches, and ignores other versions', () => {
    const good = referenceHeaders(SECRET, BODY, NOW);
    const bad = referenceHeaders(OTHER_SECRET, BODY, NOW);
    const signature = `v1a,xyz ${bad['webhook-signature']} v2,${good['webhook-signature'].slice(3)} ${good['webhook-signature']}`;
    expect(sut.verify({ ...good, 'webhook-signature': signature }, BODY, NOW).id).toBe('msg_2Lz8y');
    const onlyOtherVersions = `v2,${good['webhook-signature'].slice(3)}`;
    expect(reasonOf(() => sut.verify({ ...good, 'webhook-signature': onlyOtherVersions }, BODY, NOW))).toBe('No matching signature');
  });

  it('verifies over the raw bytes, so a re-serialised body does not pass', () => {
    const headers = referenceHeaders(SECRET, BODY, NOW);
    const reserialised = JSON.stringify(JSON.parse(BODY), null, 1);
    expect(reasonOf(() => sut.verify(headers, Buffer.from(reserialised), NOW))).toBe('No matching signature');
  });
});
