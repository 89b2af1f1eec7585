import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQuery } from '../../common/page.query.js';
import { DRIVER_STATUSES } from '../../fleet/driver.entity.js';
import type { DriverStatus } from '../../fleet/driver.entity.js';

export class ListDriversQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DRIVER_STATUSES })
  @IsOptional()
  @IsIn(DRIVER_STATUSES)
  status?: DriverStatus;
}
