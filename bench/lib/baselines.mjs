// @ts-check
/**
 * The direct-PostgreSQL baselines: a full-scan haversine nearest search, and
 * the assignment's claim transaction as src/assignment and
 * src/deliveries/delivery-transitions.service.ts run it, without HTTP, Nest
 * or TypeORM.
 */
import { randomUUID } from 'node:crypto';
import { haversineMeters } from './city.mjs';

const CHOOSABLE = `d.is_active AND d.status = 'AVAILABLE' AND d.last_lat IS NOT NULL AND d.last_seen_at >= $3`;

/** Every choosable driver's haversine distance, computed row by row (no index can help), nearest 10. */
const FULL_SCAN_NEAREST = `
  SELECT d.*, 2 * 6371008.8 * asin(least(1, sqrt(
           sin(radians(d.last_lat - $1) / 2) ^ 2
           + cos(radians($1)) * cos(radians(d.last_lat)) * sin(radians(d.last_lon - $2) / 2) ^ 2))) AS distance
  FROM drivers d WHERE ${CHOOSABLE}
  ORDER BY distance LIMIT 10`;

/** The service's PostgreSQL search (AvailabilityRepository.findNearestChoosable): partial GiST index, KNN. */
const INDEXED_NEAREST = `
  SELECT d.id, d.last_lat AS lat, d.last_lon AS lon FROM drivers d
  WHERE ${CHOOSABLE} AND earth_box(ll_to_earth($1, $2), $4) @> ll_to_earth(d.last_lat, d.last_lon)
  ORDER BY ll_to_earth(d.last_lat, d.last_lon) <-> ll_to_earth($1, $2) LIMIT $5`;

const CLAIM = `
  UPDATE drivers SET status = 'BUSY', state_version = state_version + 1, updated_at = now()
  WHERE id = $1 AND status = 'AVAILABLE' AND is_active AND last_lat IS NOT NULL AND last_seen_at >= $2
  RETURNING id`;

const INSERT_DELIVERY = `
  INSERT INTO deliveries (seller_order_id, channel_id, driver_id, status, pickup_lat, pickup_lon, dropoff_lat, dropoff_lon, distance_meters)
  VALUES ($1, NULL, $2, 'ASSIGNED', $3, $4, $5, $6, $7) RETURNING id`;

const INSERT_EVENT = `
  INSERT INTO delivery_events (delivery_id, type, from_status, to_status, actor, request_id, data)
  VALUES ($1, 'delivery.assigned', NULL, 'ASSIGNED', 'vendure', NULL, $2) RETURNING seq, at`;

/** Outbox rows of the baseline wait a day (the relay leaves them alone) until the drain test releases them. */
const INSERT_OUTBOX = `
  INSERT INTO webhook_messages (id, delivery_id, delivery_seq, type, payload, request_id, next_attempt_at)
  VALUES ($1, $2, $3, 'delivery.assigned', $4, NULL, now() + interval '1 day')`;

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
 * up to 5 nearest candidates (100 km), then per candidate one transaction:
 * order lock, live-delivery check, conditional claim, delivery, audit event
 * and outbox row. Returns 'assigned', 'no-driver' or 'order-taken'.
 * @param {import('pg').Pool} sql
 * @param {Order} order
 */
export async function claimDirect(sql, order) {
  const cutoff = heartbeatCutoff();
  const { rows: candidates } = await sql.query(INDEXED_NEAREST, [order.pickup.lat, order.pickup.lon, cutoff, 100_130, 5]);
  const client = await sql.connect();
  try {
    for (const candidate of candidates) {
      const outcome = await claimIn(client, order, candidate, cutoff);
      if (outcome !== 'driver-taken') return outcome;
    }
    return 'no-driver';
  } finally {
    client.release();
  }
}

/**
 * @param {import('pg').PoolClient} client
 * @param {Order} order
 * @param {{ id: string, lat: number, lon: number }} driver
 * @param {Date} cutoff
 */
async function claimIn(client, order, driver, cutoff) {
  const driverId = driver.id;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('seller-order:' || $1))`, [order.sellerOrderId]);
    const live = await client.query(`SELECT id FROM deliveries WHERE seller_order_id = $1 AND status IN ('ASSIGNED', 'PICKED_UP')`, [
      order.sellerOrderId,
    ]);
    if (live.rowCount) return rollback(client, 'order-taken');
    if (!(await client.query(CLAIM, [driverId, cutoff])).rowCount) return rollback(client, 'driver-taken');
    const distance = Math.round(haversineMeters(order.pickup, driver) * 10) / 10;
    const { rows: [delivery] } = await client.query(INSERT_DELIVERY, [
      order.sellerOrderId, driverId, order.pickup.lat, order.pickup.lon, order.dropoff.lat, order.dropoff.lon, distance,
    ]);
    const { rows: [event] } = await client.query(INSERT_EVENT, [delivery.id, JSON.stringify({ driverId, distanceMeters: distance })]);
    const at = event.at.toISOString();
    const payload = {
      type: 'delivery.assigned',
      timestamp: at,
      data: { deliveryId: delivery.id, sellerOrderId: order.sellerOrderId, channelId: null, driverId, status: 'ASSIGNED', distanceMeters: distance, occurredAt: at },
    };
    await client.query(INSERT_OUTBOX, [`msg_${randomUUID()}`, delivery.id, event.seq, JSON.stringify(payload)]);
    await client.query('COMMIT');
    return 'assigned';
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/**
 * @param {import('pg').PoolClient} client
 * @param {string} outcome
 */
async function rollback(client, outcome) {
  await client.query('ROLLBACK');
  return outcome;
}
