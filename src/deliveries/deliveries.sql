-- The deliveries' SQL routines: the claim of a ready order and every state
-- change's audit event and outbox message, each one round trip in one
-- transaction (the statement's own, or the caller's). Applied after the
-- migrations by src/database/sql-routines.ts, after fleet.sql (claim_delivery
-- calls claim_driver), and again whenever this file changes (CREATE OR
-- REPLACE: a changed signature needs a DROP first). The signatures stay those
-- the previous release calls, so its processes keep working during a rolling
-- restart.

-- A delivery in one of these statuses is live: the order's one delivery in progress.
CREATE OR REPLACE FUNCTION delivery_is_live(p_status varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT p_status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')
$$;

-- Whether the driver refused the order (declined it, let its offer time out, was taken off it or lost
-- on it), on any of the order's deliveries: such a driver is never offered that order again.
CREATE OR REPLACE FUNCTION order_refused_by(p_seller_order_id varchar, p_driver_id uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM deliveries o JOIN delivery_refusals f ON f.delivery_id = o.id
    WHERE o.seller_order_id = p_seller_order_id AND f.driver_id = p_driver_id)
$$;

-- The audit data of a delivery that a driver has just taken (an offer or an assignment). A first
-- assignment keeps v1's data; everything dispatch adds names the attempt.
CREATE OR REPLACE FUNCTION driver_taken_data(d deliveries) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('driverId', d.driver_id, 'distanceMeters', d.distance_meters)
    || CASE WHEN d.status = 'OFFERED' OR d.attempt > 1 THEN jsonb_build_object('attempt', d.attempt) ELSE '{}'::jsonb END
    || CASE WHEN d.status = 'OFFERED' THEN jsonb_build_object('offerExpiresAt', to_char(d.offer_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) ELSE '{}'::jsonb END
$$;

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
        'status', d.status, 'distanceMeters', d.distance_meters, 'occurredAt', at_text, 'attempt', d.attempt
      ) || CASE WHEN coalesce(p_request_id, '') = '' THEN '{}'::jsonb ELSE jsonb_build_object('requestId', p_request_id) END
        || CASE WHEN p_data ? 'reason' THEN jsonb_build_object('reason', p_data->'reason') ELSE '{}'::jsonb END
    ),
    p_request_id, now() + make_interval(secs => p_first_attempt_after_seconds));
  -- Streams of tracking links, in any process, look again at once (src/tracking/tracking-feed.ts).
  -- Only for a delivery with a link: NOTIFY serialises commits, so untracked deliveries do not pay for it.
  IF EXISTS (SELECT 1 FROM tracking_links WHERE delivery_id = d.id) THEN
    PERFORM pg_notify('delivery_tracking', d.id::text);
  END IF;
  RETURN event;
END $$;

-- The claim of one candidate driver for a ready order, atomically, waiting for
-- locks (p_wait) or not:
-- - the order's advisory lock serialises the claims and cancellations of the
--   order, so concurrent copies of an event see each other's committed result
--   (each statement below takes a fresh snapshot, after the lock);
-- - the order's latest delivery decides first: a live one (waiting, offered,
--   assigned, picked up) is the answer ('order-live'), a delivered one refuses
--   ('order-delivered');
-- - the fleet's claim_driver makes the driver BUSY only if it is still
--   choosable ('driver-taken' otherwise, nothing written);
-- - then the delivery (ASSIGNED, or OFFERED to the driver for p_offer_seconds),
--   its audit event and its outbox message.
-- Without p_wait, an order lock or a driver row another transaction holds
-- answers 'busy' instead. The unique indexes on live deliveries stay the last
-- line: a violation aborts the whole statement.
-- Returns the outcome, the delivery (created or live) and the claimed driver, as JSON.
-- The parameters after p_first_attempt_after_seconds are dispatch's (v2); a process
-- of the previous release calls this without them.
DROP FUNCTION IF EXISTS claim_delivery(boolean, varchar, varchar, uuid, double precision, double precision,
  double precision, double precision, double precision, timestamptz, varchar, varchar, double precision);
CREATE OR REPLACE FUNCTION claim_delivery(
  p_wait boolean, p_seller_order_id varchar, p_channel_id varchar, p_driver_id uuid,
  p_pickup_lat double precision, p_pickup_lon double precision,
  p_dropoff_lat double precision, p_dropoff_lon double precision, p_distance_meters double precision,
  p_heartbeat_cutoff timestamptz, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision,
  p_dispatch_mode varchar DEFAULT 'auto', p_offer_seconds double precision DEFAULT NULL,
  p_max_wait_seconds integer DEFAULT 0, p_wait_cell bigint DEFAULT NULL
)
RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  latest deliveries;
  driver_claim record;
  created deliveries;
  at_clock timestamptz;
BEGIN
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id));
  ELSIF NOT pg_try_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id)) THEN
    RETURN QUERY SELECT 'busy', NULL::jsonb, NULL::jsonb;
    RETURN;
  END IF;
  -- The order's latest delivery (a live one is always the latest: at most one is live, and it is the newest),
  -- read here rather than through a SQL function, which would be planned again on every claim.
  SELECT * INTO latest FROM deliveries WHERE seller_order_id = p_seller_order_id ORDER BY created_at DESC, id DESC LIMIT 1;
  IF latest.id IS NOT NULL AND delivery_is_live(latest.status) THEN
    RETURN QUERY SELECT 'order-live', to_jsonb(latest), NULL::jsonb;
    RETURN;
  END IF;
  IF latest.status = 'DELIVERED' THEN
    RETURN QUERY SELECT 'order-delivered', to_jsonb(latest), NULL::jsonb;
    RETURN;
  END IF;
  IF latest.id IS NOT NULL AND order_refused_by(p_seller_order_id, p_driver_id) THEN
    RETURN QUERY SELECT 'driver-refused', NULL::jsonb, NULL::jsonb;
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
  at_clock := clock_timestamp();
  INSERT INTO deliveries (seller_order_id, channel_id, driver_id, status, pickup_lat, pickup_lon,
                          dropoff_lat, dropoff_lon, distance_meters, created_at, dispatch_mode, max_wait_seconds,
                          wait_cell, ready_at, assigned_at, offered_at, offer_expires_at, due_at)
  VALUES (p_seller_order_id, p_channel_id, p_driver_id, CASE WHEN p_dispatch_mode = 'offer' THEN 'OFFERED' ELSE 'ASSIGNED' END,
          p_pickup_lat, p_pickup_lon, p_dropoff_lat, p_dropoff_lon, p_distance_meters, at_clock, p_dispatch_mode,
          p_max_wait_seconds, p_wait_cell, at_clock,
          CASE WHEN p_dispatch_mode = 'offer' THEN NULL ELSE now() END,
          CASE WHEN p_dispatch_mode = 'offer' THEN now() END,
          CASE WHEN p_dispatch_mode = 'offer' THEN at_clock + make_interval(secs => p_offer_seconds) END,
          CASE WHEN p_dispatch_mode = 'offer' THEN at_clock + make_interval(secs => p_offer_seconds) END)
  RETURNING * INTO created;
  PERFORM record_delivery_change(
    created, NULL, CASE WHEN created.status = 'OFFERED' THEN 'delivery.offered' ELSE 'delivery.assigned' END,
    p_actor, p_request_id, driver_taken_data(created), p_first_attempt_after_seconds);
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
    first_attempt_after_seconds double precision, dispatch_mode varchar, offer_seconds double precision,
    max_wait_seconds integer, wait_cell bigint)
  LOOP
    RETURN QUERY SELECT * FROM claim_delivery(false, c.seller_order_id, c.channel_id, c.driver_id,
      c.pickup_lat, c.pickup_lon, c.dropoff_lat, c.dropoff_lon, c.distance_meters, c.heartbeat_cutoff,
      c.actor, c.request_id, c.first_attempt_after_seconds, coalesce(c.dispatch_mode, 'auto'), c.offer_seconds,
      coalesce(c.max_wait_seconds, 0), c.wait_cell);
  END LOOP;
END $$;

-- Dispatch (contract v2): waiting orders, offers, reassignment. Each function
-- below changes one delivery under its row lock, with its audit event and its
-- outbox message, in the caller's statement; the drivers it claims or frees come
-- back as JSON for the fleet to mirror after the commit.

-- An order no driver is in reach of waits for one: its PENDING delivery, under
-- the order's lock, unless the order has a live delivery ('order-live') or was
-- delivered ('order-delivered'). It waits p_max_wait_seconds (wait_until), and
-- its due time is the end of that wait.
CREATE OR REPLACE FUNCTION create_pending_delivery(
  p_seller_order_id varchar, p_channel_id varchar, p_pickup_lat double precision, p_pickup_lon double precision,
  p_dropoff_lat double precision, p_dropoff_lon double precision, p_dispatch_mode varchar, p_max_wait_seconds integer,
  p_wait_cell bigint, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (outcome text, delivery jsonb) LANGUAGE plpgsql AS $$
DECLARE
  latest deliveries;
  created deliveries;
  at_clock timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('seller-order:' || p_seller_order_id));
  -- The order's latest delivery (a live one is always the latest: at most one is live, and it is the newest),
  -- read here rather than through a SQL function, which would be planned again on every claim.
  SELECT * INTO latest FROM deliveries WHERE seller_order_id = p_seller_order_id ORDER BY created_at DESC, id DESC LIMIT 1;
  IF latest.id IS NOT NULL AND delivery_is_live(latest.status) THEN
    RETURN QUERY SELECT 'order-live', to_jsonb(latest);
    RETURN;
  END IF;
  IF latest.status = 'DELIVERED' THEN
    RETURN QUERY SELECT 'order-delivered', to_jsonb(latest);
    RETURN;
  END IF;
  at_clock := clock_timestamp();
  INSERT INTO deliveries (seller_order_id, channel_id, driver_id, status, pickup_lat, pickup_lon, dropoff_lat, dropoff_lon,
                          distance_meters, created_at, assigned_at, dispatch_mode, max_wait_seconds, wait_cell, ready_at,
                          pending_at, wait_until, due_at)
  VALUES (p_seller_order_id, p_channel_id, NULL, 'PENDING', p_pickup_lat, p_pickup_lon, p_dropoff_lat, p_dropoff_lon,
          NULL, at_clock, NULL, p_dispatch_mode, p_max_wait_seconds, p_wait_cell, at_clock,
          now(), at_clock + make_interval(secs => p_max_wait_seconds), at_clock + make_interval(secs => p_max_wait_seconds))
  RETURNING * INTO created;
  PERFORM record_delivery_change(created, NULL, 'delivery.pending', p_actor, p_request_id,
    pending_data(created, 'NO_DRIVER_AVAILABLE', NULL), p_first_attempt_after_seconds);
  RETURN QUERY SELECT 'pending', to_jsonb(created);
END $$;

-- The audit data of a delivery that has just gone (back) to PENDING.
CREATE OR REPLACE FUNCTION pending_data(d deliveries, p_reason varchar, p_previous_driver_id uuid) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('reason', p_reason, 'attempt', d.attempt,
    'waitUntil', to_char(d.wait_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    || CASE WHEN p_previous_driver_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('previousDriverId', p_previous_driver_id) END
$$;

-- A waiting (PENDING) delivery to one candidate driver: OFFERED to it for
-- p_offer_seconds in offer mode, ASSIGNED to it otherwise. Outcomes:
-- 'dispatched' (with the delivery and the claimed driver), 'not-pending' (the
-- delivery moved on meanwhile), 'driver-refused' (the driver refused this order
-- before: never offered it again), 'driver-taken' (not choosable any more).
CREATE OR REPLACE FUNCTION dispatch_delivery(
  p_delivery_id uuid, p_driver_id uuid, p_distance_meters double precision, p_heartbeat_cutoff timestamptz,
  p_offer_seconds double precision, p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  d deliveries;
  driver_claim record;
  at_clock timestamptz;
BEGIN
  SELECT * INTO d FROM deliveries WHERE id = p_delivery_id FOR UPDATE;
  IF NOT FOUND OR d.status <> 'PENDING' THEN
    RETURN QUERY SELECT 'not-pending', to_jsonb(d), NULL::jsonb;
    RETURN;
  END IF;
  IF order_refused_by(d.seller_order_id, p_driver_id) THEN
    RETURN QUERY SELECT 'driver-refused', NULL::jsonb, NULL::jsonb;
    RETURN;
  END IF;
  SELECT * INTO driver_claim FROM claim_driver(p_driver_id, p_heartbeat_cutoff, true);
  IF driver_claim.outcome <> 'claimed' THEN
    RETURN QUERY SELECT driver_claim.outcome, NULL::jsonb, NULL::jsonb;
    RETURN;
  END IF;
  at_clock := clock_timestamp();
  UPDATE deliveries SET
    driver_id = p_driver_id, distance_meters = p_distance_meters, updated_at = now(),
    status = CASE WHEN d.dispatch_mode = 'offer' THEN 'OFFERED' ELSE 'ASSIGNED' END,
    assigned_at = CASE WHEN d.dispatch_mode = 'offer' THEN NULL ELSE now() END,
    offered_at = CASE WHEN d.dispatch_mode = 'offer' THEN now() ELSE offered_at END,
    offer_expires_at = CASE WHEN d.dispatch_mode = 'offer' THEN at_clock + make_interval(secs => p_offer_seconds) END,
    due_at = CASE WHEN d.dispatch_mode = 'offer' THEN at_clock + make_interval(secs => p_offer_seconds) END
  WHERE id = d.id RETURNING * INTO d;
  PERFORM record_delivery_change(d, 'PENDING', CASE WHEN d.status = 'OFFERED' THEN 'delivery.offered' ELSE 'delivery.assigned' END,
    p_actor, p_request_id, driver_taken_data(d), p_first_attempt_after_seconds);
  RETURN QUERY SELECT 'dispatched', to_jsonb(d), to_jsonb(driver_claim.claimed);
END $$;

-- Takes the driver off a delivery that is OFFERED or ASSIGNED (not yet picked
-- up) and puts it back to PENDING, for the next driver: the driver is recorded
-- as having refused the order (p_kind: declined, timed-out, reassigned, lost),
-- it is freed (a timed-out offer may set it OFFLINE instead, see
-- driver_missed_offer), the attempt counts up and the wait starts again: the
-- order's maxWaitSeconds, and at least p_retry_seconds (an order that may not
-- wait still gets its next driver's search, not an instant expiry). Its due time
-- is a dispatch attempt p_retry_seconds from now, in case the process that
-- dispatches it at once dies first. Returns the delivery and the freed driver.
CREATE OR REPLACE FUNCTION return_to_pending(
  d deliveries, p_kind varchar, p_reason varchar, p_timeouts_before_offline integer, p_retry_seconds double precision,
  p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  freed drivers;
  back deliveries;
  at_clock timestamptz;
BEGIN
  INSERT INTO delivery_refusals (delivery_id, driver_id, kind) VALUES (d.id, d.driver_id, p_kind)
  ON CONFLICT (delivery_id, driver_id) DO UPDATE SET kind = EXCLUDED.kind, at = EXCLUDED.at;
  IF p_kind = 'timed-out' THEN
    SELECT * INTO freed FROM driver_missed_offer(d.driver_id, p_timeouts_before_offline);
  ELSE
    IF p_kind = 'declined' THEN
      PERFORM driver_answered_offer(d.driver_id);
    END IF;
    SELECT * INTO freed FROM release_driver(d.driver_id);
  END IF;
  at_clock := clock_timestamp();
  UPDATE deliveries SET
    status = 'PENDING', driver_id = NULL, distance_meters = NULL, assigned_at = NULL, offer_expires_at = NULL,
    attempt = attempt + 1, pending_at = now(), updated_at = now(),
    wait_until = at_clock + make_interval(secs => GREATEST(max_wait_seconds, p_retry_seconds)),
    due_at = at_clock + make_interval(secs => p_retry_seconds)
  WHERE id = d.id RETURNING * INTO back;
  PERFORM record_delivery_change(back, d.status, 'delivery.pending', p_actor, p_request_id,
    pending_data(back, p_reason, d.driver_id), p_first_attempt_after_seconds);
  RETURN QUERY SELECT to_jsonb(back), CASE WHEN freed.id IS NULL THEN NULL ELSE to_jsonb(freed) END;
END $$;

-- A driver's answer to an offer, or an operator's reassignment, under the
-- delivery's row lock. p_action: 'accept' (OFFERED → ASSIGNED), 'decline'
-- (OFFERED, or ASSIGNED before pickup → PENDING), 'reassign' (the same, by an
-- operator). p_driver_id is the driver answering, or null for a caller that
-- acts for whichever driver holds the delivery. Outcomes: 'changed',
-- 'unchanged' (the same answer twice), 'not-found', 'forbidden' (another
-- driver's offer), 'offer-expired' (this driver's offer timed out),
-- 'not-pending' (nothing to answer in this status).
CREATE OR REPLACE FUNCTION answer_delivery(
  p_delivery_id uuid, p_action varchar, p_driver_id uuid, p_reason varchar, p_retry_seconds double precision,
  p_actor varchar, p_request_id varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (outcome text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  d deliveries;
  refusal varchar;
  back record;
BEGIN
  SELECT * INTO d FROM deliveries WHERE id = p_delivery_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not-found', NULL::jsonb, NULL::jsonb;
    RETURN;
  END IF;
  IF p_driver_id IS NOT NULL AND d.driver_id IS DISTINCT FROM p_driver_id THEN
    SELECT kind INTO refusal FROM delivery_refusals WHERE delivery_id = d.id AND driver_id = p_driver_id;
    RETURN QUERY SELECT CASE
      WHEN refusal = 'timed-out' THEN 'offer-expired'
      WHEN refusal = 'declined' AND p_action = 'decline' THEN 'unchanged'
      WHEN refusal IS NOT NULL THEN 'not-pending'
      ELSE 'forbidden' END, to_jsonb(d), NULL::jsonb;
    RETURN;
  END IF;
  IF p_action = 'accept' THEN
    IF d.status = 'ASSIGNED' AND d.dispatch_mode = 'offer' THEN
      RETURN QUERY SELECT 'unchanged', to_jsonb(d), NULL::jsonb;
      RETURN;
    END IF;
    IF d.status <> 'OFFERED' THEN
      RETURN QUERY SELECT 'not-pending', to_jsonb(d), NULL::jsonb;
      RETURN;
    END IF;
    IF d.offer_expires_at <= clock_timestamp() THEN
      RETURN QUERY SELECT 'offer-expired', to_jsonb(d), NULL::jsonb;
      RETURN;
    END IF;
    UPDATE deliveries SET status = 'ASSIGNED', assigned_at = now(), due_at = NULL, updated_at = now()
    WHERE id = d.id RETURNING * INTO d;
    PERFORM driver_answered_offer(d.driver_id);
    PERFORM record_delivery_change(d, 'OFFERED', 'delivery.assigned', p_actor, p_request_id,
      driver_taken_data(d) || jsonb_build_object('attempt', d.attempt), p_first_attempt_after_seconds);
    RETURN QUERY SELECT 'changed', to_jsonb(d), NULL::jsonb;
    RETURN;
  END IF;
  -- decline, reassign
  IF p_action = 'decline' AND d.status = 'OFFERED' AND d.offer_expires_at <= clock_timestamp() THEN
    -- Too late to answer: the timeout (due now) decides, and counts against the driver.
    RETURN QUERY SELECT 'offer-expired', to_jsonb(d), NULL::jsonb;
    RETURN;
  END IF;
  IF d.status NOT IN ('OFFERED', 'ASSIGNED') THEN
    RETURN QUERY SELECT 'not-pending', to_jsonb(d), NULL::jsonb;
    RETURN;
  END IF;
  SELECT * INTO back FROM return_to_pending(d, CASE WHEN p_action = 'decline' THEN 'declined' ELSE 'reassigned' END,
    coalesce(p_reason, CASE WHEN p_action = 'decline' THEN 'DECLINED' ELSE 'REASSIGNED' END), NULL, p_retry_seconds,
    p_actor, p_request_id, p_first_attempt_after_seconds);
  RETURN QUERY SELECT 'changed', back.delivery, back.driver;
END $$;

-- The dispatch timers that are due, claimed with SKIP LOCKED so that each fires
-- once however many processes look, in one statement: offers that timed out
-- (back to PENDING), waits that ended (EXPIRED), dispatch attempts to retry
-- (due again p_retry_seconds later; the caller attempts them), and, unless
-- p_lost_seconds is null, assigned drivers whose heartbeat has been stale for
-- p_lost_seconds before pickup (back to PENDING, reason DRIVER_LOST). One row per timer fired: its kind, the
-- delivery and the driver it freed.
CREATE OR REPLACE FUNCTION fire_due_deliveries(
  p_limit integer, p_retry_seconds double precision, p_lost_seconds double precision, p_timeouts_before_offline integer,
  p_actor varchar, p_first_attempt_after_seconds double precision
)
RETURNS TABLE (kind text, delivery jsonb, driver jsonb) LANGUAGE plpgsql AS $$
DECLARE
  due uuid[];
  lost uuid[] := '{}';
  lost_cutoff timestamptz := clock_timestamp() - make_interval(secs => p_lost_seconds);
  d deliveries;
  back record;
BEGIN
  due := ARRAY(SELECT id FROM deliveries WHERE due_at <= clock_timestamp() ORDER BY due_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
  -- The lost-driver check reads every ASSIGNED delivery's driver: the caller asks for it less often
  -- (p_lost_seconds null: not this time).
  IF p_lost_seconds IS NOT NULL THEN
    lost := ARRAY(
      SELECT x.id FROM deliveries x JOIN drivers r ON r.id = x.driver_id
      WHERE x.status = 'ASSIGNED' AND r.last_seen_at < lost_cutoff
      ORDER BY r.last_seen_at LIMIT p_limit FOR UPDATE OF x SKIP LOCKED);
  END IF;
  -- The drivers these timers free, locked at once in id order, as a batch of locations locks them:
  -- taken one by one, in timer order, they could deadlock with such a batch.
  PERFORM 1 FROM drivers WHERE id IN (SELECT driver_id FROM deliveries WHERE id = ANY(due || lost) AND driver_id IS NOT NULL)
  ORDER BY id FOR UPDATE;
  FOR d IN SELECT * FROM deliveries WHERE id = ANY(due) ORDER BY due_at LOOP
    IF d.status = 'OFFERED' THEN
      SELECT * INTO back FROM return_to_pending(d, 'timed-out', 'OFFER_TIMEOUT', p_timeouts_before_offline, p_retry_seconds,
        p_actor, NULL, p_first_attempt_after_seconds);
      RETURN QUERY SELECT 'offer-timed-out', back.delivery, back.driver;
    ELSIF d.status = 'PENDING' AND d.wait_until <= clock_timestamp() THEN
      UPDATE deliveries SET status = 'EXPIRED', expired_at = now(), due_at = NULL, updated_at = now()
      WHERE id = d.id RETURNING * INTO d;
      PERFORM record_delivery_change(d, 'PENDING', 'delivery.expired', p_actor, NULL,
        jsonb_build_object('reason', 'NO_DRIVER_AVAILABLE', 'attempt', d.attempt), p_first_attempt_after_seconds);
      RETURN QUERY SELECT 'expired', to_jsonb(d), NULL::jsonb;
    ELSIF d.status = 'PENDING' THEN
      UPDATE deliveries SET due_at = LEAST(clock_timestamp() + make_interval(secs => p_retry_seconds), wait_until)
      WHERE id = d.id RETURNING * INTO d;
      RETURN QUERY SELECT 'retry', to_jsonb(d), NULL::jsonb;
    ELSE
      -- A status that has no timer (a change left due_at behind): nothing to fire.
      UPDATE deliveries SET due_at = NULL WHERE id = d.id;
    END IF;
  END LOOP;
  -- Still lost now that its row is locked (a ping may have landed in between), and still before pickup.
  FOR d IN
    SELECT x.* FROM deliveries x JOIN drivers r ON r.id = x.driver_id
    WHERE x.id = ANY(lost) AND x.status = 'ASSIGNED' AND r.last_seen_at < lost_cutoff
  LOOP
    SELECT * INTO back FROM return_to_pending(d, 'lost', 'DRIVER_LOST', NULL, p_retry_seconds, p_actor, NULL, p_first_attempt_after_seconds);
    RETURN QUERY SELECT 'driver-lost', back.delivery, back.driver;
  END LOOP;
END $$;

-- A dispatch attempt that found no driver: the delivery waits for one to come
-- into reach, its next timer the end of the wait.
CREATE OR REPLACE FUNCTION park_pending_delivery(p_delivery_id uuid) RETURNS void LANGUAGE sql AS $$
  UPDATE deliveries SET due_at = wait_until WHERE id = p_delivery_id AND status = 'PENDING' AND due_at IS DISTINCT FROM wait_until
$$;

-- The oldest waiting order in reach of each of the given drivers that is
-- choosable now and has not refused it: the grid cells around each driver
-- (p_drivers: [{driverId, cells}]), the oldest in reach in each cell (one index
-- probe per cell: deliveries_waiting_idx), then the oldest of those. The cost
-- follows the number of cells, not the number of waiting orders. Oldest: by
-- ready_at, when the order was ready (its first delivery's created_at).
CREATE OR REPLACE FUNCTION waiting_orders_near(p_drivers jsonb, p_radius_meters double precision, p_heartbeat_cutoff timestamptz)
RETURNS TABLE (driver_id uuid, delivery_id uuid, ready_at timestamptz) LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- plpgsql, not sql: its statement's plan is kept for the session instead of made on every call.
  -- Only deliveries_waiting_idx gives (wait_cell, ready_at) order, so each cell's probe stops at its
  -- first row in reach, whatever the queue holds (an empty cell costs one index descent).
  RETURN QUERY
  SELECT DISTINCT ON (r.id) r.id, o.id, o.ready_at
  FROM jsonb_to_recordset(p_drivers) AS p("driverId" uuid, cells bigint[])
  JOIN drivers r ON r.id = p."driverId" AND driver_is_choosable(r, p_heartbeat_cutoff)
  CROSS JOIN LATERAL unnest(p.cells) AS c(cell)
  CROSS JOIN LATERAL (
    SELECT w.id, w.ready_at FROM deliveries w
    WHERE w.status = 'PENDING' AND w.wait_cell = c.cell
      -- Haversine on the mean earth radius, as the nearest search measures (src/availability/geo.ts):
      -- an order this finds in reach is one the search from its pickup finds the driver for.
      AND great_circle_meters(r.last_lat, r.last_lon, w.pickup_lat, w.pickup_lon) <= p_radius_meters
      AND NOT order_refused_by(w.seller_order_id, r.id)
    ORDER BY w.ready_at, w.id LIMIT 1
  ) o
  ORDER BY r.id, o.ready_at, o.id;
END $$;
