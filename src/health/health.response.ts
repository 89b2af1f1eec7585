import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const components = (ref: string) => ({ type: 'object' as const, additionalProperties: { $ref: `#/components/schemas/${ref}` } });

/** One dependency in `GET /health` (v1): up or down. */
export class ComponentHealthDto {
  @ApiProperty({ enum: ['up', 'down'] }) status!: 'up' | 'down';
  @ApiPropertyOptional() message?: string;
}

/** `GET /health` (v1). */
export class HealthReportDto {
  @ApiProperty({ enum: ['ok', 'error'] }) status!: 'ok' | 'error';
  @ApiProperty(components('ComponentHealthDto')) info!: Record<string, ComponentHealthDto>;
  @ApiProperty(components('ComponentHealthDto')) error!: Record<string, ComponentHealthDto>;
  @ApiProperty(components('ComponentHealthDto')) details!: Record<string, ComponentHealthDto>;
}

/** One check in `GET /health/ready`: `database`, `redis` (degraded when down: not decisive) and `process`. */
export class ReadinessCheckDto {
  @ApiProperty({ enum: ['up', 'degraded', 'down'] }) status!: 'up' | 'degraded' | 'down';
  @ApiPropertyOptional({ example: 'shutting down' }) message?: string;
  @ApiPropertyOptional({ description: 'How long the check took (ms)' }) responseTime?: number;
}

/** `GET /health/ready`, terminus's report. */
export class ReadinessReportDto {
  @ApiProperty({ enum: ['ok', 'degraded', 'error'], description: '`degraded`: Redis is down, the service runs on PostgreSQL alone' })
  status!: 'ok' | 'degraded' | 'error';
  @ApiPropertyOptional({ ...components('ReadinessCheckDto'), description: 'The checks that are up or degraded' })
  info?: Record<string, ReadinessCheckDto>;
  @ApiPropertyOptional({ ...components('ReadinessCheckDto'), description: 'The checks that are down' })
  error?: Record<string, ReadinessCheckDto>;
  @ApiProperty(components('ReadinessCheckDto')) details!: Record<string, ReadinessCheckDto>;
}

/** `GET /health/live`. */
export class LivenessDto {
  @ApiProperty({ enum: ['ok'] }) status!: 'ok';
}
