import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { QueryNumber } from '../../common/query-number.js';
import { IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { DriverResponseDto } from '../../drivers/dto/driver.response.js';

const finite = { allowNaN: false, allowInfinity: false };

export class NearbyQuery {
  @ApiProperty({ minimum: -90, maximum: 90 })
  @QueryNumber()
  @IsNumber(finite)
  @Min(-90)
  @Max(90)
  lat!: number;

  @ApiProperty({ minimum: -180, maximum: 180 })
  @QueryNumber()
  @IsNumber(finite)
  @Min(-180)
  @Max(180)
  lon!: number;

  @ApiPropertyOptional({ description: 'Default and maximum: ASSIGNMENT_MAX_RADIUS_KM (at most 100)', minimum: 0.01, maximum: 100 })
  @IsOptional()
  @QueryNumber()
  @IsNumber(finite)
  @Min(0.01)
  @Max(100)
  radiusKm?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 50, default: 10 })
  @IsOptional()
  @QueryNumber()
  @IsInt()
  @Min(1)
  @Max(50)
  limit?: number;
}

export class NearbyDriverDto {
  @ApiProperty({ type: DriverResponseDto }) driver!: DriverResponseDto;
  @ApiProperty({ description: 'Straight-line distance to the point, metres' }) distanceMeters!: number;
}

export class NearbyResponseDto {
  @ApiProperty({ type: [NearbyDriverDto] }) items!: NearbyDriverDto[];
}
