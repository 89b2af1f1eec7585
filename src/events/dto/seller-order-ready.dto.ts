import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsNumber, IsOptional, IsString, Max, Min, ValidateIf } from 'class-validator';
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
}

export class SellerOrderReadyAnswerDto {
  @ApiProperty() assigned!: boolean;
  @ApiProperty() sellerOrderId!: string;
  @ApiPropertyOptional({ format: 'uuid' }) deliveryId?: string;
  @ApiPropertyOptional({ format: 'uuid' }) driverId?: string;
  @ApiPropertyOptional({ description: 'Driver to pickup, metres' }) distanceMeters?: number;
  @ApiPropertyOptional({ enum: ['NO_DRIVER_AVAILABLE'] }) reason?: 'NO_DRIVER_AVAILABLE';
}
