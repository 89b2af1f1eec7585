import { ApiProperty } from '@nestjs/swagger';
import { DELIVERY_STATUSES } from '../../deliveries/delivery.entity.js';
import type { DeliveryStatus } from '../../deliveries/delivery.entity.js';
import { PointDto } from '../../deliveries/dto/delivery.response.js';

export class TrackingLinkDto {
  @ApiProperty({
    description: "The link's secret, shown once: 256 bits, `trk_` and 43 base64url characters. Only its SHA-256 is stored.",
    example: 'trk_4fJ0iM0nq8mC2o5-6bWc1dVXq0m8zH2ZyYt3aQ7rS9k',
  })
  token!: string;
  @ApiProperty({ description: 'The tracking page for the customer: PUBLIC_BASE_URL/track/{token}/page' })
  url!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the link stops working: TRACKING_LINK_TTL_SECONDS after the delivery ends; null while the delivery is in progress',
  })
  expiresAt!: string | null;
}

export class TrackedDriverDto {
  @ApiProperty({ description: "The driver's first name only" }) name!: string;
  @ApiProperty({ type: String, nullable: true }) vehicleType!: string | null;
}

export class TrackedPositionDto {
  @ApiProperty() lat!: number;
  @ApiProperty() lon!: number;
  @ApiProperty({ format: 'date-time' }) recordedAt!: string;
}

export class TrackingViewDto {
  @ApiProperty({ enum: DELIVERY_STATUSES }) status!: DeliveryStatus;
  @ApiProperty({ type: TrackedDriverDto, nullable: true, description: 'null while no driver holds the delivery' })
  driver!: TrackedDriverDto | null;
  @ApiProperty({ type: TrackedPositionDto, nullable: true, description: "The driver's last position, only while ASSIGNED or PICKED_UP" })
  position!: TrackedPositionDto | null;
  @ApiProperty({
    type: Number,
    nullable: true,
    description:
      "Seconds to the pickup while ASSIGNED, to the drop-off while PICKED_UP (straight line at the vehicle type's speed); null otherwise",
  })
  etaSeconds!: number | null;
  @ApiProperty({ type: PointDto }) pickup!: PointDto;
  @ApiProperty({ type: PointDto, nullable: true }) dropoff!: PointDto | null;
  @ApiProperty({ format: 'date-time', description: "The later of the delivery's last change and the position shown" }) updatedAt!: string;
}
