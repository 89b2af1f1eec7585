import { createHash, timingSafeEqual } from 'node:crypto';

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * Constant-time comparison with one secret (hashing first makes the lengths
 * equal); the secret's own hash is taken once, not per request.
 */
export function secretMatcher(secret: string): (candidate: string) => boolean {
  const digest = sha256(secret);
  return (candidate) => timingSafeEqual(sha256(candidate), digest);
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if that is what was sent. */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const match = typeof authorization === 'string' ? /^Bearer +(\S+)$/i.exec(authorization.trim()) : null;
  return match?.[1];
}
