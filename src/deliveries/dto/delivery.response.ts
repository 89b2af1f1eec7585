import { ApiProperty } from '@nestjs/swagger';
import { DELIVERY_STATUSES } from '../delivery.entity.js';
import type { DeliveryEntity, DeliveryStatus } from '../delivery.entity.js';
import type { DeliveryEventEntity } from '../delivery-event.entity.js';

export class PointDto {
  @ApiProperty() lat!: number;
  @ApiProperty() lon!: number;
}

export class DeliveryResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() sellerOrderId!: string;
  @ApiProperty({ type: String, nullable: true }) channelId!: string | null;
  @ApiProperty({ format: 'uuid' }) driverId!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES }) status!: DeliveryStatus;
  @ApiProperty({ type: PointDto }) pickup!: PointDto;
  @ApiProperty({ type: PointDto, nullable: true }) dropoff!: PointDto | null;
  @ApiProperty({ description: 'Driver to pickup when assigned, metres' }) distanceMeters!: number;
  @ApiProperty({ format: 'date-time' }) assignedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) pickedUpAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) failedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) cancelledAt!: string | null;
  @ApiProperty({ type: String, nullable: true }) failureReason!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class DeliveryPageDto {
  @ApiProperty({ type: [DeliveryResponseDto] }) items!: DeliveryResponseDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

export class DeliveryEventDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'delivery.picked_up' }) type!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES, nullable: true }) fromStatus!: DeliveryStatus | null;
  @ApiProperty({ enum: DELIVERY_STATUSES }) toStatus!: DeliveryStatus;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ example: 'driver:7b0c…', description: 'vendure, admin, driver-backend or driver:<id>' }) actor!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Details, and the requestId that caused the change' })
  data!: Record<string, unknown>;
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

export function toDeliveryResponse(d: DeliveryEntity): DeliveryResponseDto {
  return {
    id: d.id,
    sellerOrderId: d.sellerOrderId,
    channelId: d.channelId,
    driverId: d.driverId,
    status: d.status,
    pickup: { lat: d.pickupLat, lon: d.pickupLon },
    dropoff: d.dropoffLat !== null && d.dropoffLon !== null ? { lat: d.dropoffLat, lon: d.dropoffLon } : null,
    distanceMeters: d.distanceMeters,
    assignedAt: d.assignedAt.toISOString(),
    pickedUpAt: iso(d.pickedUpAt),
    deliveredAt: iso(d.deliveredAt),
    failedAt: iso(d.failedAt),
    cancelledAt: iso(d.cancelledAt),
    failureReason: d.failureReason,
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
  };
}

export function toDeliveryEventResponse(e: DeliveryEventEntity): DeliveryEventDto {
  return {
    id: e.id,
    type: e.type,
    fromStatus: e.fromStatus,
    toStatus: e.toStatus,
    at: e.at.toISOString(),
    actor: e.actor,
    data: e.requestId ? { ...e.data, requestId: e.requestId } : e.data,
  };
}
