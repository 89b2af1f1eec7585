// @ts-check
/**
 * The benchmark's world: its own database and Redis logical db, a fleet
 * inserted straight into PostgreSQL, the webhook receiver, the bare Fastify
 * baseline and the service, each started here and stopped in `close`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { BERLIN, HAMBURG } from './city.mjs';
import { newAdminKey, newWebhookSecret } from './credentials.mjs';
import { insertFleet, openPool, recreateDatabase } from './database.mjs';
import { DENSE_FLEET, denseAreas, insertDenseFleets } from './dense-figures.mjs';
import { startReceiver } from './receiver.mjs';
import { log } from './report.mjs';
import { ROOT, startBaselineServer, startService } from './service.mjs';

/**
 * @typedef {object} BenchSettings
 * @property {number} seconds per measured round
 * @property {number} warmupSeconds
 * @property {number} rounds
 * @property {number} fleet drivers in the dense city (Berlin)
 * @property {number} smallFleet drivers in the sparse city (Hamburg)
 * @property {number} locationDrivers
 * @property {number} locationConnections
 * @property {number} searchConnections
 * @property {number} assignConcurrency
 * @property {number} claimFleet drivers in Munich for the direct claim baseline
 * @property {number} drainMessages
 * @property {string} database
 * @property {string} redisUrl
 * @property {number} port
 * @property {boolean} profile
 * @property {number} slowStatementMs -1: off
 * @property {string} workDir
 */

/**
 * Heartbeats stay fresh for a day and the periodic reconciliation is hourly,
 * so a fleet inserted once stays choosable and no 100k-driver replay runs in
 * the middle of a measurement (the start-up one still runs). The bench's
 * drivers never ping once assigned, so they are lost only after a day too
 * (otherwise every assignment would be reassigned after 2 minutes).
 */
const SERVICE_ENV = {
  DRIVER_HEARTBEAT_TTL_SECONDS: '86400',
  RECONCILE_INTERVAL_SECONDS: '3600',
  DRIVER_LOST_SECONDS: '86400',
  // The ingest figures send each driver to random points: without this the speed filter would
  // take most pings for GPS jumps and measure heartbeats, not moves.
  LOCATION_MAX_SPEED_KMH: '0',
};

/** @param {BenchSettings} settings */
export async function openBench(settings) {
  rmSync(settings.workDir, { recursive: true, force: true });
  mkdirSync(settings.workDir, { recursive: true });
  const secrets = { adminKey: newAdminKey(), vendureSecret: newWebhookSecret(), driverSecret: newWebhookSecret() };

  log(`database ${settings.database} (dropped and created), Redis ${settings.redisUrl} (flushed)`);
  const databaseUrl = await recreateDatabase(settings.database);
  const redis = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1 });
  await redis.flushdb();
  await promisify(execFile)(process.execPath, [join(ROOT, 'dist/src/database/migrate.js')], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
  });
  const sql = openPool(databaseUrl);
  // For profiling: PostgreSQL logs every statement of this database slower than this (in its server log).
  if (settings.slowStatementMs >= 0)
    await sql.query(`ALTER DATABASE ${settings.database} SET log_min_duration_statement = ${settings.slowStatementMs}`);

  log(`inserting ${settings.fleet} drivers in ${BERLIN.name} and ${settings.smallFleet} in ${HAMBURG.name}`);
  const berlin = await insertFleet(
    sql,
    Array.from({ length: settings.fleet }, () => BERLIN.randomPoint()),
  );
  await insertFleet(
    sql,
    Array.from({ length: settings.smallFleet }, () => HAMBURG.randomPoint()),
  );

  log(`inserting ${DENSE_FLEET} drivers in each of ${denseAreas(settings).length} dense-demand areas`);
  await insertDenseFleets(sql, settings);

  const receiver = await startReceiver();
  const baseline = await startBaselineServer({ port: settings.port + 10, workDir: settings.workDir });
  log('starting the service (PostgreSQL + Redis) and waiting for its first reconciliation');
  const service = await startService({
    name: 'service',
    port: settings.port,
    databaseUrl,
    redisUrl: settings.redisUrl,
    webhookUrl: receiver.url,
    secrets,
    workDir: settings.workDir,
    profile: settings.profile,
    env: SERVICE_ENV,
  });
  await waitForSync(redis);

  /** @type {import('./processes.mjs').NodeProcess[]} */
  const processes = [service, baseline];
  return {
    settings,
    secrets,
    databaseUrl,
    sql,
    redis,
    receiver,
    baseline,
    service,
    berlin,
    /** Free-form remarks for the report (anomalies, memory of other processes). @type {string[]} */
    notes: [],
    /** CPU per operation of each compared figure's sides (bench/lib/cpu.mjs). @type {import('./compare.mjs').CpuRow[]} */
    cpu: [],
    /**
     * Runs `use` with a further pool of `max` connections, closed afterwards
     * (the server's connections are shared with everyone's test suites).
     * @template T
     * @param {number} max
     * @param {(pool: import('pg').Pool) => Promise<T>} use
     */
    async withPool(max, use) {
      const pool = openPool(databaseUrl, max);
      try {
        return await use(pool);
      } finally {
        await pool.end();
      }
    },
    /**
     * Starts another service instance on the same database (closed with the bench), on the bench's Redis or
     * `redisUrl` (or, with `redis: false`, whatever `env` names: REDIS_CLUSTER_NODES, or nothing).
     * @param {{ name: string, redis: boolean, redisUrl?: string, env?: Record<string, string> }} options
     */
    async startService({ name, redis: withRedis, redisUrl, env }) {
      const instance = await startService({
        name,
        port: settings.port + 1 + processes.length,
        databaseUrl,
        ...(withRedis ? { redisUrl: redisUrl ?? settings.redisUrl } : {}),
        secrets,
        workDir: settings.workDir,
        profile: settings.profile,
        env: { ...SERVICE_ENV, ...env },
      });
      processes.push(instance);
      return instance;
    },
    /** Processes that exited without being asked to, as notes. */
    deaths() {
      return processes.filter((p) => p.died).map((p) => `${p.name} exited unexpectedly (${p.ending}); see its log in ${settings.workDir}.`);
    },
    async close() {
      await Promise.allSettled(processes.map((p) => p.stop()));
      await receiver.close();
      await sql.end();
      redis.disconnect();
    },
  };
}

/** @typedef {Awaited<ReturnType<typeof openBench>>} Bench */

/**
 * Resolves once the service's first reconciliation marked Redis synced.
 * @param {Redis} redis
 */
export async function waitForSync(redis, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await redis.exists('drivers:synced')) === 0) {
    if (Date.now() > deadline) throw new Error('the service did not reconcile Redis in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
