import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQuery } from '../../common/page.query.js';
import { DELIVERY_STATUSES } from '../../deliveries/delivery.entity.js';
import type { DeliveryStatus } from '../../deliveries/delivery.entity.js';

export class DriverDeliveriesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DELIVERY_STATUSES }) @IsOptional() @IsIn(DELIVERY_STATUSES) status?: DeliveryStatus;
}
