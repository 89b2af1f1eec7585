#!/usr/bin/env node
// @ts-check
// Zero-downtime check for PM2 cluster mode: starts the built service with
// ecosystem.config.cjs (a private PM2 daemon, so an operator's own PM2 apps
// are not touched), checks every worker is online and /health answers, then
// runs `pm2 reload` under a steady stream of requests — location updates,
// signed seller-order-ready events and cancellations, health checks — and
// reports every request that failed (a 5xx, a connection reset, any
// unexpected answer). Last it checks the books in PostgreSQL: no
// half-done assignment (a BUSY driver without a live delivery, or the other
// way round). Exit code 0 only when nothing failed.
//
//   npm run build && npm run reload:check
//
// Environment: DATABASE_URL (default: a database `driver_reload_check` on
// the local PostgreSQL, created and dropped by the script), REDIS_URL
// (default redis://127.0.0.1:6379/13), PM2_INSTANCES (default 2),
// PORT (default 3101), RELOAD_CHECK_SECONDS (load before and after the
// reload, default 3), RELOAD_CHECK_CONCURRENCY (default 16).
import { execFile } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pm2Bin = join(root, 'node_modules', '.bin', 'pm2');
const run = promisify(execFile);

const env = process.env;
const instances = Number(env.PM2_INSTANCES ?? 2);
const port = Number(env.PORT ?? 3101);
const seconds = Number(env.RELOAD_CHECK_SECONDS ?? 3);
const concurrency = Number(env.RELOAD_CHECK_CONCURRENCY ?? 16);
const ownDatabase = !env.DATABASE_URL;
const databaseUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/driver_reload_check';
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379/13';
const base = `http://127.0.0.1:${port}`;
const adminKey = randomBytes(24).toString('hex');
const vendureSecret = `whsec_${randomBytes(32).toString('base64')}`;
const pm2Home = mkdtempSync(join(tmpdir(), 'driver-pm2-'));
const CITY = { lat: 52.52, lon: 13.405 };

/** @param {string[]} args */
async function pm2(...args) {
  const { stdout } = await run(pm2Bin, args, {
    cwd: root,
    env: {
      ...env,
      PM2_HOME: pm2Home,
      PM2_INSTANCES: String(instances),
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      ADMIN_API_KEY: adminKey,
      VENDURE_WEBHOOK_SECRET: vendureSecret,
      LOG_LEVEL: 'warn',
      // The stream pings each of its drivers several times a second, beyond the per-driver limit
      // (120 a minute by default) on a fast enough machine; a 429 says nothing about the reload.
      RATE_LIMIT_LOCATION_PER_MINUTE: '0',
    },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** @param {string} name */
async function withAdminDatabase(name, /** @type {(client: pg.Client) => Promise<void>} */ work) {
  const client = new pg.Client({ connectionString: databaseUrl.replace(/\/[^/]+$/, `/${name}`) });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

const dbName = new URL(databaseUrl).pathname.slice(1);
const recreateDatabase = () =>
  withAdminDatabase('postgres', async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${dbName}`);
  });

/** Standard Webhooks headers for a Vendure event. @param {string} body */
function signed(body) {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const key = Buffer.from(vendureSecret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}

const admin = { authorization: `Bearer ${adminKey}` };

/**
 * One request; `auth` is a header set, or 'vendure' for a body signed as Vendure signs its events.
 * @param {string} method @param {string} path @param {Record<string, string> | 'vendure'} auth @param {object} [body]
 * @returns {Promise<{ status: number, body: any }>}
 */
async function call(method, path, auth, body) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers =
    auth === 'vendure' ? signed(text ?? '') : { ...auth, ...(text === undefined ? {} : { 'content-type': 'application/json' }) };
  const response = await fetch(`${base}${path}`, { method, headers, body: text, signal: AbortSignal.timeout(20_000) });
  const raw = await response.text();
  return { status: response.status, body: raw ? JSON.parse(raw) : null };
}

async function waitForWorkers() {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = JSON.parse(await pm2('jlist'));
    const online = list.filter((/** @type {any} */ p) => p.name === 'driver-service' && p.pm2_env.status === 'online');
    if (online.length === instances) {
      const health = await Promise.all(
        Array.from({ length: instances * 4 }, () => call('GET', '/health', {}).catch(() => ({ status: 0 }))),
      );
      if (health.every((h) => h.status === 200)) return online.map((/** @type {any} */ p) => p.pid);
    }
    if (Date.now() > deadline) throw new Error(`${instances} healthy workers did not come up within 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** @typedef {{ id: string, token: string }} Driver */
async function createFleet(/** @type {number} */ size) {
  /** @type {Driver[]} */
  const fleet = [];
  for (let i = 0; i < size; i++) {
    const created = await call('POST', '/drivers', admin, {
      name: `Reload ${i}`,
      phone: `+4930${String(Date.now()).slice(-6)}${String(i).padStart(3, '0')}`,
    });
    if (created.status !== 201) throw new Error(`creating a driver answered ${created.status}: ${JSON.stringify(created.body)}`);
    const driver = { id: created.body.id, token: created.body.token };
    const auth = { authorization: `Bearer ${driver.token}` };
    await call('PATCH', `/drivers/${driver.id}/location`, auth, jitter());
    await call('PATCH', `/drivers/${driver.id}/status`, auth, { status: 'AVAILABLE' });
    fleet.push(driver);
  }
  return fleet;
}

function jitter() {
  return { lat: CITY.lat + (Math.random() - 0.5) * 0.05, lon: CITY.lon + (Math.random() - 0.5) * 0.05 };
}

/** Steady load until `stop()`; counts answers by kind and status, and every failure. */
function steadyLoad(/** @type {Driver[]} */ fleet) {
  /** @type {Record<string, number>} */
  const answers = {};
  /** @type {string[]} */
  const failures = [];
  let running = true;
  let orders = 0;
  let sent = 0;

  /** @param {string} kind @param {() => Promise<{status: number, body: any}>} request @param {number[]} expected */
  async function attempt(kind, request, expected) {
    sent++;
    try {
      const answer = await request();
      answers[`${kind} ${answer.status}`] = (answers[`${kind} ${answer.status}`] ?? 0) + 1;
      if (!expected.includes(answer.status)) failures.push(`${kind}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer;
    } catch (error) {
      const cause = /** @type {any} */ (error).cause;
      failures.push(`${kind}: ${cause?.code ?? ''} ${/** @type {Error} */ (error).message}`);
      return null;
    }
  }

  async function worker() {
    while (running) {
      const driver = fleet[Math.floor(Math.random() * fleet.length)];
      const auth = { authorization: `Bearer ${driver.token}` };
      await attempt('location', () => call('PATCH', `/drivers/${driver.id}/location`, auth, jitter()), [200]);
      if (Math.random() < 0.2) {
        const sellerOrderId = `RELOAD-${++orders}-${randomUUID().slice(0, 8)}`;
        const ready = await attempt(
          'ready',
          () => call('POST', '/events/seller-order-ready', 'vendure', { sellerOrderId, pickupLat: CITY.lat, pickupLon: CITY.lon }),
          [200],
        );
        if (ready?.body?.assigned) {
          await attempt(
            'cancel',
            () => call('POST', '/events/seller-order-cancelled', 'vendure', { sellerOrderId, reason: 'reload check' }),
            [200],
          );
        }
      }
      if (Math.random() < 0.1) await attempt('health', () => call('GET', '/health', {}), [200]);
    }
  }

  const workers = Array.from({ length: concurrency }, worker);
  return {
    answers,
    failures,
    get sent() {
      return sent;
    },
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Half-done assignments: BUSY drivers without exactly one live delivery, live deliveries whose driver is not BUSY. */
async function books() {
  let problems = 0;
  await withAdminDatabase(dbName, async (client) => {
    const { rows } = await client.query(`
      SELECT count(*)::int AS n FROM drivers d
      WHERE (d.status = 'BUSY') <> EXISTS (SELECT 1 FROM deliveries x WHERE x.driver_id = d.id AND x.status IN ('ASSIGNED', 'PICKED_UP'))
         OR (SELECT count(*) FROM deliveries x WHERE x.driver_id = d.id AND x.status IN ('ASSIGNED', 'PICKED_UP')) > 1`);
    problems = rows[0].n;
  });
  return problems;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (ownDatabase) await recreateDatabase();
  /** @type {boolean} */
  let failed;
  try {
    await pm2('start', 'ecosystem.config.cjs', '--env', 'production');
    const before = await waitForWorkers();
    console.log(`${before.length} workers online and healthy (pids ${before.join(', ')})`);
    const fleet = await createFleet(Math.max(50, concurrency * 4));

    const load = steadyLoad(fleet);
    await sleep(seconds * 1000);
    const sentBefore = load.sent;
    const reloadStarted = Date.now();
    await pm2('reload', 'driver-service');
    const reloadMs = Date.now() - reloadStarted;
    const after = await waitForWorkers();
    const sentDuring = load.sent - sentBefore;
    await sleep(seconds * 1000);
    await load.stop();

    const replaced = after.every((pid) => !before.includes(pid));
    const halfDone = await books();
    console.log(`pm2 reload took ${reloadMs} ms; ${sentDuring} requests were sent during it; workers now ${after.join(', ')}`);
    console.log(`requests: ${load.sent}, failed: ${load.failures.length}`);
    for (const [kind, count] of Object.entries(load.answers).sort()) console.log(`  ${kind}: ${count}`);
    for (const failure of load.failures.slice(0, 20)) console.log(`  FAILED ${failure}`);
    console.log(`every worker replaced: ${replaced ? 'yes' : 'NO'}; half-done assignments: ${halfDone}`);
    failed = load.failures.length > 0 || !replaced || halfDone > 0 || sentDuring === 0;
  } finally {
    await pm2('kill').catch(() => undefined);
    rmSync(pm2Home, { recursive: true, force: true });
    if (ownDatabase)
      await withAdminDatabase('postgres', (client) => client.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).then(() => undefined));
  }
  console.log(failed ? 'RELOAD CHECK FAILED' : 'RELOAD CHECK PASSED: 0 failed requests');
  process.exitCode = failed ? 1 : 0;
}

await main();
