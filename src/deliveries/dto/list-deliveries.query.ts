import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID } from 'class-validator';
import { PageQuery } from '../../common/page.query.js';
import { DELIVERY_STATUSES } from '../delivery.entity.js';
import type { DeliveryStatus } from '../delivery.entity.js';
import { MaxChars } from '../../common/max-chars.decorator.js';

export class ListDeliveriesQuery extends PageQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxChars(200) sellerOrderId?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() driverId?: string;
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES }) @IsOptional() @IsIn(DELIVERY_STATUSES) status?: DeliveryStatus;
}
