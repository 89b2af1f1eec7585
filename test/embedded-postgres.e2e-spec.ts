import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../migrations/index.js';
import { createEmbeddedDriver } from '../src/database/embedded-postgres.js';
import { runMigrations } from '../src/database/run-migrations.js';

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('embedded PGlite driver', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'driver-service-embedded-'));
  let sut: DataSource;

  beforeAll(async () => {
    sut = await new DataSource({ type: 'postgres', driver: createEmbeddedDriver(dataDir), database: 'postgres' }).initialize();
    await sut.query('CREATE TABLE items (name text PRIMARY KEY)');
  });

  afterAll(async () => {
    await sut?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps concurrent transactions apart: one rolling back does not undo the other', async () => {
    const committed = sut.transaction(async (manager) => {
      await manager.query(`INSERT INTO items VALUES ('kept')`);
      await ticks(20); // give the other transaction every chance to interleave
    });
    const rolledBack = sut.transaction(async (manager) => {
      await manager.query(`INSERT INTO items VALUES ('undone')`);
      throw new Error('roll back');
    });
    const plain = sut.query(`SELECT count(*)::int AS n FROM items`);

    await committed;
    await expect(rolledBack).rejects.toThrow('roll back');
    // The plain query ran before or after the transactions, never inside one (it would have seen 2 rows).
    expect([0, 1]).toContain((await plain)[0].n);
    expect(await sut.query('SELECT name FROM items ORDER BY name')).toEqual([{ name: 'kept' }]);
  });

  it('reports affected rows and returned rows as node-postgres does', async () => {
    await sut.query(`INSERT INTO items VALUES ('a'), ('b')`);
    const [rows, affected] = await sut.query(`UPDATE items SET name = name || '!' WHERE name IN ($1, $2) RETURNING name`, ['a', 'b']);
    expect(affected).toBe(2);
    expect(rows.map((r: { name: string }) => r.name).sort()).toEqual(['a!', 'b!']);
  });

  it('loads the cube and earthdistance extensions', async () => {
    await sut.query('CREATE EXTENSION IF NOT EXISTS cube');
    await sut.query('CREATE EXTENSION IF NOT EXISTS earthdistance');
    const [{ metres }] = await sut.query('SELECT earth_distance(ll_to_earth(52.52, 13.405), ll_to_earth(52.51, 13.39)) AS metres');
    expect(metres).toBeGreaterThan(1_400);
    expect(metres).toBeLessThan(1_600);
  });

  it('runs the migrations and the SQL routines, and a batch of claims there as on PostgreSQL: each claim its own outcome', async () => {
    const driver = createEmbeddedDriver(join(dataDir, 'migrated'));
    const migrated = await new DataSource({ type: 'postgres', driver, database: 'postgres', migrations: MIGRATIONS }).initialize();
    try {
      expect((await runMigrations(migrated, true)).routines).toEqual(['fleet/fleet.sql', 'deliveries/deliveries.sql']);
      const [{ id }] = await migrated.query(
        `INSERT INTO drivers (name, phone, token_hash, status, last_lat, last_lon, last_location_at, last_seen_at)
         VALUES ('Embedded', '+4917000000001', repeat('a', 64), 'AVAILABLE', 52.52, 13.405, now(), now()) RETURNING id`,
      );
      const claim = (sellerOrderId: string) => ({
        seller_order_id: sellerOrderId,
        driver_id: id,
        pickup_lat: 52.52,
        pickup_lon: 13.405,
        distance_meters: 0,
        heartbeat_cutoff: new Date(Date.now() - 60_000).toISOString(),
        actor: 'vendure',
        first_attempt_after_seconds: 0,
      });
      const claims = JSON.stringify([claim('SO-1'), claim('SO-2'), claim('SO-1')]);
      const rows = await migrated.query(`SELECT outcome FROM assign_deliveries($1)`, [claims]);
      expect(rows.map((row: { outcome: string }) => row.outcome)).toEqual(['assigned', 'driver-taken', 'order-live']);
      // The previous release's name for the claim still answers, for its processes during a rolling restart.
      const [previous] = await migrated.query(
        `SELECT outcome FROM assign_delivery('SO-1', NULL, $1, 52.52, 13.405, NULL, NULL, 0, now() - interval '1 minute', 'vendure', NULL, 0)`,
        [id],
      );
      expect(previous.outcome).toBe('order-live');
    } finally {
      await migrated.destroy();
    }
  });
});
