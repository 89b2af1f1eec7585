// @ts-check
/**
 * `npm run bench`: measures the service beside raw baselines taken in the
 * same run, prints one table and writes it to docs/benchmarks.md.
 * Settings come from BENCH_* variables (see readSettings and
 * docs/benchmarks.md); BENCH_FIGURES picks figures
 * (location,locationMoving,locationBatch,memory,search-redis,search-pg,assignment,assignmentDense,dispatch,slowClients,redisHung,cluster,writeBehind).
 */
import os from 'node:os';
import { join } from 'node:path';
import { openBench } from './lib/bench-context.mjs';
import { FIGURES } from './lib/figures.mjs';
import { cpuTable, machineDescription, resultsTable, writeDocSection } from './lib/report.mjs';
import { envNumber } from './lib/settings.mjs';
import { fixed } from './lib/stats.mjs';

/** @typedef {import('./lib/report.mjs').Row} Row */

/** @returns {import('./lib/bench-context.mjs').BenchSettings} */
function readSettings() {
  return {
    seconds: envNumber('BENCH_SECONDS', 10),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 3),
    rounds: envNumber('BENCH_ROUNDS', 3),
    fleet: envNumber('BENCH_FLEET', 100_000),
    smallFleet: envNumber('BENCH_SMALL_FLEET', 1_000),
    locationDrivers: envNumber('BENCH_LOCATION_DRIVERS', 10_000),
    locationConnections: envNumber('BENCH_LOCATION_CONNECTIONS', 100),
    searchConnections: envNumber('BENCH_SEARCH_CONNECTIONS', 4),
    assignConcurrency: envNumber('BENCH_ASSIGN_CONCURRENCY', 32),
    claimFleet: envNumber('BENCH_CLAIM_FLEET', 50_000),
    drainMessages: envNumber('BENCH_DRAIN_MESSAGES', 5_000),
    database: process.env.BENCH_DATABASE ?? 'driver_bench',
    redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14',
    port: envNumber('BENCH_PORT', 4101),
    profile: process.env.BENCH_PROFILE === '1',
    slowStatementMs: envNumber('BENCH_PG_LOG_MS', -1),
    workDir: process.env.BENCH_WORK_DIR ?? join(os.tmpdir(), 'driver-bench'),
  };
}

async function main() {
  const settings = readSettings();
  const chosen = (process.env.BENCH_FIGURES ?? Object.keys(FIGURES).join(',')).split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !(name in FIGURES));
  if (unknown.length) throw new Error(`unknown BENCH_FIGURES ${unknown.join(', ')}; known: ${Object.keys(FIGURES).join(', ')}`);
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  const bench = await openBench(settings);
  /** @type {Row[]} */
  const rows = [];
  let versions;
  try {
    versions = {
      postgres: (await bench.sql.query('SHOW server_version')).rows[0].server_version,
      redis: /redis_version:(\S+)/.exec(await bench.redis.info('server'))?.[1] ?? 'unknown',
    };
    for (const name of chosen) rows.push(...(await FIGURES[/** @type {keyof typeof FIGURES} */ (name)](bench)));
    bench.notes.push(`The service (PostgreSQL + Redis) used ${fixed(bench.service.memory().rssMb, 0)} MB RSS at the end of the run.`);
  } finally {
    for (const death of bench.deaths()) {
      console.error(`[bench] ${death}`);
      bench.notes.push(death);
    }
    await bench.close();
  }
  const minutes = (Date.now() - started) / 60_000;
  const table = resultsTable(rows);
  console.log(`\n${table}\n`);
  const cpu = bench.cpu.length > 0 ? cpuTable(bench.cpu) : '';
  if (cpu) console.log(`CPU per operation, by process, over the measured rounds:\n\n${cpu}\n`);
  for (const note of bench.notes) console.log(`- ${note}`);
  if (rows.some((row) => !row.pass)) process.exitCode = 1;
  if (chosen.length < Object.keys(FIGURES).length) return;
  writeDocSection(
    'bench:results',
    [
      `Last full run (\`npm run bench\`, ${fixed(minutes, 1)} minutes):`,
      '',
      machineDescription(versions, loadAtStart),
      `- Settings: ${settings.rounds} rounds of ${settings.seconds} s after a ${settings.warmupSeconds} s warm-up; ` +
        `fleets ${settings.fleet} (Berlin), ${settings.smallFleet} (Hamburg), ${settings.claimFleet} (Munich)`,
      '',
      table,
      '',
      ...bench.notes.map((note) => `- ${note}`),
      ...(cpu ? ['', 'CPU per operation, by process, over the measured rounds (from `/proc`; see below):', '', cpu] : []),
    ].join('\n'),
  );
  console.log(`\nWritten to docs/benchmarks.md; service logs in ${settings.workDir}`);
}

await main();
