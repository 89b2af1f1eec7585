import { describe, expect, it } from '@jest/globals';
import { keyPrefixFor } from './key-prefix.js';

/** CRC16 (XMODEM), as Redis Cluster hashes a key's tag to one of 16384 slots. */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('keyPrefixFor', () => {
  it('hashes as Redis Cluster does (CLUSTER KEYSLOT)', () => {
    expect(slotOf('somekey')).toBe(11058);
    expect(slotOf('foo{hash_tag}')).toBe(2515);
  });

  it('leaves a single Redis prefix as given', () => {
    expect(keyPrefixFor('redis', '')).toBe('');
    expect(keyPrefixFor('redis', 'shop1:')).toBe('shop1:');
  });

  it('gives a cluster prefix a hash tag, so that every key of the service hashes to one slot', () => {
    expect(keyPrefixFor('cluster', '')).toBe('{driver-service}:');
    expect(keyPrefixFor('cluster', 'shop1:')).toBe('{shop1}:');
    expect(keyPrefixFor('cluster', 'shop1')).toBe('{shop1}:');
    expect(keyPrefixFor('cluster', 'x{tag}:')).toBe('x{tag}:');
    const prefix = keyPrefixFor('cluster', 'shop1:');
    const slots = new Set(
      ['drivers:geo', 'drivers:status', 'driver:online:7c1d', 'ratelimit:location:7c1d:42'].map((key) => slotOf(prefix + key)),
    );
    expect(slots.size).toBe(1);
    // Without the tag the same keys spread over slots, which a multi-key script may not do.
    expect(new Set(['drivers:geo', 'drivers:status', 'driver:online:7c1d'].map((key) => slotOf(`shop1:${key}`))).size).toBeGreaterThan(1);
  });
});
