import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { type RedisClient, RedisService } from '../redis/redis.service.js';
import { RATE_LIMIT_FUNCTION } from './rate-limit.script.js';

export const RATE_LIMIT_WINDOW_MS = 60_000;

/** The limits, each per minute: location updates per driver, seller-order-ready events per caller. */
export type RateLimitName = 'location' | 'orderReady';

/** KEYS: current window, previous window     ARGV: limit, windowMs, msIntoWindow */
const CONSUME = `${RATE_LIMIT_FUNCTION}
return rate_limit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
`;

/** What a script needs to apply a limit: its two window keys and its three arguments. */
export interface RateLimitWindow {
  keys: [current: string, previous: string];
  args: [limit: number, windowMs: number, msIntoWindow: number];
}

type Consuming = { rateLimitConsume(...args: Array<string | number>): Promise<number> };

/**
 * Per-minute rate limits shared by every process through Redis. Without
 * Redis (not configured, down, or an error) every request is allowed: the
 * limits protect the service, they never stop it from working.
 */
@Injectable()
export class RateLimiter {
  private readonly logger = new Logger(RateLimiter.name);
  private readonly redis: () => RedisClient & Consuming;
  private readonly limits: Record<RateLimitName, number>;

  constructor(
    private readonly redisService: RedisService,
    config: AppConfig,
  ) {
    this.redis = redisService.withScripts<Consuming>({ rateLimitConsume: { numberOfKeys: 2, lua: CONSUME } });
    this.limits = { location: config.rateLimitLocationPerMinute, orderReady: config.rateLimitOrderReadyPerMinute };
  }

  /** The window `now` falls in for `subject`, or null when the limit is off (0). */
  window(name: RateLimitName, subject: string, now = Date.now()): RateLimitWindow | null {
    const limit = this.limits[name];
    if (limit === 0) return null;
    const index = Math.floor(now / RATE_LIMIT_WINDOW_MS);
    const key = (i: number) => `ratelimit:${name}:${subject}:${i}`;
    return { keys: [key(index), key(index - 1)], args: [limit, RATE_LIMIT_WINDOW_MS, now % RATE_LIMIT_WINDOW_MS] };
  }

  /** Counts one request of `subject`; resolves to 0 when allowed, else the seconds to wait. */
  async consume(name: RateLimitName, subject: string, now = Date.now()): Promise<number> {
    const window = this.window(name, subject, now);
    if (!window || !this.redisService.isReady) return 0;
    try {
      return waitSeconds(Number(await this.redis().rateLimitConsume(...window.keys, ...window.args)));
    } catch (error) {
      this.logger.debug(`Rate limit not applied, Redis failed: ${(error as Error).message}`);
      return 0;
    }
  }
}

/** A script's wait in ms as the whole seconds of a Retry-After (0: allowed). */
export const waitSeconds = (waitMs: number) => Math.ceil(waitMs / 1000);

/** The 429 a spent allowance answers. */
export const rateLimited = (seconds: number) =>
  new DomainError('RATE_LIMITED', `Too many requests; retry in ${seconds} s`, { 'retry-after': String(seconds) });
