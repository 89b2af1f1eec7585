import { ApiPropertyOptional } from '@nestjs/swagger';
import { QueryNumber } from '../../common/query-number.js';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import { DELIVERY_STATUSES } from '../delivery.entity.js';
import type { DeliveryStatus } from '../delivery.entity.js';

export class ListDeliveriesQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) sellerOrderId?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() driverId?: string;
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES }) @IsOptional() @IsIn(DELIVERY_STATUSES) status?: DeliveryStatus;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @QueryNumber()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) cursor?: string;
}
