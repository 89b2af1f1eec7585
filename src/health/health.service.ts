import { Injectable } from '@nestjs/common';
import { HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { RedisService } from '../redis/redis.service.js';
import { ComponentHealthDto, HealthReportDto } from './health.response.js';

/** Each dependency gets this long to answer, so a hung one cannot hang the check. */
export const HEALTH_TIMEOUT_MS = 1_500;

/**
 * PostgreSQL decides health (it is the source of truth); Redis is reported
 * but its absence does not make the service unhealthy, because every path
 * falls back to PostgreSQL.
 */
@Injectable()
export class HealthService {
  constructor(
    private readonly terminus: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: RedisService,
  ) {}

  async check(): Promise<HealthReportDto> {
    const [database, redisUp] = await Promise.all([this.checkDatabase(), this.redis.ping(HEALTH_TIMEOUT_MS)]);
    const redis: ComponentHealthDto = redisUp
      ? { status: 'up' }
      : { status: 'down', message: this.redis.client ? 'unreachable' : 'not configured' };
    const details = { database, redis };
    return database.status === 'up'
      ? { status: 'ok', info: details, error: {}, details }
      : { status: 'error', info: { redis }, error: { database }, details };
  }

  private async checkDatabase(): Promise<ComponentHealthDto> {
    try {
      await this.terminus.check([() => this.database.pingCheck('database', { timeout: HEALTH_TIMEOUT_MS })]);
      return { status: 'up' };
    } catch {
      return { status: 'down', message: 'unreachable or not answering' };
    }
  }
}
