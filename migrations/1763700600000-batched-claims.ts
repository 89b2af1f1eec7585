import { MigrationInterface, QueryRunner } from 'typeorm';
import { DeliveryFunctions1763700500000 } from './1763700500000-delivery-functions.js';

/**
 * Claims of several orders in one statement and one transaction
 * (`assign_deliveries`), so concurrent assignments share a round trip and a
 * commit. A claim in a batch never waits for a lock: an order or a driver
 * another transaction holds right now is answered 'busy', and the caller
 * claims it again alone, waiting as before. A batch therefore never waits
 * while holding its earlier claims' locks, and cannot deadlock with another
 * batch, a lone claim or a batch of locations.
 */
export class BatchedClaims1763700600000 implements MigrationInterface {
  name = 'BatchedClaims1763700600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The claim of one candidate driver, as assign_delivery made it, waiting for locks (p_wait) or not:
    // - the order's advisory lock serialises the claims and cancellations of the order;
    // - the order's latest delivery decides first: a live one is the answer ('order-live'), a delivered
    //   one refuses ('order-delivered');
    // - the driver becomes BUSY only if it is still choosable ('driver-taken' otherwise, nothing written);
    // - then the ASSIGNED delivery, its audit event and its outbox message.
    // Without p_wait, an order lock or a driver row another transaction holds answers 'busy' instead.
    await queryRunner.query(`
      CREATE FUNCTION claim_delivery(
        p_wait boolean, p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
        p_pickup_lat double precision, p_pickup_lon double precision,
        p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
        p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
      )
      RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
      DECLARE
        latest deliveries;
        claimed drivers;
        created deliveries;
      BEGIN
        IF p_wait THEN
          PERFORM pg_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id));
        ELSIF NOT pg_try_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id)) THEN
          RETURN QUERY SELECT 'busy', NULL::jsonb, NULL::jsonb;
          RETURN;
        END IF;
        SELECT * INTO latest FROM deliveries WHERE seller_order_id = p_seller_order_id
        ORDER BY created_at DESC, id DESC LIMIT 1;
        IF FOUND AND latest.status IN ('ASSIGNED', 'PICKED_UP') THEN
          RETURN QUERY SELECT 'order-live', to_jsonb(latest), NULL::jsonb;
          RETURN;
        END IF;
        IF FOUND AND latest.status = 'DELIVERED' THEN
          RETURN QUERY SELECT 'order-delivered', to_jsonb(latest), NULL::jsonb;
          RETURN;
        END IF;

        IF NOT p_wait THEN
          -- Held by another transaction (a claim, a status change, a batch of locations): not decided here.
          PERFORM 1 FROM drivers WHERE id = p_driver_id FOR UPDATE SKIP LOCKED;
          IF NOT FOUND THEN
            RETURN QUERY SELECT 'busy', NULL::jsonb, NULL::jsonb;
            RETURN;
          END IF;
        END IF;
        UPDATE drivers SET status = 'BUSY', state_version = state_version + 1, updated_at = now()
        WHERE id = p_driver_id AND status = 'AVAILABLE' AND is_active AND last_lat IS NOT NULL
          AND last_seen_at >= p_heartbeat_cutoff
        RETURNING * INTO claimed;
        IF NOT FOUND THEN
          RETURN QUERY SELECT 'driver-taken', NULL::jsonb, NULL::jsonb;
          RETURN;
        END IF;

        -- created_at is the clock after the order's lock, not the transaction's start (now()): a claim late
        -- in a long batch must still come after a delivery of its order made while the batch ran, since
        -- "the order's latest delivery" is the one with the latest created_at.
        INSERT INTO deliveries (seller_order_id, channel_id, driver_id, status, pickup_lat, pickup_lon,
                                dropoff_lat, dropoff_lon, distance_meters, created_at)
        VALUES (p_seller_order_id, p_channel_id, p_driver_id, 'ASSIGNED', p_pickup_lat, p_pickup_lon,
                p_dropoff_lat, p_dropoff_lon, p_distance_meters, clock_timestamp())
        RETURNING * INTO created;
        PERFORM record_delivery_change(
          created, NULL, 'delivery.assigned', p_actor, p_request_id,
          jsonb_build_object('driverId', created.driver_id, 'distanceMeters', created.distance_meters),
          p_first_attempt_after_seconds);
        RETURN QUERY SELECT 'assigned', to_jsonb(created), to_jsonb(claimed);
      END $$`);

    // The same claim as claim_delivery(true, ...), under its old name, for processes of the previous
    // release that still call it during a rolling restart.
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION assign_delivery(
        p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
        p_pickup_lat double precision, p_pickup_lon double precision,
        p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
        p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
      ) RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE sql AS $$
        SELECT * FROM claim_delivery(true, p_seller_order_id, p_channel_id, p_driver_id, p_pickup_lat, p_pickup_lon,
          p_dropoff_lat, p_dropoff_lon, p_distance_meters, p_heartbeat_cutoff, p_actor, p_request_id,
          p_first_attempt_after_seconds)
      $$`);

    // Claims in the order given, one answer row each, in the same order. A unique-index violation
    // (the last line) still aborts the whole statement; the caller then claims each one alone.
    await queryRunner.query(`
      CREATE FUNCTION assign_deliveries(p_claims jsonb)
      RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
      DECLARE
        c record;
      BEGIN
        FOR c IN SELECT * FROM jsonb_to_recordset(p_claims) AS x(
          seller_order_id varchar, channel_id varchar, driver_id uuid, pickup_lat double precision,
          pickup_lon double precision, dropoff_lat double precision, dropoff_lon double precision,
          distance_meters double precision, heartbeat_cutoff timestamptz, actor varchar, request_id varchar,
          first_attempt_after_seconds double precision)
        LOOP
          RETURN QUERY SELECT * FROM claim_delivery(false, c.seller_order_id, c.channel_id, c.driver_id,
            c.pickup_lat, c.pickup_lon, c.dropoff_lat, c.dropoff_lon, c.distance_meters, c.heartbeat_cutoff,
            c.actor, c.request_id, c.first_attempt_after_seconds);
        END LOOP;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION assign_deliveries`);
    await queryRunner.query(`DROP FUNCTION assign_delivery`);
    await queryRunner.query(`DROP FUNCTION claim_delivery`);
    // Back to the previous migration's functions, as it created them.
    await queryRunner.query(`DROP FUNCTION record_delivery_change`);
    await new DeliveryFunctions1763700500000().up(queryRunner);
  }
}
