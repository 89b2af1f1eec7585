import { ApiPropertyOptional } from '@nestjs/swagger';
import { QueryNumber } from '../../common/query-number.js';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { DRIVER_STATUSES } from '../driver.entity.js';
import type { DriverStatus } from '../driver.entity.js';

export class ListDriversQuery {
  @ApiPropertyOptional({ enum: DRIVER_STATUSES })
  @IsOptional()
  @IsIn(DRIVER_STATUSES)
  status?: DriverStatus;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @QueryNumber()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}
