import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dispatch (contract v2): deliveries that wait for a driver (PENDING), offers
 * (OFFERED) and orders no driver took in time (EXPIRED); the drivers who
 * refused an order; the durable due time of every dispatch timer.
 */
export class Dispatch1763700800000 implements MigrationInterface {
  name = 'Dispatch1763700800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE deliveries
        ALTER COLUMN driver_id DROP NOT NULL,
        ALTER COLUMN distance_meters DROP NOT NULL,
        ALTER COLUMN assigned_at DROP NOT NULL,
        DROP CONSTRAINT deliveries_status_check,
        ADD CONSTRAINT deliveries_status_check
          CHECK (status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED', 'EXPIRED')),
        ADD COLUMN dispatch_mode varchar(8) NOT NULL DEFAULT 'auto' CONSTRAINT deliveries_dispatch_mode_check
          CHECK (dispatch_mode IN ('auto', 'offer')),
        ADD COLUMN max_wait_seconds integer NOT NULL DEFAULT 0,
        -- 1 for the first driver, +1 each time the order goes back to PENDING.
        ADD COLUMN attempt integer NOT NULL DEFAULT 1,
        ADD COLUMN pending_at timestamptz,
        ADD COLUMN offered_at timestamptz,
        ADD COLUMN expired_at timestamptz,
        ADD COLUMN wait_until timestamptz,
        ADD COLUMN offer_expires_at timestamptz,
        -- When a dispatch timer of the delivery is next due (offer timeout, end of the wait, a
        -- dispatch attempt to retry); null when none is.
        ADD COLUMN due_at timestamptz,
        -- The cell of the pickup on the waiting-order grid (src/dispatch/waiting-grid.ts), and when the
        -- order was ready (its created_at): waiting orders are taken oldest first by (wait_cell, ready_at).
        -- A column of its own, so that only deliveries_waiting_idx gives that order.
        ADD COLUMN wait_cell bigint,
        ADD COLUMN ready_at timestamptz,
        ADD CONSTRAINT deliveries_driver_check
          CHECK (driver_id IS NOT NULL OR status IN ('PENDING', 'EXPIRED', 'CANCELLED'))`);
    // The last line against double assignment, now with waiting orders and offers: one live
    // delivery per order, one live delivery or offer per driver.
    await queryRunner.query(`DROP INDEX deliveries_live_seller_order_key`);
    await queryRunner.query(`
      CREATE UNIQUE INDEX deliveries_live_seller_order_key ON deliveries (seller_order_id)
      WHERE status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')`);
    await queryRunner.query(`DROP INDEX deliveries_live_driver_key`);
    await queryRunner.query(`
      CREATE UNIQUE INDEX deliveries_live_driver_key ON deliveries (driver_id)
      WHERE status IN ('OFFERED', 'ASSIGNED', 'PICKED_UP')`);
    // The timers that are due, soonest first; the waiting orders by place, oldest first; the
    // assigned drivers the lost-driver check looks at.
    await queryRunner.query(`CREATE INDEX deliveries_due_idx ON deliveries (due_at) WHERE due_at IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX deliveries_waiting_idx ON deliveries (wait_cell, ready_at, id) WHERE status = 'PENDING'`);
    await queryRunner.query(`CREATE INDEX deliveries_assigned_idx ON deliveries (driver_id) WHERE status = 'ASSIGNED'`);

    // The drivers an order must not be offered to again: they declined it, let its offer time out,
    // were taken off it or were lost on it.
    await queryRunner.query(`
      CREATE TABLE delivery_refusals (
        delivery_id uuid NOT NULL REFERENCES deliveries (id),
        driver_id uuid NOT NULL REFERENCES drivers (id),
        kind varchar(16) NOT NULL CHECK (kind IN ('declined', 'timed-out', 'reassigned', 'lost')),
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (delivery_id, driver_id)
      )`);
    // Offers a driver let time out in a row; OFFER_TIMEOUTS_BEFORE_OFFLINE of them set it OFFLINE.
    await queryRunner.query(`ALTER TABLE drivers ADD COLUMN offer_timeouts_in_a_row integer NOT NULL DEFAULT 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE drivers DROP COLUMN offer_timeouts_in_a_row`);
    await queryRunner.query(`DROP TABLE delivery_refusals`);
    await queryRunner.query(`DELETE FROM delivery_events e USING deliveries d WHERE e.delivery_id = d.id AND d.driver_id IS NULL`);
    await queryRunner.query(`DELETE FROM webhook_messages m USING deliveries d WHERE m.delivery_id = d.id AND d.driver_id IS NULL`);
    await queryRunner.query(`DELETE FROM deliveries WHERE driver_id IS NULL`);
    await queryRunner.query(`UPDATE deliveries SET status = 'CANCELLED', cancelled_at = now() WHERE status IN ('OFFERED', 'EXPIRED')`);
    await queryRunner.query(`DROP INDEX deliveries_assigned_idx`);
    await queryRunner.query(`DROP INDEX deliveries_waiting_idx`);
    await queryRunner.query(`DROP INDEX deliveries_due_idx`);
    await queryRunner.query(`DROP INDEX deliveries_live_driver_key`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX deliveries_live_driver_key ON deliveries (driver_id) WHERE status IN ('ASSIGNED', 'PICKED_UP')`,
    );
    await queryRunner.query(`DROP INDEX deliveries_live_seller_order_key`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX deliveries_live_seller_order_key ON deliveries (seller_order_id) WHERE status IN ('ASSIGNED', 'PICKED_UP')`,
    );
    await queryRunner.query(`
      ALTER TABLE deliveries
        DROP CONSTRAINT deliveries_driver_check,
        DROP COLUMN ready_at, DROP COLUMN wait_cell, DROP COLUMN due_at, DROP COLUMN offer_expires_at, DROP COLUMN wait_until,
        DROP COLUMN expired_at, DROP COLUMN offered_at, DROP COLUMN pending_at, DROP COLUMN attempt,
        DROP COLUMN max_wait_seconds, DROP COLUMN dispatch_mode,
        DROP CONSTRAINT deliveries_status_check,
        ADD CONSTRAINT deliveries_status_check CHECK (status IN ('ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED')),
        ALTER COLUMN assigned_at SET NOT NULL,
        ALTER COLUMN distance_meters SET NOT NULL,
        ALTER COLUMN driver_id SET NOT NULL`);
  }
}
