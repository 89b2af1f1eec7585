import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'driver-service.lock';

/** Another running process holds the embedded database. */
export class DataDirectoryLockedError extends Error {
  override name = 'DataDirectoryLockedError';
}

/** Whether a process with this pid runs (another user's counts too: EPERM). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the embedded database's directory for this process, or throws naming
 * it: PGlite is one process's database, and a second process opening the
 * same files would corrupt them. The lock is a file holding the owner's pid;
 * a lock left by a process that no longer runs (killed, or this same pid in
 * a restarted container) is taken over. It is removed when this process exits.
 */
export function lockDataDirectory(directory: string): void {
  const path = join(directory, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      process.once('exit', () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          // Already gone.
        }
      });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && running(owner)) {
      throw new DataDirectoryLockedError(
        `The embedded database in ${directory} is in use by process ${owner}. Run one service process on it, ` +
          'or set DATABASE_URL to share a PostgreSQL between several.',
      );
    }
    // Stale: its process is gone.
    unlinkSync(path);
  }
  throw new Error(`Could not lock the embedded database in ${directory}`);
}
