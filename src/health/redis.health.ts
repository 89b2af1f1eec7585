import { Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { RedisService } from '../redis/redis.service.js';

/**
 * Redis as a terminus indicator. Redis is a speed layer: every path falls
 * back to PostgreSQL without it, so when it is down (or not configured) the
 * indicator says `degraded`, which terminus reports without failing the check.
 * `circuit open`: connected, but it stopped answering (redis-breaker.ts).
 */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly redis: RedisService,
  ) {}

  async check(key: string, timeoutMs: number): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    if (await this.redis.ping(timeoutMs)) return indicator.up();
    const message = !this.redis.client ? 'not configured' : this.redis.circuitOpen ? 'circuit open' : 'unreachable';
    return indicator.degraded({ message });
  }
}
