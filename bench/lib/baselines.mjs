// @ts-check
/**
 * The direct-PostgreSQL baselines: a full-scan haversine nearest search, and
 * the assignment's search and claim as src/assignment and
 * src/deliveries/deliveries.repository.ts run them, without HTTP, Nest,
 * TypeORM or Redis.
 */
import { haversineMeters } from './city.mjs';

const CHOOSABLE = `d.is_active AND d.status = 'AVAILABLE' AND d.last_lat IS NOT NULL AND d.last_seen_at >= $3`;

/** Every choosable driver's haversine distance, computed row by row (no index can help), nearest 10. */
const FULL_SCAN_NEAREST = `
  SELECT d.*, 2 * 6371008.8 * asin(least(1, sqrt(
           sin(radians(d.last_lat - $1) / 2) ^ 2
           + cos(radians($1)) * cos(radians(d.last_lat)) * sin(radians(d.last_lon - $2) / 2) ^ 2))) AS distance
  FROM drivers d WHERE ${CHOOSABLE}
  ORDER BY distance LIMIT 10`;

/** The service's PostgreSQL search (AvailabilityRepository.findNearestChoosable): partial GiST index on the indexed position, KNN. */
const INDEXED_NEAREST = `
  SELECT d.id, d.last_lat AS lat, d.last_lon AS lon FROM drivers d
  WHERE ${CHOOSABLE} AND d.indexed_lat IS NOT NULL AND earth_box(ll_to_earth($1, $2), $4) @> ll_to_earth(d.indexed_lat, d.indexed_lon)
  ORDER BY ll_to_earth(d.indexed_lat, d.indexed_lon) <-> ll_to_earth($1, $2) LIMIT $5`;

/**
 * The service's claim of one candidate made alone (DeliveriesRepository.assign): the `claim_delivery`
 * function does the order lock, the latest-delivery check, the conditional claim, the delivery, its audit
 * event and its outbox message in one transaction. (The service sends concurrent claims together, in one
 * `assign_deliveries` statement; the baseline is the claim transaction per order.) The baseline's outbox rows wait a day (the relay leaves them alone)
 * until the drain test releases them.
 */
const CLAIM = `
  SELECT outcome FROM claim_delivery(true, $1, NULL, $2, $3, $4, $5, $6, $7, $8, 'vendure', NULL, 86400)`;

/**
 * Releases up to `limit` of the baseline's waiting outbox rows to the relay; returns their ids.
 * @param {import('pg').Pool} sql
 * @param {number} limit
 * @returns {Promise<string[]>}
 */
export async function releaseDeferredOutbox(sql, limit) {
  const { rows } = await sql.query(
    `UPDATE webhook_messages SET next_attempt_at = now()
     WHERE id IN (SELECT id FROM webhook_messages WHERE status = 'pending' AND next_attempt_at > now() + interval '1 hour' LIMIT $1)
     RETURNING id`,
    [limit],
  );
  return rows.map((row) => row.id);
}

const heartbeatCutoff = () => new Date(Date.now() - 86_400_000);

/**
 * @param {import('pg').Pool} sql
 * @param {{ lat: number, lon: number }} at
 */
export async function fullScanNearest(sql, at) {
  await sql.query(FULL_SCAN_NEAREST, [at.lat, at.lon, heartbeatCutoff()]);
}

/**
 * @typedef {{ sellerOrderId: string, pickup: { lat: number, lon: number }, dropoff: { lat: number, lon: number } }} Order
 */

/**
 * Assigns the nearest available driver to `order` the way the service does:
 * up to 5 nearest candidates (100 km), then per candidate the claim, until
 * one is assigned. Returns 'assigned', 'no-driver', or the order's outcome
 * ('order-live', 'order-delivered').
 * @param {import('pg').Pool} sql
 * @param {Order} order
 */
export async function claimDirect(sql, order) {
  const cutoff = heartbeatCutoff();
  const { rows: candidates } = await sql.query(INDEXED_NEAREST, [order.pickup.lat, order.pickup.lon, cutoff, 100_130, 5]);
  for (const candidate of candidates) {
    const distance = Math.round(haversineMeters(order.pickup, candidate) * 10) / 10;
    const {
      rows: [{ outcome }],
    } = await sql.query(CLAIM, [
      order.sellerOrderId,
      candidate.id,
      order.pickup.lat,
      order.pickup.lon,
      order.dropoff.lat,
      order.dropoff.lon,
      distance,
      cutoff,
    ]);
    if (outcome !== 'driver-taken') return outcome;
  }
  return 'no-driver';
}
