// @ts-check
/**
 * `npm run soak`: the fleet simulator against the built service for a long
 * run (10 minutes by default), on the service's default settings (rate
 * limits on), with its own database and Redis key space and a local webhook
 * receiver. It samples the service's memory, and at the end checks:
 * - 0 errors: no 5xx and no request without an answer;
 * - memory flat: resident memory over the last minute within 10 % of the
 *   minute after the warm-up, with customers' tracking streams opened and
 *   dropped all along (bench/lib/tracking-watchers.mjs);
 * - tracking streams: none left open once their clients have gone;
 * - the books: no driver and no order with two overlapping live deliveries,
 *   BUSY exactly when a delivery is live, every outbox message delivered and
 *   received.
 * Prints a summary, writes it to docs/reliability.md with --write-doc, and
 * exits 1 when any check fails.
 *
 * SOAK_SECONDS (600), SOAK_WARMUP_SECONDS (120), SIMULATE_DRIVERS (2000),
 * SIMULATE_ORDERS_PER_SECOND (20).
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { newAdminKey, newWebhookSecret } from './lib/credentials.mjs';
import { doubleAssignments, openPool, recreateDatabase } from './lib/database.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { writeDocSection } from './lib/report.mjs';
import { ROOT, startService } from './lib/service.mjs';
import { watchDeliveries } from './lib/tracking-watchers.mjs';
import { readOptions } from './lib/settings.mjs';
import { failed, formatSummary, simulate } from './simulate.mjs';

const RELIABILITY_DOC = join(ROOT, 'docs/reliability.md');
const SAMPLE_EVERY_MS = 5_000;
const MAX_GROWTH = 0.1;

const o = readOptions({
  seconds: { flag: 'seconds', env: 'SOAK_SECONDS', type: 'number', fallback: 600 },
  warmupSeconds: { flag: 'warmup-seconds', env: 'SOAK_WARMUP_SECONDS', type: 'number', fallback: 120 },
  drivers: { flag: 'drivers', env: 'SIMULATE_DRIVERS', type: 'number', fallback: 2_000 },
  ordersPerSecond: { flag: 'orders-per-second', env: 'SIMULATE_ORDERS_PER_SECOND', type: 'number', fallback: 20 },
  port: { flag: 'port', env: 'SOAK_PORT', type: 'number', fallback: 3301 },
  doc: { flag: 'write-doc', type: 'boolean', fallback: false },
});

/** @param {number[]} values */
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Half-done or doubled work left in PostgreSQL. @param {import('pg').Pool} sql */
async function books(sql) {
  const overlaps = await doubleAssignments(sql);
  const { rows } = await sql.query(`
    SELECT
      (SELECT count(*) FROM drivers d
        WHERE (d.status = 'BUSY') <> EXISTS (SELECT 1 FROM deliveries x WHERE x.driver_id = d.id AND x.status IN ('ASSIGNED', 'PICKED_UP')))::int AS "busyMismatch",
      (SELECT count(*) FROM delivery_events)::int AS changes,
      (SELECT count(*) FROM webhook_messages)::int AS messages,
      (SELECT count(*) FROM webhook_messages WHERE status <> 'delivered')::int AS undelivered`);
  return { ...overlaps, ...rows[0] };
}

/** The service's `tracking_streams_open`, once its clients have gone (the count settles as it sees the sockets close). @param {string} url */
async function openStreams(url) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const open = Number(/^tracking_streams_open (\d+)/m.exec(text)?.[1] ?? NaN);
    if (open === 0 || Date.now() > deadline) return open;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main() {
  const workDir = process.env.BENCH_WORK_DIR ?? join(os.tmpdir(), 'driver-soak');
  mkdirSync(workDir, { recursive: true });
  const secrets = { adminKey: newAdminKey(), vendureSecret: newWebhookSecret(), driverSecret: newWebhookSecret() };
  const databaseUrl = await recreateDatabase('driver_soak');
  const redisUrl = 'redis://127.0.0.1:6379/12';
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await redis.flushdb();
  const sql = openPool(databaseUrl);
  const receiver = await startReceiver();
  const service = await startService({
    name: 'soak',
    port: o.port,
    databaseUrl,
    redisUrl,
    webhookUrl: receiver.url,
    secrets,
    workDir,
    keepRateLimits: true,
  });

  /** @type {Array<{ at: number, rssMb: number }>} */
  const samples = [];
  const started = Date.now();
  const sampler = setInterval(() => samples.push({ at: (Date.now() - started) / 1000, rssMb: service.memory().rssMb }), SAMPLE_EVERY_MS);
  const watchers = watchDeliveries({ url: service.url, adminKey: secrets.adminKey, sql });
  let summary;
  try {
    summary = await simulate({
      url: service.url,
      adminKey: secrets.adminKey,
      vendureSecret: secrets.vendureSecret,
      drivers: o.drivers,
      ordersPerSecond: o.ordersPerSecond,
      durationSeconds: o.seconds,
      reportSeconds: 60,
    });
  } finally {
    clearInterval(sampler);
    watchers.stop();
  }
  // Every stream's client has gone: the service must hold none of them.
  const streamsLeft = await openStreams(service.url);

  // Every message of every state change delivered and received, once the relay has caught up.
  const deadline = Date.now() + 120_000;
  let ledger = await books(sql);
  while (ledger.undelivered > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    ledger = await books(sql);
  }
  const { rows: ids } = await sql.query('SELECT id FROM webhook_messages');
  const missing = ids.filter(({ id }) => !receiver.arrivals.has(id)).length;
  const peakMb = service.memory().peakMb;
  await service.stop();
  await receiver.close();
  await sql.end();
  redis.disconnect();

  const warm = median(samples.filter((s) => s.at >= o.warmupSeconds && s.at < o.warmupSeconds + 60).map((s) => s.rssMb));
  const end = median(samples.filter((s) => s.at >= o.seconds - 60).map((s) => s.rssMb));
  const growth = (end - warm) / warm;
  const checks = {
    'no 5xx, no request without an answer': summary.serverErrors === 0 && summary.connectionErrors === 0 && !failed(summary),
    [`memory growth after warm-up under ${MAX_GROWTH * 100} %`]: growth < MAX_GROWTH,
    'tracking streams: none left open once their clients have gone': streamsLeft === 0 && watchers.stats.errors === 0,
    'no overlapping live deliveries per driver or order': ledger.drivers === 0 && ledger.orders === 0,
    'BUSY exactly when a delivery is live': ledger.busyMismatch === 0 && ledger.notBusy === 0,
    'every state change has its message, delivered and received':
      ledger.undelivered === 0 && missing === 0 && ledger.messages === ledger.changes,
  };
  const text = [
    `Soak of ${o.seconds} s (${new Date().toISOString().slice(0, 16)}Z), service defaults (rate limits on), PostgreSQL + Redis:`,
    '',
    formatSummary(summary),
    '',
    `- Memory (resident): ${warm.toFixed(0)} MB in the minute after a ${o.warmupSeconds} s warm-up, ${end.toFixed(0)} MB in the last minute (${(growth * 100).toFixed(1)} %), peak ${peakMb.toFixed(0)} MB; samples every ${SAMPLE_EVERY_MS / 1000} s: ${samples
      .filter((_, i) => i % 12 === 0)
      .map((s) => s.rssMb.toFixed(0))
      .join(', ')} MB`,
    `- Tracking: ${watchers.stats.opened} streams opened and dropped by their clients, ${watchers.stats.events} events received, ${watchers.stats.refused} refused (429), ${watchers.stats.errors} errors; ${streamsLeft} left open at the end`,
    `- Books: ${ledger.deliveries} deliveries, ${ledger.changes} state changes, ${ledger.messages} webhook messages, ${ledger.undelivered} undelivered, ${missing} not received; overlapping live deliveries: ${ledger.drivers} drivers, ${ledger.orders} orders; BUSY mismatches: ${ledger.busyMismatch + ledger.notBusy}`,
    '',
    ...Object.entries(checks).map(([check, ok]) => `- ${ok ? 'pass' : '**FAIL**'}: ${check}`),
  ].join('\n');
  console.log(`\n${text}`);
  if (o.doc) writeDocSection('soak', text, RELIABILITY_DOC);
  if (Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
}

await main();
