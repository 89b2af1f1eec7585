import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { ComponentHealthDto, HealthReportDto, LivenessDto, ReadinessCheckDto, ReadinessReportDto } from './health.response.js';
import { HealthService } from './health.service.js';

@ApiTags('operations')
// Referenced by the reports' maps ($ref), which the document would otherwise leave undefined.
@ApiExtraModels(ComponentHealthDto, ReadinessCheckDto)
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Health (v1): 200 unless PostgreSQL is down (Redis down is reported, not fatal)',
    description:
      'Kept for v1 monitors. PostgreSQL and Redis are checked in parallel, each within 1.5 s; a Redis down or not configured is reported `down` under `info`, and the answer stays 200.',
  })
  @ApiResponse({ status: 200, type: HealthReportDto })
  @ApiResponse({ status: 503, type: HealthReportDto, description: 'PostgreSQL is down' })
  async check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthReportDto> {
    const report = await this.health.v1();
    reply.status(report.status === 'ok' ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return report;
  }

  @Get('live')
  @Public()
  @ApiOperation({
    summary: 'Liveness: 200 while the process runs; no dependency is checked',
    description:
      'For a liveness probe: restarting the process would not bring a database back, so nothing but the process itself is checked.',
  })
  @ApiResponse({ status: 200, type: LivenessDto })
  live(): LivenessDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({
    summary: 'Readiness: 200 when PostgreSQL answers and the process is not shutting down',
    description:
      'Redis down is reported as `degraded` and keeps the answer 200. On SIGTERM this answers 503 for SHUTDOWN_GRACE_SECONDS while requests are still served.',
  })
  @ApiResponse({ status: 200, type: ReadinessReportDto })
  @ApiResponse({ status: 503, type: ReadinessReportDto, description: 'PostgreSQL is down, or the process is shutting down' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<ReadinessReportDto> {
    const report = await this.health.readiness();
    reply.status(report.status === 'error' ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.OK);
    return report as ReadinessReportDto;
  }
}
