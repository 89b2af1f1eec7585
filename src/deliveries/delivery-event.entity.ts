import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { DeliveryStatus } from './delivery.entity.js';

/** One state change of a delivery: the audit trail. */
@Entity('delivery_events')
export class DeliveryEventEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' }) id!: string;
  @Column({ type: 'integer', insert: false, update: false }) seq!: number;
  @Column({ name: 'delivery_id', type: 'uuid' }) deliveryId!: string;
  @Column({ type: 'varchar', length: 40 }) type!: string;
  @Column({ name: 'from_status', type: 'varchar', length: 16, nullable: true }) fromStatus!: DeliveryStatus | null;
  @Column({ name: 'to_status', type: 'varchar', length: 16 }) toStatus!: DeliveryStatus;
  @Column({ type: 'timestamptz' }) at!: Date;
  @Column({ type: 'varchar', length: 80 }) actor!: string;
  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true }) requestId!: string | null;
  @Column({ type: 'jsonb' }) data!: Record<string, unknown>;
}
