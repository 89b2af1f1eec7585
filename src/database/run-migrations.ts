import { DataSource } from 'typeorm';

/** Any constant unique to this service; the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 7_316_450_021;

/**
 * Applies pending migrations. On PostgreSQL the run holds an advisory lock,
 * so workers starting together (PM2 cluster) take turns: the first applies,
 * the others then find nothing pending. The embedded database has one
 * connection and one process, so it needs no lock.
 */
export async function runMigrations(dataSource: DataSource, embedded: boolean): Promise<string[]> {
  if (embedded) return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  const lockHolder = dataSource.createQueryRunner();
  await lockHolder.connect();
  try {
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  } finally {
    await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lockHolder.release();
  }
}
