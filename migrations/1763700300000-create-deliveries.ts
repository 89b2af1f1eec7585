import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateDeliveries1763700300000 implements MigrationInterface {
  name = 'CreateDeliveries1763700300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seller_order_id varchar(200) NOT NULL,
        channel_id varchar(200),
        driver_id uuid NOT NULL REFERENCES drivers (id),
        status varchar(16) NOT NULL CONSTRAINT deliveries_status_check
          CHECK (status IN ('ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED')),
        pickup_lat double precision NOT NULL,
        pickup_lon double precision NOT NULL,
        dropoff_lat double precision,
        dropoff_lon double precision,
        distance_meters double precision NOT NULL,
        assigned_at timestamptz NOT NULL DEFAULT now(),
        picked_up_at timestamptz,
        delivered_at timestamptz,
        failed_at timestamptz,
        cancelled_at timestamptz,
        failure_reason varchar(500),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The last line against double assignment: one live delivery per order, and one per driver.
    await queryRunner.query(`
      CREATE UNIQUE INDEX deliveries_live_seller_order_key ON deliveries (seller_order_id)
      WHERE status IN ('ASSIGNED', 'PICKED_UP')`);
    await queryRunner.query(`
      CREATE UNIQUE INDEX deliveries_live_driver_key ON deliveries (driver_id)
      WHERE status IN ('ASSIGNED', 'PICKED_UP')`);
    await queryRunner.query(`CREATE INDEX deliveries_seller_order_idx ON deliveries (seller_order_id, created_at)`);
    await queryRunner.query(`CREATE INDEX deliveries_driver_idx ON deliveries (driver_id, created_at)`);
    await queryRunner.query(`CREATE INDEX deliveries_created_at_id_idx ON deliveries (created_at, id)`);

    // The audit trail: one row per state change, in order.
    await queryRunner.query(`
      CREATE TABLE delivery_events (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq integer GENERATED ALWAYS AS IDENTITY,
        delivery_id uuid NOT NULL REFERENCES deliveries (id),
        type varchar(40) NOT NULL,
        from_status varchar(16),
        to_status varchar(16) NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        actor varchar(80) NOT NULL,
        request_id varchar(128),
        data jsonb NOT NULL DEFAULT '{}'
      )`);
    await queryRunner.query(`CREATE INDEX delivery_events_delivery_seq_idx ON delivery_events (delivery_id, seq)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE delivery_events`);
    await queryRunner.query(`DROP TABLE deliveries`);
  }
}
