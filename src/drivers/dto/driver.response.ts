import { ApiProperty } from '@nestjs/swagger';
import { DRIVER_STATUSES } from '../../fleet/driver.entity.js';
import type { DriverEntity, DriverStatus } from '../../fleet/driver.entity.js';

export class LocationDto {
  @ApiProperty({ example: 52.52 }) lat!: number;
  @ApiProperty({ example: 13.405 }) lon!: number;
  @ApiProperty({ format: 'date-time' }) recordedAt!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'Horizontal accuracy of the point, metres; null when the phone gave none' })
  accuracy!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Degrees clockwise from north; null when the phone gave none' })
  heading!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Metres per second; null when the phone gave none' })
  speed!: number | null;
}

export class DriverResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ example: '+4915112345678' }) phone!: string;
  @ApiProperty({ type: String, nullable: true }) vehicleType!: string | null;
  @ApiProperty({ enum: DRIVER_STATUSES }) status!: DriverStatus;
  @ApiProperty() isActive!: boolean;
  @ApiProperty({ type: LocationDto, nullable: true }) lastLocation!: LocationDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class CreatedDriverResponseDto extends DriverResponseDto {
  @ApiProperty({ description: 'The driver token. Shown once: only its hash is stored.' })
  token!: string;
}

export class DriverPageDto {
  @ApiProperty({ type: [DriverResponseDto] }) items!: DriverResponseDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as ?cursor= for the next page; null on the last page' })
  nextCursor!: string | null;
}

export class DriverTokenResponseDto {
  @ApiProperty({ description: 'The new driver token; earlier tokens stop working within 60 s' })
  token!: string;
}

/** The wire shape of a driver; columns not listed here never leave the service. */
export function toDriverResponse(driver: DriverEntity): DriverResponseDto {
  return {
    id: driver.id,
    name: driver.name,
    phone: driver.phone,
    vehicleType: driver.vehicleType,
    status: driver.status,
    isActive: driver.isActive,
    lastLocation:
      driver.lastLat !== null && driver.lastLon !== null && driver.lastLocationAt !== null
        ? {
            lat: driver.lastLat,
            lon: driver.lastLon,
            recordedAt: driver.lastLocationAt.toISOString(),
            accuracy: driver.lastAccuracy,
            heading: driver.lastHeading,
            speed: driver.lastSpeed,
          }
        : null,
    createdAt: driver.createdAt.toISOString(),
    updatedAt: driver.updatedAt.toISOString(),
  };
}
