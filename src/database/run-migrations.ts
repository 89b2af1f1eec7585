import { DataSource } from 'typeorm';
import { applySqlRoutines, SQL_ROUTINE_FILES, SqlRoutineFile } from './sql-routines.js';

/** Any constant unique to this service; the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 7_316_450_021;

/** What a run of the schema step applied. */
export interface SchemaChanges {
  migrations: string[];
  routines: string[];
}

/**
 * Applies pending migrations, then the SQL routine files that changed (see
 * applySqlRoutines). On PostgreSQL the run holds an advisory lock, so workers
 * starting together (PM2 cluster) take turns: the first applies, the others
 * then find nothing to do. The embedded database has one connection and one
 * process, so it needs no lock.
 */
export async function runMigrations(
  dataSource: DataSource,
  embedded: boolean,
  routines: SqlRoutineFile[] = SQL_ROUTINE_FILES,
): Promise<SchemaChanges> {
  const apply = async () => ({
    migrations: (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name),
    routines: await applySqlRoutines(dataSource, routines),
  });
  if (embedded) return apply();
  const lockHolder = dataSource.createQueryRunner();
  await lockHolder.connect();
  try {
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    return await apply();
  } finally {
    await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lockHolder.release();
  }
}
