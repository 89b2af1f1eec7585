import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsNotEmpty, IsOptional, IsString } from 'class-validator';
import { MaxChars } from '../../common/max-chars.decorator.js';

export const REPORTABLE_STATUSES = ['PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED'] as const;

export class UpdateDeliveryStatusDto {
  @ApiProperty({ enum: REPORTABLE_STATUSES, description: 'CANCELLED: operators only' })
  @IsIn(REPORTABLE_STATUSES, { message: `status must be one of ${REPORTABLE_STATUSES.join(', ')}` })
  status!: (typeof REPORTABLE_STATUSES)[number];

  @ApiPropertyOptional({ maxLength: 500, description: 'Why (kept as failureReason for FAILED)' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @IsNotEmpty()
  @MaxChars(500)
  reason?: string;
}
