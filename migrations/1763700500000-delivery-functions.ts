import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The assignment's claim and every state change's audit event and outbox
 * message as PostgreSQL functions: one round trip each instead of one per
 * statement, in one transaction (the statement's own, or the caller's).
 */
export class DeliveryFunctions1763700500000 implements MigrationInterface {
  name = 'DeliveryFunctions1763700500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The audit event of a change the delivery row `d` has just made, and the webhook reporting it.
    // The webhook-id is the same on every attempt, so Vendure can de-duplicate. Times are given to the
    // millisecond in UTC, as JavaScript's toISOString writes them.
    await queryRunner.query(`
      CREATE FUNCTION record_delivery_change(
        d deliveries, p_from_status varchar, p_type varchar, p_actor varchar, p_request_id varchar, p_data jsonb,
        p_first_attempt_after_seconds double precision
      ) RETURNS delivery_events LANGUAGE plpgsql AS $$
      DECLARE
        event delivery_events;
        at_text text;
      BEGIN
        INSERT INTO delivery_events (delivery_id, type, from_status, to_status, actor, request_id, data)
        VALUES (d.id, p_type, p_from_status, d.status, p_actor, p_request_id, p_data)
        RETURNING * INTO event;
        at_text := to_char(event.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
        INSERT INTO webhook_messages (id, delivery_id, delivery_seq, type, payload, request_id, next_attempt_at)
        VALUES (
          'msg_' || gen_random_uuid(), d.id, event.seq, p_type,
          jsonb_build_object(
            'type', p_type,
            'timestamp', at_text,
            'data', jsonb_build_object(
              'deliveryId', d.id, 'sellerOrderId', d.seller_order_id, 'channelId', d.channel_id, 'driverId', d.driver_id,
              'status', d.status, 'distanceMeters', d.distance_meters, 'occurredAt', at_text
            ) || CASE WHEN coalesce(p_request_id, '') = '' THEN '{}'::jsonb ELSE jsonb_build_object('requestId', p_request_id) END
          ),
          p_request_id, now() + make_interval(secs => p_first_attempt_after_seconds));
        RETURN event;
      END $$`);

    // The whole claim of one candidate driver for a ready order, atomically:
    // - the order's advisory lock serialises the claims and cancellations of the order, so concurrent
    //   copies of an event see each other's committed result (each statement below takes a fresh
    //   snapshot, after the lock);
    // - the order's latest delivery decides first: a live one is the answer ('order-live'), a delivered
    //   one refuses ('order-delivered');
    // - the driver becomes BUSY only if it is still choosable ('driver-taken' otherwise, nothing written);
    // - then the ASSIGNED delivery, its audit event and its outbox message.
    // The unique indexes on live deliveries stay the last line: a violation aborts the whole statement.
    // Returns the outcome, the delivery (assigned or live) and the claimed driver, as JSON rows.
    await queryRunner.query(`
      CREATE FUNCTION assign_delivery(
        p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
        p_pickup_lat double precision, p_pickup_lon double precision,
        p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
        p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
      ) RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
      DECLARE
        latest deliveries;
        claimed drivers;
        created deliveries;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id));
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

        UPDATE drivers SET status = 'BUSY', state_version = state_version + 1, updated_at = now()
        WHERE id = p_driver_id AND status = 'AVAILABLE' AND is_active AND last_lat IS NOT NULL
          AND last_seen_at >= p_heartbeat_cutoff
        RETURNING * INTO claimed;
        IF NOT FOUND THEN
          RETURN QUERY SELECT 'driver-taken', NULL::jsonb, NULL::jsonb;
          RETURN;
        END IF;

        INSERT INTO deliveries (seller_order_id, channel_id, driver_id, status, pickup_lat, pickup_lon,
                                dropoff_lat, dropoff_lon, distance_meters)
        VALUES (p_seller_order_id, p_channel_id, p_driver_id, 'ASSIGNED', p_pickup_lat, p_pickup_lon,
                p_dropoff_lat, p_dropoff_lon, p_distance_meters)
        RETURNING * INTO created;
        PERFORM record_delivery_change(
          created, NULL, 'delivery.assigned', p_actor, p_request_id,
          jsonb_build_object('driverId', created.driver_id, 'distanceMeters', created.distance_meters),
          p_first_attempt_after_seconds);
        RETURN QUERY SELECT 'assigned', to_jsonb(created), to_jsonb(claimed);
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION assign_delivery`);
    await queryRunner.query(`DROP FUNCTION record_delivery_change`);
  }
}
