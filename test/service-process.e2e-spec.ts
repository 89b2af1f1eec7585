import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { newPhone } from './support/factories.js';
import { freePort } from './support/free-port.js';
import { ServiceProcess } from './support/service-process.js';
import { ADMIN_KEY } from './support/test-app.js';

const json = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };

/** The built service as a real process: start-up, configuration errors, embedded database, shutdown. */
describe('the service process', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('starts with no database configured on embedded PGlite, serves, keeps its data, and stops with exit 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'driver-service-pglite-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const env = { PORT: String(port), PGLITE_DATA_DIR: dataDir, ADMIN_API_KEY: ADMIN_KEY };
    const base = `http://127.0.0.1:${port}`;

    const first = new ServiceProcess(env);
    cleanups.push(() => first.stop());
    await first.ready();
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      info: { database: { status: 'up' }, redis: { status: 'down', message: 'not configured' } },
    });
    const created = await fetch(`${base}/drivers`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'Embedded', phone: newPhone() }),
    });
    expect(created.status).toBe(201);
    const driver = (await created.json()) as { id: string };

    const ui = await fetch(`${base}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
    const docs = (await (await fetch(`${base}/docs-json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(docs.paths)).toContain('/drivers/{id}/token');

    expect(await first.stop()).toBe(0);
    expect(first.stdout).toContain('"level":"info"');

    // Same data directory: the driver is still there and migrations are not re-applied.
    const second = new ServiceProcess(env);
    cleanups.push(() => second.stop());
    await second.ready();
    const again = await fetch(`${base}/drivers/${driver.id}`, { headers: json });
    expect(again.status).toBe(200);
    expect(await second.stop()).toBe(0);
  });

  it('refuses to start on a bad variable, naming it and never printing a secret', async () => {
    const service = new ServiceProcess({ PORT: 'eighty', ADMIN_API_KEY: 'too-short-secret-value' });
    expect(await service.exited).toBe(1);
    expect(service.stderr).toContain('PORT: must be a whole number from 1 to 65535');
    expect(service.stderr).toContain('ADMIN_API_KEY: must be at least 32 printable characters');
    expect(service.stderr + service.stdout).not.toContain('too-short-secret-value');
  });

  /** The built service on a database of its own, ready; both go at the end of the file. */
  async function readyService(label: string, env: Record<string, string> = {}) {
    const database = await createTestDatabase(label);
    cleanups.push(() => database.drop());
    const port = await freePort();
    const service = new ServiceProcess({ PORT: String(port), DATABASE_URL: database.url, ADMIN_API_KEY: ADMIN_KEY, ...env });
    cleanups.push(() => service.stop());
    await service.ready();
    return { database, service, base: `http://127.0.0.1:${port}` };
  }

  it('on SIGTERM (even twice) finishes the requests in flight, refuses new ones, and exits 0', async () => {
    const { database, service, base } = await readyService('shutdown');

    // Hold the drivers table so that five creations are in flight inside the service.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    cleanups.push(() => blocker.end());
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE drivers IN ACCESS EXCLUSIVE MODE');
    const inFlight = Array.from({ length: 5 }, () =>
      fetch(`${base}/drivers`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'In flight', phone: newPhone() }) }),
    );
    // Watched from another connection: inside the blocker's transaction the view would be a frozen snapshot.
    const observer = new pg.Client({ connectionString: database.url });
    await observer.connect();
    cleanups.push(() => observer.end());
    await eventually(
      async () => {
        const { rows } = await observer.query(
          // The creations only: a background job reading drivers meanwhile (the lost-driver check) waits on the lock too.
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO "drivers"%'`,
          [database.name],
        );
        return rows[0].n === 5;
      },
      { what: 'five requests waiting on the lock' },
    );

    service.child.kill('SIGTERM');
    await service.logged('SIGTERM received');
    // An impatient second signal must not cut the drain short.
    service.child.kill('SIGTERM');
    // No new connections once shutdown has begun.
    await expect(fetch(`${base}/health`)).rejects.toThrow();

    await blocker.query('COMMIT');
    const responses = await Promise.all(inFlight);
    expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await service.exited).toBe(0);
    const { rows } = await blocker.query(`SELECT count(*)::int AS n FROM drivers WHERE name = 'In flight'`);
    expect(rows[0].n).toBe(5);
  });

  it('on SIGTERM with a grace period: not ready but live while still serving; 20 requests just sent all get an answer; exit 0', async () => {
    const { service, base } = await readyService('grace', { SHUTDOWN_GRACE_SECONDS: '6' });
    const created = await fetch(`${base}/drivers`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'Grace', phone: newPhone() }),
    });
    const driver = (await created.json()) as { id: string };
    await expect(fetch(`${base}/health/ready`).then((r) => r.status)).resolves.toBe(200);

    // Twenty requests on their way, each on a connection of its own, as the signal arrives.
    const paths = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? `/drivers/${driver.id}` : '/health/ready'));
    const answers = paths.map((path) =>
      fetch(`${base}${path}`, { headers: json }).then(
        (response) => response.status,
        (error: Error) => `${path}: ${error.message}`,
      ),
    );
    service.child.kill('SIGTERM');
    await service.logged('SIGTERM received');

    // The grace period: readiness fails so a load balancer moves away; the process still serves.
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { details: unknown }).details).toMatchObject({ process: { status: 'down', message: 'shutting down' } });
    await expect(fetch(`${base}/health/live`).then((r) => r.status)).resolves.toBe(200);
    await expect(fetch(`${base}/drivers/${driver.id}`, { headers: json }).then((r) => r.status)).resolves.toBe(200);

    const statuses = await Promise.all(answers);
    // A driver read is answered 200; a readiness probe 200 or, once the signal is in, 503. None fails at the connection.
    const expected = (i: number) => (paths[i] === '/health/ready' ? [200, 503] : [200]);
    expect(statuses.filter((status, i) => !expected(i).includes(status as number))).toEqual([]);
    expect(await service.exited).toBe(0);
    expect(service.stdout).toContain('not ready; serving for 6 s more');
  });
});
