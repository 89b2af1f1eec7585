import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database on the local PostgreSQL for one test file; `drop()` removes it. */
export async function createTestDatabase(label: string): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `driver_test_${label.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`.toLowerCase();
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Redis logical database for this Jest worker, so parallel files do not share keys. */
export function testRedisUrl(): string {
  const worker = Number(process.env.JEST_WORKER_ID ?? '1');
  return `redis://127.0.0.1:6379/${1 + (worker % 15)}`;
}
