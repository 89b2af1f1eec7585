import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ComponentHealthDto {
  @ApiProperty({ enum: ['up', 'down'] }) status!: 'up' | 'down';
  @ApiPropertyOptional() message?: string;
}

export class HealthReportDto {
  @ApiProperty({ enum: ['ok', 'error'] }) status!: 'ok' | 'error';
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/ComponentHealthDto' } })
  info!: Record<string, ComponentHealthDto>;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/ComponentHealthDto' } })
  error!: Record<string, ComponentHealthDto>;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/ComponentHealthDto' } })
  details!: Record<string, ComponentHealthDto>;
}
