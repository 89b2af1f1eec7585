import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../migrations/index.js';
import { LocationWriter } from '../src/availability/location-writer.js';
import { runMigrations } from '../src/database/run-migrations.js';
import { SQL_ROUTINE_FILES, SqlRoutineFile } from '../src/database/sql-routines.js';
import { createTestDatabase } from './support/databases.js';
import { sendEvent } from './support/fleet.js';
import { bearer, startTestApp } from './support/test-app.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
type Database = Awaited<ReturnType<typeof createTestDatabase>>;

async function withClient<T>(url: string, work: (sql: pg.Client) => Promise<T>): Promise<T> {
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  try {
    return await work(sql);
  } finally {
    await sql.end();
  }
}

/** The routine files as recorded in the database: name → hash of the text applied. */
const recorded = (url: string) =>
  withClient(url, async (sql) =>
    Object.fromEntries((await sql.query('SELECT name, sha256 FROM sql_routines')).rows.map((r) => [r.name, r.sha256])),
  );

const functionSource = (url: string, name: string) =>
  withClient(url, async (sql) =>
    (await sql.query(`SELECT prosrc FROM pg_proc WHERE proname = $1`, [name])).rows.map((r) => r.prosrc as string),
  );

/**
 * SQL routines (functions) live in `.sql` files beside their callers and are
 * applied after the migrations, again whenever a file changes: on a new
 * database, on one the previous release left, and once however many
 * processes start together.
 */
describe('SQL routines: files applied after the migrations', () => {
  const databases: Database[] = [];
  const fresh = async (label: string) => {
    const database = await createTestDatabase(label);
    databases.push(database);
    return database;
  };
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });

  it('on a new database: every file applied, its hash recorded, its functions in place', async () => {
    const database = await fresh('routines_new');
    const t = await startTestApp({ DATABASE_URL: database.url });
    await t.close();
    const expected = Object.fromEntries(SQL_ROUTINE_FILES.map((file) => [file.name, sha256(readFileSync(file.url, 'utf8'))]));
    expect(Object.keys(expected)).toEqual(['fleet/fleet.sql', 'deliveries/deliveries.sql']);
    expect(await recorded(database.url)).toEqual(expected);
    expect(await functionSource(database.url, 'claim_delivery')).toEqual([expect.stringContaining('claim_driver(')]);
    expect(await functionSource(database.url, 'driver_is_choosable')).toHaveLength(1);
  });

  it('with DB_MIGRATIONS_RUN=false, names the files the database did not get from this release', async () => {
    const database = await fresh('routines_not_run');
    await (await startTestApp({ DATABASE_URL: database.url })).close();
    await withClient(database.url, (sql) => sql.query(`UPDATE sql_routines SET sha256 = repeat('0', 64) WHERE name = 'fleet/fleet.sql'`));
    const errors: string[] = [];
    const logger = { log() {}, warn() {}, debug() {}, verbose() {}, error: (message: unknown) => void errors.push(String(message)) };
    await (await startTestApp({ DATABASE_URL: database.url, DB_MIGRATIONS_RUN: 'false' }, { logger })).close();
    expect(errors.filter((line) => line.includes('SQL routines'))).toEqual([
      'SQL routines not applied by this release: fleet/fleet.sql; run npm run migration:run (DB_MIGRATIONS_RUN=false)',
    ]);
    // Nothing was applied: the database keeps what it had.
    expect((await recorded(database.url))['fleet/fleet.sql']).toBe('0'.repeat(64));
  });

  it("on the previous release's database: the functions replaced, its data and its live delivery kept", async () => {
    const database = await fresh('routines_upgrade');
    await withClient(database.url, (sql) => sql.query(readFileSync('test/fixtures/previous-release.sql', 'utf8')));
    // The previous release's claim makes the driver BUSY itself; this release's asks claim_driver.
    expect(await functionSource(database.url, 'claim_delivery')).toEqual([expect.not.stringContaining('claim_driver(')]);

    const t = await startTestApp({ DATABASE_URL: database.url });
    try {
      const migrations = await withClient(database.url, async (sql) =>
        (await sql.query('SELECT name FROM migrations ORDER BY id')).rows.map((r) => r.name),
      );
      expect(migrations).toEqual(MIGRATIONS.map((m) => new m().name));
      expect(Object.keys(await recorded(database.url)).sort()).toEqual(['deliveries/deliveries.sql', 'fleet/fleet.sql']);
      expect(await functionSource(database.url, 'claim_delivery')).toEqual([expect.stringContaining('claim_driver(')]);

      // The delivery the previous release assigned is still the order's answer.
      const repeat = await sendEvent(t, 'seller-order-ready', { sellerOrderId: 'SO-PREVIOUS', pickupLat: 52.52, pickupLon: 13.405 }).expect(
        200,
      );
      expect(repeat.body).toMatchObject({ assigned: true, driverId: '11111111-1111-4111-8111-111111111111' });
      // Bob, registered under the previous release, is claimed by this one's routines.
      const bob = { id: '22222222-2222-4222-8222-222222222222', token: `drv_${'B'.repeat(43)}` };
      await request(t.server).patch(`/drivers/${bob.id}/location`).set(bearer(bob.token)).send({ lat: 52.521, lon: 13.406 }).expect(200);
      await t.app.get(LocationWriter).flush();
      const next = await sendEvent(t, 'seller-order-ready', { sellerOrderId: 'SO-NEXT', pickupLat: 52.52, pickupLon: 13.405 }).expect(200);
      expect(next.body).toMatchObject({ assigned: true, driverId: bob.id });
      const states = await withClient(
        database.url,
        async (sql) => (await sql.query('SELECT status, state_version FROM drivers ORDER BY id')).rows,
      );
      expect(states).toEqual([
        { status: 'BUSY', state_version: 1 },
        { status: 'BUSY', state_version: 1 },
      ]);
    } finally {
      await t.close();
    }
  });

  it("between this release's migrations and its routines, the previous release's location writes still succeed", async () => {
    // The migrations commit before the routine files are applied; an instance of the previous release,
    // still running, may write in between, knowing nothing of the indexed position.
    const database = await fresh('routines_gap');
    await withClient(database.url, (sql) => sql.query(readFileSync('test/fixtures/previous-release.sql', 'utf8')));
    const source = await new DataSource({ type: 'postgres', url: database.url, migrations: MIGRATIONS }).initialize();
    try {
      expect(await runMigrations(source, false, [])).toMatchObject({ routines: [] });
    } finally {
      await source.destroy();
    }
    const positions = await withClient(database.url, async (sql) => {
      // As the previous release registers a driver, then writes its first location and a move of 5 km.
      const { rows } = await sql.query(
        `INSERT INTO drivers (name, phone, token_hash) VALUES ('Cleo Previous', '+4915100000003', md5('cleo') || md5('cleo')) RETURNING id`,
      );
      const write = (lat: number, lon: number) =>
        sql.query('UPDATE drivers SET last_lat = $2, last_lon = $3, last_location_at = now(), last_seen_at = now() WHERE id = $1', [
          rows[0].id,
          lat,
          lon,
        ]);
      const read = async () =>
        (await sql.query('SELECT last_lat, last_lon, indexed_lat, indexed_lon FROM drivers WHERE id = $1', [rows[0].id])).rows[0];
      await write(52.5, 13.4);
      const first = await read();
      await write(52.545, 13.4);
      return [first, await read()];
    });
    expect(positions).toEqual([
      { last_lat: 52.5, last_lon: 13.4, indexed_lat: 52.5, indexed_lon: 13.4 },
      { last_lat: 52.545, last_lon: 13.4, indexed_lat: 52.545, indexed_lon: 13.4 },
    ]);
  });

  describe('a file that changes', () => {
    let database: Database;
    let directory: string;
    let file: SqlRoutineFile;
    /** Applies `file` from `processes` data sources at once, as workers starting together do. */
    async function applyFrom(processes: number): Promise<string[][]> {
      const sources = await Promise.all(
        Array.from({ length: processes }, () =>
          new DataSource({ type: 'postgres', url: database.url, migrations: MIGRATIONS }).initialize(),
        ),
      );
      try {
        return (await Promise.all(sources.map((source) => runMigrations(source, false, [file])))).map((changes) => changes.routines);
      } finally {
        await Promise.all(sources.map((source) => source.destroy()));
      }
    }
    const version = (n: number) => `
      INSERT INTO probe_applications VALUES (${n});
      CREATE OR REPLACE FUNCTION probe_version() RETURNS int LANGUAGE sql AS $$ SELECT ${n} $$;`;
    const applications = () =>
      withClient(database.url, async (sql) =>
        (await sql.query('SELECT version FROM probe_applications ORDER BY version')).rows.map((r) => r.version),
      );

    beforeAll(async () => {
      database = await fresh('routines_change');
      await withClient(database.url, (sql) => sql.query('CREATE TABLE probe_applications (version int NOT NULL)'));
      directory = mkdtempSync(join(tmpdir(), 'routines-'));
      file = { name: 'probe/probe.sql', url: pathToFileURL(join(directory, 'probe.sql')) };
    });
    afterAll(() => rmSync(directory, { recursive: true, force: true }));

    it('is applied once by three processes starting together, and not again while it is unchanged', async () => {
      writeFileSync(file.url, version(1));
      const applied = await applyFrom(3);
      expect(applied.flat()).toEqual(['probe/probe.sql']);
      expect(await applications()).toEqual([1]);
      expect((await applyFrom(2)).flat()).toEqual([]);
      expect(await applications()).toEqual([1]);
    });

    it('is applied once more when its text changes, and its new functions answer', async () => {
      writeFileSync(file.url, version(2));
      expect((await applyFrom(3)).flat()).toEqual(['probe/probe.sql']);
      expect(await applications()).toEqual([1, 2]);
      expect(await withClient(database.url, async (sql) => (await sql.query('SELECT probe_version() AS v')).rows[0].v)).toBe(2);
      expect((await recorded(database.url))['probe/probe.sql']).toBe(sha256(version(2)));
    });

    it('a file that fails leaves nothing of itself, and is tried again next time', async () => {
      writeFileSync(file.url, `${version(3)}\nSELECT no_such_function();`);
      await expect(applyFrom(1)).rejects.toThrow(/no_such_function/);
      expect(await applications()).toEqual([1, 2]);
      expect((await recorded(database.url))['probe/probe.sql']).toBe(sha256(version(2)));
      writeFileSync(file.url, version(3));
      expect((await applyFrom(1)).flat()).toEqual(['probe/probe.sql']);
      expect(await applications()).toEqual([1, 2, 3]);
    });
  });
});
