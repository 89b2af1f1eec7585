import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from '../src/database/embedded-lock.js';
import { freePort } from './support/free-port.js';
import { ServiceProcess } from './support/service-process.js';

/**
 * The embedded database belongs to one process: a second service process on
 * the same directory stops at start-up, naming it, instead of opening the
 * same PGlite files (which would corrupt them). The built service, as
 * `npm start` runs it.
 */
describe('the embedded database directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'driver-embedded-lock-'));
  const lock = join(dataDir, LOCK_FILE);
  const start = async () => new ServiceProcess({ PORT: String(await freePort()), PGLITE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses a second process with a message naming the directory; the first keeps running', async () => {
    const first = await start();
    await first.ready();
    expect(readFileSync(lock, 'utf8')).toBe(String(first.child.pid));
    try {
      const second = await start();
      expect(await second.exited).toBe(1);
      expect(second.stderr).toContain(`The embedded database in ${dataDir} is in use by process ${first.child.pid}`);
      expect(first.child.exitCode).toBeNull();
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over the lock of a process that was killed', async () => {
    const killed = await start();
    await killed.ready();
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(readFileSync(lock, 'utf8')).toBe(String(killed.child.pid));

    const next = await start();
    await next.ready();
    expect(readFileSync(lock, 'utf8')).toBe(String(next.child.pid));
    // Stopped right after 'ready': the SIGTERM handler is in place by then, so the exit is graceful.
    expect(await next.stop()).toBe(0);
  });
});
