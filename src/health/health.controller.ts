import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { ComponentHealthDto, HealthReportDto } from './health.response.js';
import { HealthService } from './health.service.js';

@ApiTags('operations')
// Referenced by HealthReportDto's maps ($ref), which the document would otherwise leave undefined.
@ApiExtraModels(ComponentHealthDto)
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'Liveness and readiness: 200 unless PostgreSQL is down (Redis down is reported, not fatal)' })
  @ApiResponse({ status: 200, type: HealthReportDto })
  @ApiResponse({ status: 503, type: HealthReportDto, description: 'PostgreSQL is down' })
  async check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthReportDto> {
    const report = await this.health.check();
    reply.status(report.status === 'ok' ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return report;
  }
}
