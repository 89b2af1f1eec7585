import type { DispatchMode } from '../config/app-config.js';
import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const DELIVERY_STATUSES = ['PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED', 'EXPIRED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

@Entity('deliveries')
export class DeliveryEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' }) id!: string;
  @Column({ name: 'seller_order_id', type: 'varchar', length: 200 }) sellerOrderId!: string;
  @Column({ name: 'channel_id', type: 'varchar', length: 200, nullable: true }) channelId!: string | null;
  @Column({ name: 'driver_id', type: 'uuid', nullable: true }) driverId!: string | null;
  @Column({ type: 'varchar', length: 16 }) status!: DeliveryStatus;
  @Column({ name: 'pickup_lat', type: 'double precision' }) pickupLat!: number;
  @Column({ name: 'pickup_lon', type: 'double precision' }) pickupLon!: number;
  @Column({ name: 'dropoff_lat', type: 'double precision', nullable: true }) dropoffLat!: number | null;
  @Column({ name: 'dropoff_lon', type: 'double precision', nullable: true }) dropoffLon!: number | null;
  @Column({ name: 'distance_meters', type: 'double precision', nullable: true }) distanceMeters!: number | null;
  @Column({ name: 'assigned_at', type: 'timestamptz', nullable: true }) assignedAt!: Date | null;
  @Column({ name: 'pending_at', type: 'timestamptz', nullable: true }) pendingAt!: Date | null;
  @Column({ name: 'offered_at', type: 'timestamptz', nullable: true }) offeredAt!: Date | null;
  @Column({ name: 'expired_at', type: 'timestamptz', nullable: true }) expiredAt!: Date | null;
  @Column({ name: 'picked_up_at', type: 'timestamptz', nullable: true }) pickedUpAt!: Date | null;
  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true }) deliveredAt!: Date | null;
  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true }) failedAt!: Date | null;
  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true }) cancelledAt!: Date | null;
  @Column({ name: 'failure_reason', type: 'varchar', length: 500, nullable: true }) failureReason!: string | null;
  @Column({ name: 'dispatch_mode', type: 'varchar', length: 8, default: 'auto' }) dispatchMode!: DispatchMode;
  @Column({ name: 'max_wait_seconds', type: 'integer', default: 0 }) maxWaitSeconds!: number;
  /** 1 for the first driver, +1 each time the order goes back to PENDING. */
  @Column({ type: 'integer', default: 1 }) attempt!: number;
  @Column({ name: 'wait_until', type: 'timestamptz', nullable: true }) waitUntil!: Date | null;
  @Column({ name: 'offer_expires_at', type: 'timestamptz', nullable: true }) offerExpiresAt!: Date | null;
  @Column({ name: 'due_at', type: 'timestamptz', nullable: true }) dueAt!: Date | null;
  @Column({ name: 'wait_cell', type: 'bigint', nullable: true }) waitCell!: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
