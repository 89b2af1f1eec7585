import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { AvailabilityRepository, LocationWrite } from '../src/availability/availability.repository.js';
import { haversineMeters, INDEXED_POSITION_LAG_METERS } from '../src/availability/geo.js';
import { useServiceEnvironment } from './support/service-environment.js';

const METERS_PER_DEGREE = (6_371_008.8 * Math.PI) / 180;
const DEPOT = { lat: 52.5, lon: 13.4 };
/** A point `north` and `east` metres from `from`. */
const offset = (from: { lat: number; lon: number }, north: number, east = 0) => ({
  lat: from.lat + north / METERS_PER_DEGREE,
  lon: from.lon + east / (METERS_PER_DEGREE * Math.cos((from.lat * Math.PI) / 180)),
});

/**
 * PostgreSQL's search index holds each driver's indexed position, which
 * follows the location only once the driver is more than 200 m from it
 * (the trigger drivers_keep_indexed_position), so most location writes are
 * HOT updates. The search's allowance for that lag is checked against brute
 * force by test/nearest-search-property.e2e-spec.ts.
 */
describe('the indexed position: a search index that lags the location by at most 200 m', () => {
  const env = useServiceEnvironment('indexed_position');
  let sql: pg.Client;

  beforeAll(() => {
    ({ sql } = env);
  });

  beforeEach(() => env.reset());

  async function insertDriver(at: { lat: number; lon: number }, indexed?: { lat: number; lon: number }): Promise<string> {
    const { rows } = await sql.query<{ id: string }>(
      `INSERT INTO drivers (name, phone, token_hash, status, last_lat, last_lon, indexed_lat, indexed_lon, last_location_at, last_seen_at)
       VALUES ('Driver', '+4915' || floor(random() * 1e9)::text, md5(random()::text) || md5(random()::text), 'AVAILABLE',
               $1, $2, $3, $4, now(), now())
       RETURNING id`,
      [at.lat, at.lon, indexed?.lat ?? null, indexed?.lon ?? null],
    );
    return rows[0].id;
  }
  const positions = async (id: string) =>
    (await sql.query('SELECT last_lat, last_lon, indexed_lat, indexed_lon FROM drivers WHERE id = $1', [id])).rows[0];
  const moveTo = (id: string, at: { lat: number; lon: number } | null) =>
    sql.query('UPDATE drivers SET last_lat = $2, last_lon = $3 WHERE id = $1', [id, at?.lat ?? null, at?.lon ?? null]);

  it('follows the location only once it is more than INDEXED_POSITION_LAG_METERS away, whoever writes', async () => {
    const id = await insertDriver(DEPOT);
    expect(await positions(id)).toMatchObject({ indexed_lat: DEPOT.lat, indexed_lon: DEPOT.lon });

    const within = offset(DEPOT, INDEXED_POSITION_LAG_METERS - 1);
    await moveTo(id, within);
    expect(await positions(id)).toMatchObject({ last_lat: within.lat, indexed_lat: DEPOT.lat, indexed_lon: DEPOT.lon });

    const beyond = offset(DEPOT, INDEXED_POSITION_LAG_METERS + 1);
    await moveTo(id, beyond);
    expect(await positions(id)).toMatchObject({ indexed_lat: beyond.lat, indexed_lon: beyond.lon });

    // Written by hand too far from the location, it is put back on it; a lag within the bound is kept.
    await sql.query('UPDATE drivers SET indexed_lat = 10, indexed_lon = 10 WHERE id = $1', [id]);
    expect(await positions(id)).toMatchObject({ indexed_lat: beyond.lat, indexed_lon: beyond.lon });
    const lagging = offset(beyond, 0, 150);
    await sql.query('UPDATE drivers SET indexed_lat = $2, indexed_lon = $3 WHERE id = $1', [id, lagging.lat, lagging.lon]);
    expect(await positions(id)).toMatchObject({ indexed_lat: lagging.lat, indexed_lon: lagging.lon });

    // A driver without a location has no indexed position; one inserted with a location has its own.
    await moveTo(id, null);
    expect(await positions(id)).toMatchObject({ indexed_lat: null, indexed_lon: null });
    const far = await insertDriver(DEPOT, offset(DEPOT, 5_000));
    expect(await positions(far)).toMatchObject({ indexed_lat: DEPOT.lat, indexed_lon: DEPOT.lon });
  });

  it('keeps the bound across the antimeridian', async () => {
    const east = { lat: -17, lon: 179.9995 };
    const id = await insertDriver(east);
    const west = { lat: -17, lon: -179.9995 }; // 106 m away, across 180°
    expect(haversineMeters(east.lat, east.lon, west.lat, west.lon)).toBeLessThan(INDEXED_POSITION_LAG_METERS);
    await moveTo(id, west);
    expect(await positions(id)).toMatchObject({ last_lon: west.lon, indexed_lon: east.lon });
  });

  it("makes the write-behind's update of a driver moving within the bound a HOT update, and one beyond it not", async () => {
    const repository = new AvailabilityRepository(null as never, dataSourceOn(sql, hotCounts));
    const ids = [await insertDriver(DEPOT), await insertDriver(offset(DEPOT, 1_000)), await insertDriver(offset(DEPOT, 2_000))];
    const write = (north: number) =>
      repository.writeLocations(
        ids.map((driverId, i): LocationWrite => ({
          driverId,
          ...offset(DEPOT, i * 1_000 + north),
          recordedAt: new Date(),
          seenAt: new Date(),
          moves: true,
          accuracy: null,
          heading: null,
          speed: null,
        })),
      );

    await write(50);
    expect(hotCounts.at(-1)).toEqual({ updated: 3, hot: 3 });
    await write(300);
    expect(hotCounts.at(-1)).toEqual({ updated: 3, hot: 0 });
    for (const [i, id] of ids.entries()) {
      expect(await positions(id)).toMatchObject({ indexed_lat: offset(DEPOT, i * 1_000 + 300).lat });
    }
  });

  /**
   * The tuples of `drivers` each transaction updated, and how many of them were HOT. The backend's
   * counters include its earlier transactions until it reports them, so each is read before and after.
   */
  const hotCounts: Array<{ updated: number; hot: number }> = [];
  function dataSourceOn(client: pg.Client, counts: typeof hotCounts): DataSource {
    const manager = { query: async (text: string, values?: unknown[]) => (await client.query(text, values)).rows };
    const read = async () =>
      (
        await client.query<{ updated: number; hot: number }>(
          `SELECT pg_stat_get_xact_tuples_updated('drivers'::regclass)::int AS updated,
                  pg_stat_get_xact_tuples_hot_updated('drivers'::regclass)::int AS hot`,
        )
      ).rows[0];
    return {
      async transaction(work: (m: typeof manager) => Promise<unknown>) {
        await client.query('BEGIN');
        try {
          const before = await read();
          await work(manager);
          const after = await read();
          counts.push({ updated: after.updated - before.updated, hot: after.hot - before.hot });
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      },
    } as unknown as DataSource;
  }
});
