import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DELIVERY_STATUSES } from '../delivery.entity.js';
import type { DeliveryStatus } from '../delivery.entity.js';
import { EVENT_TYPES } from '../delivery-state-machine.js';
import type { DeliveryWebhookData, DeliveryWebhookPayload, DeliveryWebhookType } from '../delivery-webhook.js';

/** DeliveryWebhookData for the OpenAPI document: a field the payload gains or loses without this class does not compile. */
export class DeliveryWebhookDataDto implements Required<DeliveryWebhookData> {
  @ApiProperty({ format: 'uuid' }) deliveryId!: string;
  @ApiProperty({ example: 'SO-1001' }) sellerOrderId!: string;
  @ApiProperty({ type: String, nullable: true, example: 'default' }) channelId!: string | null;
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'null while the delivery waits for a driver (PENDING), and once it EXPIRED',
  })
  driverId!: string | null;
  @ApiProperty({ enum: DELIVERY_STATUSES, description: "The delivery's status after the change" }) status!: DeliveryStatus;
  @ApiProperty({ type: Number, nullable: true, description: 'Driver to pickup, metres; null while no driver holds the delivery' })
  distanceMeters!: number | null;
  @ApiProperty({ format: 'date-time', description: 'When the change was recorded: the same instant as `timestamp`' }) occurredAt!: string;
  @ApiProperty({ type: 'integer', minimum: 1, description: '1 for the first driver, +1 each time the order went back to PENDING' })
  attempt!: number;
  @ApiPropertyOptional({
    description:
      'Why the change happened, when it has a reason: NO_DRIVER_AVAILABLE, DECLINED, OFFER_TIMEOUT, REASSIGNED, DRIVER_LOST, or the reason a driver or Vendure gave',
  })
  reason!: string;
  @ApiPropertyOptional({ description: 'The x-request-id of the request that caused the change, when one did' }) requestId!: string;
  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 0,
    description:
      'On delivery.assigned and delivery.picked_up only: seconds from the driver to the pickup, or to the drop-off once picked up ' +
      "(straight line at the vehicle type's ETA_SPEEDS_KMH speed); null when the driver has no position or the order no drop-off",
  })
  etaSeconds!: number | null;
}

/** The body of every `delivery.*` webhook (DeliveryWebhookPayload), for the OpenAPI document. */
export class DeliveryWebhookDto implements DeliveryWebhookPayload {
  @ApiProperty({ enum: Object.values(EVENT_TYPES), example: 'delivery.assigned' }) type!: DeliveryWebhookType;
  @ApiProperty({ format: 'date-time', description: 'When the change was recorded: ISO-8601 UTC, to the millisecond' }) timestamp!: string;
  @ApiProperty({ type: DeliveryWebhookDataDto }) data!: DeliveryWebhookDataDto;
}
