// @ts-check
/**
 * What the location write-behind costs PostgreSQL, for the capacity model
 * (docs/capacity.md): batches of moved drivers written with the service's
 * own statement (AvailabilityRepository.writeLocations, loaded from dist/
 * and run on a plain `pg` connection, one batch at a time as one process's
 * LocationWriter does), against the same batches into a narrow table that
 * holds only the live position (its key and a GiST index; the layout
 * docs/benchmarks.md names as the next step for ingest). Rows per second,
 * PostgreSQL's CPU per row (the CPU table) and WAL bytes per row. Twice:
 * with every point somewhere new in the city (each write then moves the
 * driver's indexed position, so no write is a HOT update), and with drivers
 * on the move as a fleet is (each write a 4 s ping: 40 % parked with a few
 * metres of GPS noise, the rest driving 5-14 m/s on a heading), where most
 * writes leave the indexed position alone.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { driveOn, MUNICH, newCar } from './city.mjs';
import { compare, plainRow, ratioRow } from './compare.mjs';
import { insertFleet } from './database.mjs';
import { closedLoop } from './load-runner.mjs';
import { log } from './report.mjs';
import { ROOT } from './service.mjs';
import { fixed } from './stats.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */

/** Drivers moved per batch: the buffer of one 250 ms flush at 8,000 pings/s. */
const BATCH = 2_000;
const FLEET = 20_000;
/** Seconds between two pings of a driver on the move. */
const PING_SECONDS = 4;

const NARROW_WRITE = `
  UPDATE bench_positions p SET lat = v.lat, lon = v.lon, located_at = v.recorded_at, seen_at = v.seen_at
  FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, lat double precision, lon double precision, recorded_at timestamptz, seen_at timestamptz)
  WHERE p.id = v.id`;

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function writeBehindFigure(bench) {
  const { AvailabilityRepository } = await import(pathToFileURL(join(ROOT, 'dist/src/availability/availability.repository.js')).href);
  log(`write-behind: inserting ${FLEET} drivers in ${MUNICH.name} and a narrow position table beside them`);
  const starts = Array.from({ length: FLEET }, () => MUNICH.randomPoint());
  const ids = (await insertFleet(bench.sql, starts)).map((d) => d.id);
  /** The fleet on the move: one copy per table written. */
  const fleets = { drivers: starts.map(newCar), narrow: starts.map(newCar) };
  /** The next ping of driver `i` of `fleet`, PING_SECONDS on. */
  const drive = (/** @type {ReturnType<typeof newCar>[]} */ fleet, /** @type {number} */ i) => driveOn(MUNICH, fleet[i], PING_SECONDS);
  return bench.withPool(2, async (pool) => {
    await pool.query(`DROP TABLE IF EXISTS bench_positions`);
    await pool.query(
      `CREATE TABLE bench_positions (id uuid PRIMARY KEY, lat double precision, lon double precision, located_at timestamptz, seen_at timestamptz)`,
    );
    await pool.query(
      `INSERT INTO bench_positions SELECT id, last_lat, last_lon, last_location_at, last_seen_at FROM drivers WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    await pool.query(`CREATE INDEX ON bench_positions USING gist (ll_to_earth(lat, lon))`);
    await pool.query(`ANALYZE bench_positions`);
    try {
      // The repository's transaction on one pooled connection: what TypeORM's DataSource does for it.
      const dataSource = {
        async transaction(/** @type {(manager: { query: Function }) => Promise<unknown>} */ work) {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await work({
              query: async (/** @type {string} */ text, /** @type {unknown[]} */ values) => (await client.query(text, values)).rows,
            });
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          } finally {
            client.release();
          }
        },
      };
      const repository = new AvailabilityRepository(null, dataSource);
      const points = (/** @type {ReturnType<typeof newCar>[] | null} */ moving) => {
        const now = new Date();
        const start = Math.floor(Math.random() * (FLEET - BATCH));
        return ids.slice(start, start + BATCH).map((driverId, i) => ({
          driverId,
          ...(moving ? drive(moving, start + i) : MUNICH.randomPoint()),
          recordedAt: now,
          seenAt: now,
          moves: true,
          accuracy: null,
          heading: null,
          speed: null,
        }));
      };
      const intoDrivers = (/** @type {boolean} */ moving) => repository.writeLocations(points(moving ? fleets.drivers : null));
      const intoNarrow = (/** @type {boolean} */ moving) => {
        const rows = points(moving ? fleets.narrow : null).map((p) => ({
          id: p.driverId,
          lat: p.lat,
          lon: p.lon,
          recorded_at: p.recordedAt,
          seen_at: p.seenAt,
        }));
        return pool.query(NARROW_WRITE, [JSON.stringify(rows)]);
      };
      const rowsPerSecond = (/** @type {() => Promise<unknown>} */ task) => async (/** @type {number} */ seconds) => {
        const m = await closedLoop({ concurrency: 1, seconds, task: async () => void (await task()) });
        return { ...m, rps: m.rps * BATCH };
      };
      const walPerRow = async (/** @type {() => Promise<unknown>} */ task) => {
        const lsn = async () => (await pool.query(`SELECT pg_current_wal_lsn() AS at`)).rows[0].at;
        const before = await lsn();
        for (let i = 0; i < 10; i += 1) await task();
        const { rows } = await pool.query(`SELECT pg_wal_lsn_diff($1, $2)::float8 AS bytes`, [await lsn(), before]);
        return rows[0].bytes / (10 * BATCH);
      };
      /** @type {Row[]} */
      const rows = [];
      for (const [moving, label, how] of /** @type {const} */ ([
        [false, 'write-behind rows', 'every point somewhere new'],
        [true, 'write-behind rows, fleet on the move', 'drivers on the move'],
      ])) {
        const { service, baseline } = await compare(bench, label, {
          service: rowsPerSecond(() => intoDrivers(moving)),
          baseline: rowsPerSecond(() => intoNarrow(moving)),
        });
        const [walDrivers, walNarrow] = [await walPerRow(() => intoDrivers(moving)), await walPerRow(() => intoNarrow(moving))];
        log(`${label}: WAL per row ${fixed(walDrivers, 0)} B into drivers, ${fixed(walNarrow, 0)} B into the narrow table`);
        const clean = service.errors === 0 && baseline.errors === 0;
        rows.push(
          ratioRow(
            `write-behind, ${how}: rows/s into drivers (the service's statement) vs a narrow position table, batches of ${BATCH}`,
            'rows/s',
            service.rps,
            baseline.rps,
            { text: 'measured', holds: () => clean },
          ),
          plainRow(
            `write-behind, ${how}: WAL per row, drivers vs the narrow table`,
            `${fixed(walDrivers, 0)} B vs ${fixed(walNarrow, 0)} B`,
            'measured',
            clean,
          ),
        );
      }
      return rows;
    } finally {
      await pool.query(`DROP TABLE IF EXISTS bench_positions`);
    }
  });
}
