import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DataSource } from 'typeorm';

/** A file of SQL routines (functions): applied as a whole, again whenever its text changes. */
export interface SqlRoutineFile {
  /** Its path under src/, which also names it in `sql_routines`. */
  name: string;
  url: URL;
}

/**
 * The routine files, in the order they are applied: a file may call the
 * functions of the files before it. Each lives beside the code that calls
 * it; the build copies them into dist/ with the compiled code.
 */
export const SQL_ROUTINE_FILES: SqlRoutineFile[] = ['fleet/fleet.sql', 'deliveries/deliveries.sql'].map((name) => ({
  name,
  url: new URL(`../${name}`, import.meta.url),
}));

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function appliedHash(dataSource: DataSource, file: SqlRoutineFile): Promise<string | undefined> {
  const rows: Array<{ sha256: string }> = await dataSource.query(`SELECT sha256 FROM sql_routines WHERE name = $1`, [file.name]);
  return rows[0]?.sha256;
}

/**
 * The files whose text differs from what the database last applied (or that
 * it never applied): what a start-up with DB_MIGRATIONS_RUN=false reports,
 * since the service then runs on functions this build did not write.
 */
export async function staleSqlRoutines(dataSource: DataSource, files: SqlRoutineFile[] = SQL_ROUTINE_FILES): Promise<string[]> {
  const stale: string[] = [];
  for (const file of files) if ((await appliedHash(dataSource, file)) !== sha256(readFileSync(file.url, 'utf8'))) stale.push(file.name);
  return stale;
}

/**
 * Applies every routine file whose text differs from the one last applied,
 * each in one transaction together with its new hash in `sql_routines`; an
 * unchanged file is skipped. This is Flyway's "repeatable migration": the
 * files hold only CREATE OR REPLACE statements (a changed signature needs a
 * DROP first), migrations only schema changes. Runs after the migrations,
 * under their lock (see runMigrations), so processes starting together apply
 * a changed file once. Returns the names of the files applied.
 */
export async function applySqlRoutines(dataSource: DataSource, files: SqlRoutineFile[] = SQL_ROUTINE_FILES): Promise<string[]> {
  const applied: string[] = [];
  for (const file of files) {
    const text = readFileSync(file.url, 'utf8');
    const hash = sha256(text);
    if ((await appliedHash(dataSource, file)) === hash) continue;
    await dataSource.transaction(async (manager) => {
      await manager.query(text);
      await manager.query(
        `INSERT INTO sql_routines (name, sha256) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()`,
        [file.name, hash],
      );
    });
    applied.push(file.name);
  }
  return applied;
}
