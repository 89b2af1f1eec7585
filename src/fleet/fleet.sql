-- The fleet's SQL routines: the indexed position, the choosable rule and the claim of a driver.
-- Applied after the migrations by src/database/sql-routines.ts, again whenever
-- this file changes (CREATE OR REPLACE: a changed signature needs a DROP first).

-- Great-circle distance in metres (haversine, mean earth radius), as src/availability/geo.ts measures.
CREATE OR REPLACE FUNCTION great_circle_meters(lat1 double precision, lon1 double precision, lat2 double precision, lon2 double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 2 * 6371008.8 * asin(least(1, sqrt(sin(radians(lat2 - lat1) / 2) ^ 2
           + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
$$;

-- The position the search's index holds (indexed_lat, indexed_lon): the last location, followed only once
-- the driver is more than 200 m from it (INDEXED_POSITION_LAG_METERS in src/availability/geo.ts, which the
-- search allows for). A location write that leaves it alone changes no indexed column: a HOT update.
-- Kept for every writer (the write-behind, a test's INSERT, a hand-made UPDATE), so the bound always holds.
CREATE OR REPLACE FUNCTION drivers_keep_indexed_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.last_lat IS NULL OR NEW.last_lon IS NULL THEN
    NEW.indexed_lat := NULL;
    NEW.indexed_lon := NULL;
  ELSIF NEW.indexed_lat IS NULL OR NEW.indexed_lon IS NULL
     OR great_circle_meters(NEW.indexed_lat, NEW.indexed_lon, NEW.last_lat, NEW.last_lon) > 200 THEN
    NEW.indexed_lat := NEW.last_lat;
    NEW.indexed_lon := NEW.last_lon;
  END IF;
  RETURN NEW;
END $$;

-- Dropped and created (CREATE OR REPLACE TRIGGER needs PostgreSQL 14; 13 is supported).
DROP TRIGGER IF EXISTS drivers_keep_indexed_position ON drivers;
CREATE TRIGGER drivers_keep_indexed_position
  BEFORE INSERT OR UPDATE OF last_lat, last_lon, indexed_lat, indexed_lon ON drivers
  FOR EACH ROW EXECUTE FUNCTION drivers_keep_indexed_position();

-- The one definition of a driver that can be chosen for an order now: active,
-- AVAILABLE, location known, last heartbeat at or after the cutoff. The search
-- (src/availability/availability.repository.ts) and the claim below use it. It
-- is inlined where it is called, so the partial index drivers_available_location_idx
-- (which holds the active, AVAILABLE, located drivers, by indexed position) serves the
-- search, which adds `indexed_lat IS NOT NULL` (true exactly when last_lat is not null).
-- Redis' copy of the rule is CHOOSABLE in src/fleet/state-mirror.scripts.ts,
-- checked against this one by test/choosable-rule.e2e-spec.ts.
-- Like the expression it stands for, it is NULL (not false) for a driver never
-- heard from: right in a WHERE, wrong under NOT. (COALESCE would hide the
-- index's predicate from the planner.)
CREATE OR REPLACE FUNCTION driver_is_choosable(d drivers, p_heartbeat_cutoff timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT d.is_active AND d.status = 'AVAILABLE' AND d.last_lat IS NOT NULL AND d.last_seen_at >= p_heartbeat_cutoff
$$;

-- Makes a choosable driver BUSY for a new delivery, in the caller's transaction.
-- Outcomes: 'claimed' (with the driver's new row), 'driver-taken' (not choosable
-- any more: nothing written) or, when p_wait is false and another transaction
-- holds the driver's row right now, 'busy' (nothing written, nothing waited for).
CREATE OR REPLACE FUNCTION claim_driver(
  p_driver_id uuid, p_heartbeat_cutoff timestamptz, p_wait boolean, OUT outcome text, OUT claimed drivers
) LANGUAGE plpgsql AS $$
BEGIN
  IF NOT p_wait THEN
    -- Held by another transaction (a claim, a status change, a batch of locations): not decided here.
    PERFORM 1 FROM drivers WHERE id = p_driver_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      outcome := 'busy';
      RETURN;
    END IF;
  END IF;
  UPDATE drivers d SET status = 'BUSY', state_version = d.state_version + 1, updated_at = now()
  WHERE d.id = p_driver_id AND driver_is_choosable(d, p_heartbeat_cutoff)
  RETURNING d.* INTO claimed;
  outcome := CASE WHEN FOUND THEN 'claimed' ELSE 'driver-taken' END;
END $$;

-- A driver whose delivery or offer ended is AVAILABLE again, if it was BUSY, in
-- the caller's transaction. Returns the driver as it now is (unchanged if it
-- was not BUSY); no row for an unknown driver.
CREATE OR REPLACE FUNCTION release_driver(p_driver_id uuid) RETURNS SETOF drivers LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY UPDATE drivers d SET status = 'AVAILABLE', state_version = d.state_version + 1, updated_at = now()
  WHERE d.id = p_driver_id AND d.status = 'BUSY' RETURNING d.*;
  IF NOT FOUND THEN
    RETURN QUERY SELECT * FROM drivers WHERE id = p_driver_id;
  END IF;
END $$;

-- The driver answered an offer (accepted or declined it): its run of offers let
-- time out starts again from 0.
CREATE OR REPLACE FUNCTION driver_answered_offer(p_driver_id uuid) RETURNS void LANGUAGE sql AS $$
  UPDATE drivers SET offer_timeouts_in_a_row = 0 WHERE id = p_driver_id AND offer_timeouts_in_a_row <> 0
$$;

-- The driver let an offer time out: released like release_driver, but OFFLINE
-- instead of AVAILABLE once p_limit offers in a row have timed out (it is not
-- looking at its phone; it comes back by going AVAILABLE itself).
CREATE OR REPLACE FUNCTION driver_missed_offer(p_driver_id uuid, p_limit integer) RETURNS SETOF drivers LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY UPDATE drivers d SET
    offer_timeouts_in_a_row = d.offer_timeouts_in_a_row + 1,
    status = CASE WHEN d.offer_timeouts_in_a_row + 1 >= p_limit THEN 'OFFLINE' ELSE 'AVAILABLE' END,
    state_version = d.state_version + 1, updated_at = now()
  WHERE d.id = p_driver_id AND d.status = 'BUSY' RETURNING d.*;
  IF NOT FOUND THEN
    RETURN QUERY SELECT * FROM drivers WHERE id = p_driver_id;
  END IF;
END $$;
