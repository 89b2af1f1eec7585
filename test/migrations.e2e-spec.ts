import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { MIGRATIONS } from '../migrations/index.js';
import { createTestDatabase } from './support/databases.js';
import { startTestApp, TestApp } from './support/test-app.js';

describe('migrations at start-up', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('migrations');
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await database?.drop();
  });

  it('three processes starting at once on an empty database all come up; each migration runs once', async () => {
    const started = await Promise.allSettled([1, 2, 3].map(() => startTestApp({ DATABASE_URL: database.url })));
    for (const result of started) if (result.status === 'fulfilled') apps.push(result.value);
    expect(started.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);

    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    try {
      const { rows } = await sql.query('SELECT name FROM migrations ORDER BY id');
      expect(rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
    } finally {
      await sql.end();
    }
  });

  it('leaves the schema alone when DB_MIGRATIONS_RUN=false', async () => {
    const fresh = await createTestDatabase('no_migrations');
    try {
      const app = await startTestApp({ DATABASE_URL: fresh.url, DB_MIGRATIONS_RUN: 'false' });
      await app.close();
      const sql = new pg.Client({ connectionString: fresh.url });
      await sql.connect();
      const { rows } = await sql.query(`SELECT to_regclass('drivers') AS drivers`);
      await sql.end();
      expect(rows[0].drivers).toBeNull();
    } finally {
      await fresh.drop();
    }
  });
});
