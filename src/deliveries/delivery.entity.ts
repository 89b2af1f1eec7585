import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const DELIVERY_STATUSES = ['ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

@Entity('deliveries')
export class DeliveryEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' }) id!: string;
  @Column({ name: 'seller_order_id', type: 'varchar', length: 200 }) sellerOrderId!: string;
  @Column({ name: 'channel_id', type: 'varchar', length: 200, nullable: true }) channelId!: string | null;
  @Column({ name: 'driver_id', type: 'uuid' }) driverId!: string;
  @Column({ type: 'varchar', length: 16 }) status!: DeliveryStatus;
  @Column({ name: 'pickup_lat', type: 'double precision' }) pickupLat!: number;
  @Column({ name: 'pickup_lon', type: 'double precision' }) pickupLon!: number;
  @Column({ name: 'dropoff_lat', type: 'double precision', nullable: true }) dropoffLat!: number | null;
  @Column({ name: 'dropoff_lon', type: 'double precision', nullable: true }) dropoffLon!: number | null;
  @Column({ name: 'distance_meters', type: 'double precision' }) distanceMeters!: number;
  @Column({ name: 'assigned_at', type: 'timestamptz' }) assignedAt!: Date;
  @Column({ name: 'picked_up_at', type: 'timestamptz', nullable: true }) pickedUpAt!: Date | null;
  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true }) deliveredAt!: Date | null;
  @Column({ name: 'failed_at', type: 'timestamptz', nullable: true }) failedAt!: Date | null;
  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true }) cancelledAt!: Date | null;
  @Column({ name: 'failure_reason', type: 'varchar', length: 500, nullable: true }) failureReason!: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
