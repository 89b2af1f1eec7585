import { Controller, Get, Header, Headers, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiSecurity, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/auth.decorators.js';
import { bearerToken, secretMatcher } from '../auth/secret-compare.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from './metrics.service.js';

@Controller('metrics')
export class MetricsController {
  private readonly isMetricsToken?: (token: string) => boolean;

  constructor(
    private readonly metrics: MetricsService,
    config: AppConfig,
  ) {
    if (config.metricsToken) this.isMetricsToken = secretMatcher(config.metricsToken);
  }

  /** Prometheus text format. Open, unless METRICS_TOKEN is set: then `Authorization: Bearer <METRICS_TOKEN>`. */
  @Get()
  @Public()
  @ApiTags('operations')
  // Open (no credentials), or the METRICS_TOKEN when that is set.
  @ApiSecurity({})
  @ApiSecurity('metricsToken')
  @ApiOperation({
    summary: 'Prometheus metrics (open, or Bearer METRICS_TOKEN when that is set)',
    description:
      "HTTP requests by route template and status, with latencies; the domain's counters and gauges (assignments, drivers online and choosable, webhooks); Node's defaults.",
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format', schema: { type: 'string' } })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'UNAUTHENTICATED: METRICS_TOKEN is set and was not sent' })
  @Header('cache-control', 'no-store')
  async scrape(@Headers('authorization') authorization: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    if (this.isMetricsToken && !this.isMetricsToken(bearerToken(authorization) ?? '')) {
      throw new DomainError('UNAUTHENTICATED', 'Send Authorization: Bearer <METRICS_TOKEN>');
    }
    void reply.header('content-type', this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}
