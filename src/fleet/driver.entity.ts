import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const DRIVER_STATUSES = ['AVAILABLE', 'BUSY', 'OFFLINE'] as const;
export type DriverStatus = (typeof DRIVER_STATUSES)[number];

@Entity('drivers')
export class DriverEntity {
  @PrimaryColumn({ type: 'uuid', default: () => 'gen_random_uuid()' })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 32, unique: true })
  phone!: string;

  @Column({ name: 'vehicle_type', type: 'varchar', length: 50, nullable: true })
  vehicleType!: string | null;

  @Column({ type: 'varchar', length: 16, default: 'OFFLINE' })
  status!: DriverStatus;

  @Column({ name: 'is_active', type: 'boolean', default: true })
  isActive!: boolean;

  /** SHA-256 of the driver's current token; the token itself is never stored. */
  @Column({ name: 'token_hash', type: 'char', length: 64, unique: true, select: false })
  tokenHash!: string;

  /** Bumped on every change of status or isActive; lets Redis refuse an older state. */
  @Column({ name: 'state_version', type: 'integer', default: 0 })
  stateVersion!: number;

  @Column({ name: 'last_lat', type: 'double precision', nullable: true })
  lastLat!: number | null;

  @Column({ name: 'last_lon', type: 'double precision', nullable: true })
  lastLon!: number | null;

  @Column({ name: 'last_location_at', type: 'timestamptz', nullable: true })
  lastLocationAt!: Date | null;

  /** Of the last point, as the phone reported them: metres, degrees from north, metres per second. */
  @Column({ name: 'last_accuracy', type: 'double precision', nullable: true })
  lastAccuracy!: number | null;

  @Column({ name: 'last_heading', type: 'double precision', nullable: true })
  lastHeading!: number | null;

  @Column({ name: 'last_speed', type: 'double precision', nullable: true })
  lastSpeed!: number | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
