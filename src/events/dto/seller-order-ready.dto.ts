import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsNotEmpty, IsNumber, IsOptional, IsString, Max, Min, ValidateIf } from 'class-validator';
import { DISPATCH_MODES } from '../../config/app-config.js';
import type { DispatchMode } from '../../config/app-config.js';
import { MaxChars } from '../../common/max-chars.decorator.js';

const finite = { allowNaN: false, allowInfinity: false };

export class SellerOrderReadyDto {
  @ApiProperty({ example: 'SO-1001', maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxChars(200)
  sellerOrderId!: string;

  @ApiProperty({ example: 52.52 }) @IsNumber(finite) @Min(-90) @Max(90) pickupLat!: number;
  @ApiProperty({ example: 13.405 }) @IsNumber(finite) @Min(-180) @Max(180) pickupLon!: number;

  @ApiPropertyOptional({ example: 52.51, description: 'Together with dropoffLon' })
  @ValidateIf((o: SellerOrderReadyDto) => o.dropoffLat !== undefined || o.dropoffLon !== undefined)
  @IsNumber(finite)
  @Min(-90)
  @Max(90)
  dropoffLat?: number;

  @ApiPropertyOptional({ example: 13.39, description: 'Together with dropoffLat' })
  @ValidateIf((o: SellerOrderReadyDto) => o.dropoffLat !== undefined || o.dropoffLon !== undefined)
  @IsNumber(finite)
  @Min(-180)
  @Max(180)
  dropoffLon?: number;

  @ApiPropertyOptional({ example: 'default', maxLength: 200 })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxChars(200)
  channelId?: string;

  @ApiPropertyOptional({ enum: DISPATCH_MODES, description: "This order's dispatch mode (default: DISPATCH_MODE)" })
  @IsOptional()
  @IsIn(DISPATCH_MODES)
  dispatchMode?: DispatchMode;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 86_400,
    description:
      'How long this order waits for a driver in reach, seconds (default: DISPATCH_MAX_WAIT_SECONDS; 0: answer NO_DRIVER_AVAILABLE and keep nothing)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400)
  maxWaitSeconds?: number;
}

/**
 * `assigned: true`: ASSIGNED (status named when the order uses dispatch
 * settings); `status: OFFERED`: a driver holds an offer until
 * offerExpiresAt; `status: PENDING`: no driver in reach, the order waits
 * until waitUntil; no status and no deliveryId: no driver, nothing kept (v1).
 */
export class SellerOrderReadyAnswerDto {
  @ApiProperty({ description: 'true once a driver is assigned' }) assigned!: boolean;
  @ApiPropertyOptional({ enum: ['PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP'], description: "The live delivery's status" })
  status?: string;
  @ApiProperty() sellerOrderId!: string;
  @ApiPropertyOptional({ format: 'uuid' }) deliveryId?: string;
  @ApiPropertyOptional({ format: 'uuid' }) driverId?: string;
  @ApiPropertyOptional({ description: 'Driver to pickup, metres' }) distanceMeters?: number;
  @ApiPropertyOptional({ enum: ['NO_DRIVER_AVAILABLE'] }) reason?: 'NO_DRIVER_AVAILABLE';
  @ApiPropertyOptional({ format: 'date-time', description: 'OFFERED: when the offer times out' }) offerExpiresAt?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'PENDING: when the order EXPIRES if no driver takes it' }) waitUntil?: string;
}
