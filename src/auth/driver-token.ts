import { hash, randomBytes } from 'node:crypto';

const TOKEN_PATTERN = /^drv_[A-Za-z0-9_-]{43}$/;

/** A fresh driver token: `drv_` and 32 random bytes, base64url. */
export function newDriverToken(): { token: string; hash: string } {
  const token = `drv_${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashDriverToken(token) };
}

/**
 * Tokens carry 256 random bits, so a plain SHA-256 is a safe stored form.
 * Every driver request hashes its token: the one-shot `hash` costs a
 * quarter of a `createHash` object's update and digest.
 */
export function hashDriverToken(token: string): string {
  return hash('sha256', token, 'hex');
}

export function looksLikeDriverToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}
