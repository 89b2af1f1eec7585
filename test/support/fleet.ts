import type pg from 'pg';
import request from 'supertest';
import { signedHeaders } from './signing.js';
import { TestApp, VENDURE_SECRET } from './test-app.js';

export interface FleetDriver {
  id: string;
  lat: number;
  lon: number;
}

export interface FleetOptions {
  status?: 'AVAILABLE' | 'BUSY' | 'OFFLINE';
  isActive?: boolean;
  /** Seconds since the last heartbeat (default 0: fresh). */
  seenSecondsAgo?: number;
}

let sequence = 0;

/**
 * Inserts drivers straight into PostgreSQL (fast, for fleets); call the
 * reconciler afterwards when Redis must know them.
 */
export async function insertDrivers(
  sql: pg.Client,
  points: Array<{ lat: number; lon: number }>,
  options: FleetOptions = {},
): Promise<FleetDriver[]> {
  if (points.length === 0) return [];
  const first = (sequence += points.length) - points.length;
  const { rows } = await sql.query(
    `INSERT INTO drivers (name, phone, token_hash, status, is_active, last_lat, last_lon, last_location_at, last_seen_at)
     SELECT 'Fleet ' || p.n, '+4917' || lpad((p.n + $6)::text, 9, '0'), md5(random()::text) || md5(random()::text),
            $3, $4, p.lat, p.lon, now(), now() - make_interval(secs => $5)
     FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY AS p(lat, lon, n)
     ORDER BY p.n
     RETURNING id, last_lat AS lat, last_lon AS lon`,
    [
      points.map((p) => p.lat),
      points.map((p) => p.lon),
      options.status ?? 'AVAILABLE',
      options.isActive ?? true,
      options.seenSecondsAgo ?? 0,
      first,
    ],
  );
  return rows;
}

/** `n` points scattered in a square of `sizeKm` around a centre. */
export function scatter(n: number, centre = { lat: 52.52, lon: 13.405 }, sizeKm = 5): Array<{ lat: number; lon: number }> {
  const dLat = sizeKm / 111.2;
  const dLon = sizeKm / (111.2 * Math.cos((centre.lat * Math.PI) / 180));
  return Array.from({ length: n }, (_, i) => ({
    lat: centre.lat + dLat * (((i * 7919) % 1000) / 1000 - 0.5),
    lon: centre.lon + dLon * (((i * 104729) % 1000) / 1000 - 0.5),
  }));
}

/** A Vendure event as Vendure sends it: JSON body, Standard Webhooks signature. */
export function sendEvent(t: TestApp, path: 'seller-order-ready' | 'seller-order-cancelled', body: object, secret = VENDURE_SECRET) {
  const raw = JSON.stringify(body);
  return request(t.server)
    .post(`/events/${path}`)
    .set({ 'content-type': 'application/json', ...signedHeaders(secret, raw) })
    .send(raw);
}
