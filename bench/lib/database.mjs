// @ts-check
/** The benchmark's own PostgreSQL database: creation, fleets, and the checks afterwards. */
import pg from 'pg';
import { newDriverToken } from './credentials.mjs';

const SERVER_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Drops and creates `name` on the local server; returns its URL.
 * @param {string} name
 */
export async function recreateDatabase(name) {
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** @param {string} url */
export function openPool(url, max = 4) {
  return new pg.Pool({ connectionString: url, max });
}

let phoneSequence = 0;

/**
 * Inserts AVAILABLE, active drivers at `points`, heartbeat now, each with a
 * fresh token (only its SHA-256 is stored, as the service does); in chunks,
 * one INSERT ... SELECT FROM unnest(...) each. Columns as in test/support/fleet.ts.
 * @param {pg.Pool} sql
 * @param {Array<{ lat: number, lon: number }>} points
 * @returns {Promise<Array<{ id: string, token: string, lat: number, lon: number }>>}
 */
export async function insertFleet(sql, points, chunk = 20_000) {
  /** @type {Array<{ id: string, token: string, lat: number, lon: number }>} */
  const drivers = [];
  for (let start = 0; start < points.length; start += chunk) {
    const part = points.slice(start, start + chunk);
    const tokens = part.map(() => newDriverToken());
    const { rows } = await sql.query(
      `INSERT INTO drivers (name, phone, token_hash, status, is_active, last_lat, last_lon, last_location_at, last_seen_at)
       SELECT 'Bench ' || (p.n + $4), '+4917' || lpad((p.n + $4)::text, 9, '0'), p.hash, 'AVAILABLE', true, p.lat, p.lon, now(), now()
       FROM unnest($1::float8[], $2::float8[], $3::text[]) WITH ORDINALITY AS p(lat, lon, hash, n)
       ORDER BY p.n
       RETURNING id`,
      [part.map((p) => p.lat), part.map((p) => p.lon), tokens.map((t) => t.hash), phoneSequence],
    );
    phoneSequence += part.length;
    rows.forEach((row, i) => drivers.push({ id: row.id, token: tokens[i].token, lat: part[i].lat, lon: part[i].lon }));
  }
  await sql.query('ANALYZE drivers');
  return drivers;
}

/**
 * Deliveries whose live periods overlap for one driver, or for one order:
 * both must be 0. A delivery is live from `assigned_at` until it ends (never, while live).
 * Also counts live deliveries whose driver is not BUSY (should be 0).
 * @param {pg.Pool} sql
 */
export async function doubleAssignments(sql) {
  const { rows } = await sql.query(`
    WITH spans AS (
      SELECT id, driver_id, seller_order_id, status, assigned_at AS s,
             COALESCE(delivered_at, failed_at, cancelled_at, 'infinity') AS e
      FROM deliveries)
    SELECT
      (SELECT count(*) FROM spans a JOIN spans b ON a.driver_id = b.driver_id AND a.id < b.id AND a.s < b.e AND b.s < a.e)::int AS drivers,
      (SELECT count(*) FROM spans a JOIN spans b ON a.seller_order_id = b.seller_order_id AND a.id < b.id AND a.s < b.e AND b.s < a.e)::int AS orders,
      (SELECT count(*) FROM spans d JOIN drivers r ON r.id = d.driver_id
        WHERE d.status IN ('ASSIGNED', 'PICKED_UP') AND r.status <> 'BUSY')::int AS "notBusy",
      (SELECT count(*) FROM deliveries)::int AS deliveries`);
  return /** @type {{ drivers: number, orders: number, notBusy: number, deliveries: number }} */ (rows[0]);
}
