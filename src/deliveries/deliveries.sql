-- The deliveries' SQL routines: the claim of a ready order and every state
-- change's audit event and outbox message, each one round trip in one
-- transaction (the statement's own, or the caller's). Applied after the
-- migrations by src/database/sql-routines.ts, after fleet.sql (claim_delivery
-- calls claim_driver), and again whenever this file changes (CREATE OR
-- REPLACE: a changed signature needs a DROP first). The signatures stay those
-- the previous release calls, so its processes keep working during a rolling
-- restart.

-- The audit event of a change the delivery row `d` has just made, and the
-- webhook reporting it: its body is DeliveryWebhookPayload
-- (src/deliveries/delivery-webhook.ts), which test/delivery-webhook-payload.e2e-spec.ts
-- checks this against. The webhook-id is the same on every attempt, so Vendure
-- can de-duplicate. Times are given to the millisecond in UTC, as JavaScript's
-- toISOString writes them.
CREATE OR REPLACE FUNCTION record_delivery_change(
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
END $$;

-- The claim of one candidate driver for a ready order, atomically, waiting for
-- locks (p_wait) or not:
-- - the order's advisory lock serialises the claims and cancellations of the
--   order, so concurrent copies of an event see each other's committed result
--   (each statement below takes a fresh snapshot, after the lock);
-- - the order's latest delivery decides first: a live one is the answer
--   ('order-live'), a delivered one refuses ('order-delivered');
-- - the fleet's claim_driver makes the driver BUSY only if it is still
--   choosable ('driver-taken' otherwise, nothing written);
-- - then the ASSIGNED delivery, its audit event and its outbox message.
-- Without p_wait, an order lock or a driver row another transaction holds
-- answers 'busy' instead. The unique indexes on live deliveries stay the last
-- line: a violation aborts the whole statement.
-- Returns the outcome, the delivery (assigned or live) and the claimed driver, as JSON.
CREATE OR REPLACE FUNCTION claim_delivery(
  p_wait boolean, p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
  p_pickup_lat double precision, p_pickup_lon double precision,
  p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
  p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  latest deliveries;
  driver_claim record;
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

  SELECT * INTO driver_claim FROM claim_driver(p_driver_id, p_heartbeat_cutoff, p_wait);
  IF driver_claim.outcome <> 'claimed' THEN
    RETURN QUERY SELECT driver_claim.outcome, NULL::jsonb, NULL::jsonb;
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
  RETURN QUERY SELECT 'assigned', to_jsonb(created), to_jsonb(driver_claim.claimed);
END $$;

-- The same claim as claim_delivery(true, ...), under its first name, for processes of an older
-- release that still call it during a rolling restart.
CREATE OR REPLACE FUNCTION assign_delivery(
  p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
  p_pickup_lat double precision, p_pickup_lon double precision,
  p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
  p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
) RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE sql AS $$
  SELECT * FROM claim_delivery(true, p_seller_order_id, p_channel_id, p_driver_id, p_pickup_lat, p_pickup_lon,
    p_dropoff_lat, p_dropoff_lon, p_distance_meters, p_heartbeat_cutoff, p_actor, p_request_id,
    p_first_attempt_after_seconds)
$$;

-- Claims of several orders in one statement and one transaction, so concurrent assignments share a
-- round trip and a commit: in the order given, one answer row each, in the same order. A claim here
-- never waits for a lock ('busy' instead: the caller claims it again alone, waiting), so a batch never
-- waits while holding its earlier claims' locks and cannot deadlock with another batch, a lone claim
-- or a batch of locations. A unique-index violation (the last line) still aborts the whole statement;
-- the caller then claims each one alone.
CREATE OR REPLACE FUNCTION assign_deliveries(p_claims jsonb)
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
END $$;
