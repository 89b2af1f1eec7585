import { Injectable } from '@nestjs/common';
import { Batcher } from '../common/batcher.js';
import { AppConfig } from '../config/app-config.js';
import { hashDriverToken, looksLikeDriverToken } from './driver-token.js';
import { DriverTokensRepository, TokenOwner } from './driver-tokens.repository.js';

interface CacheEntry {
  /** The token's driver, or null for a token no driver holds. */
  driverId: string | null;
  active: boolean;
  expiresAt: number;
}

const MAX_ENTRIES = 50_000;
/** Unknown tokens are remembered briefly; a new token is never in this cache. */
const NEGATIVE_TTL_MS = 5_000;

/**
 * Checks driver tokens. A verified token is trusted for
 * DRIVER_TOKEN_CACHE_TTL_MS (default 30 s) without a database round trip, so
 * the hot location route costs no query; a rotation or deactivation made in
 * another process therefore takes effect within that time (under the
 * contract's 60 s), and at once in this one.
 */
@Injectable()
export class DriverTokenService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly ttlMs: number;
  /** Lookups that miss the cache at the same time (a fleet reconnecting, say) share one query. */
  private readonly owners: Batcher<string, TokenOwner | null>;

  constructor(
    private readonly repository: DriverTokensRepository,
    config: AppConfig,
  ) {
    this.ttlMs = config.driverTokenCacheTtlMs;
    this.owners = new Batcher((hashes) => this.repository.findOwners(hashes));
  }

  /** The driver id the token belongs to, or null when it is unknown, revoked or the driver inactive. */
  async verify(token: string): Promise<string | null> {
    if (!looksLikeDriverToken(token)) return null;
    const hash = hashDriverToken(token);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.active ? cached.driverId : null;

    const owner = await this.owners.add(hash);
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(hash, {
      driverId: owner?.id ?? null,
      active: owner?.isActive ?? false,
      expiresAt: now + (owner ? this.ttlMs : NEGATIVE_TTL_MS),
    });
    return owner?.isActive ? owner.id : null;
  }

  /** Forgets every cached token of a driver (after rotation or deactivation). */
  forgetDriver(driverId: string): void {
    for (const [hash, entry] of this.cache) if (entry.driverId === driverId) this.cache.delete(hash);
  }
}
