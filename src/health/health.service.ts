import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckResult, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { ComponentHealthDto, HealthReportDto } from './health.response.js';
import { Lifecycle } from './lifecycle.js';
import { RedisHealthIndicator } from './redis.health.js';

/** Each dependency gets this long to answer, so a hung one cannot hang the check. */
export const HEALTH_TIMEOUT_MS = 1_500;

/**
 * The health checks, run by terminus. PostgreSQL decides (it is the source of
 * truth); Redis is reported, never decisive, because every path falls back to
 * PostgreSQL. Readiness also fails while the process shuts down.
 */
@Injectable()
export class HealthService {
  constructor(
    private readonly terminus: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    private readonly lifecycle: Lifecycle,
  ) {}

  /** `GET /health/ready`: ok (or degraded, Redis down) while PostgreSQL answers and the process is not draining. */
  readiness(): Promise<HealthCheckResult> {
    return this.run([
      () => this.database.pingCheck('database', { timeout: HEALTH_TIMEOUT_MS }),
      () => this.redis.check('redis', HEALTH_TIMEOUT_MS),
      () => {
        const process = this.indicators.check('process');
        return this.lifecycle.shuttingDown ? process.down({ message: 'shutting down' }) : process.up();
      },
    ]);
  }

  /**
   * `GET /health`, v1: the dependencies only (a draining process is still
   * healthy), each `up` or `down`, and `ok` unless PostgreSQL is down.
   */
  async v1(): Promise<HealthReportDto> {
    const result = await this.run([
      () => this.database.pingCheck('database', { timeout: HEALTH_TIMEOUT_MS }),
      () => this.redis.check('redis', HEALTH_TIMEOUT_MS),
    ]);
    const v1 = (component: Record<string, unknown>): ComponentHealthDto => ({
      status: component.status === 'up' ? 'up' : 'down',
      ...(typeof component.message === 'string' && { message: component.message }),
    });
    const details = Object.fromEntries(Object.entries(result.details).map(([key, component]) => [key, v1(component)]));
    const { database, ...others } = details;
    return database.status === 'up'
      ? { status: 'ok', info: details, error: {}, details }
      : { status: 'error', info: others, error: { database }, details };
  }

  /** Terminus throws a 503 carrying the result when a check fails; here it is the answer either way. */
  private async run(checks: Parameters<HealthCheckService['check']>[0]): Promise<HealthCheckResult> {
    try {
      return await this.terminus.check(checks);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) return error.getResponse() as HealthCheckResult;
      throw error;
    }
  }
}
