import { ApiProperty } from '@nestjs/swagger';
import { DELIVERY_STATUSES } from '../delivery.entity.js';
import type { DeliveryEntity, DeliveryStatus } from '../delivery.entity.js';
import type { DeliveryEventEntity } from '../delivery-event.entity.js';

/** The state machine, as the OpenAPI document states it (drawn in docs/delivery-states.mmd). */
const DELIVERY_STATES_TEXT = [
  'ready → PENDING (no driver in reach, the order may wait) → OFFERED (offer mode) → ASSIGNED → PICKED_UP → DELIVERED;',
  'a ready order with a driver in reach starts OFFERED or ASSIGNED; auto mode goes PENDING → ASSIGNED.',
  'OFFERED | ASSIGNED → PENDING: decline, offer timeout, reassignment, driver lost (attempt + 1).',
  'PENDING → EXPIRED: no driver before waitUntil. ASSIGNED | PICKED_UP → FAILED.',
  'PENDING | OFFERED | ASSIGNED | PICKED_UP → CANCELLED. DELIVERED, FAILED, CANCELLED and EXPIRED are final.',
].join(' ');

export class PointDto {
  @ApiProperty() lat!: number;
  @ApiProperty() lon!: number;
}

export class DeliveryResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() sellerOrderId!: string;
  @ApiProperty({ type: String, nullable: true }) channelId!: string | null;
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'null while PENDING (and when it EXPIRED, or was cancelled, waiting)',
  })
  driverId!: string | null;
  @ApiProperty({ enum: DELIVERY_STATUSES, description: DELIVERY_STATES_TEXT }) status!: DeliveryStatus;
  @ApiProperty({ type: PointDto }) pickup!: PointDto;
  @ApiProperty({ type: PointDto, nullable: true }) dropoff!: PointDto | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Driver to pickup when offered or assigned, metres; null while PENDING' })
  distanceMeters!: number | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'null until a driver is assigned' })
  assignedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) pickedUpAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) failedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) cancelledAt!: string | null;
  @ApiProperty({ type: String, nullable: true }) failureReason!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ enum: ['auto', 'offer'], description: 'auto: assigned at once; offer: the driver must accept' }) dispatchMode!: string;
  @ApiProperty({ description: '1 for the first driver, +1 each time the order went back to PENDING' }) attempt!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'While OFFERED: when the offer times out' })
  offerExpiresAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'While PENDING: when the order EXPIRES if no driver took it',
  })
  waitUntil!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) pendingAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) offeredAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiredAt!: string | null;
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
    assignedAt: iso(d.assignedAt),
    pickedUpAt: iso(d.pickedUpAt),
    deliveredAt: iso(d.deliveredAt),
    failedAt: iso(d.failedAt),
    cancelledAt: iso(d.cancelledAt),
    failureReason: d.failureReason,
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
    dispatchMode: d.dispatchMode,
    attempt: d.attempt,
    offerExpiresAt: d.status === 'OFFERED' ? iso(d.offerExpiresAt) : null,
    waitUntil: d.status === 'PENDING' ? iso(d.waitUntil) : null,
    pendingAt: iso(d.pendingAt),
    offeredAt: iso(d.offeredAt),
    expiredAt: iso(d.expiredAt),
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
