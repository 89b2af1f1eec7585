// @ts-check
/** Starting the built service (dist/src/main.js) and the bare Fastify baseline, each in its own process. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NodeProcess } from './processes.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVICE_MAIN = join(ROOT, 'dist/src/main.js');
const BASELINE_SERVER = join(ROOT, 'bench/baseline-fastify.mjs');

/**
 * Every RATE_LIMIT_* variable the built service reads, set to 0 (disabled):
 * the benchmark measures throughput, not the limits.
 * @returns {Promise<Record<string, string>>}
 */
async function rateLimitsOff() {
  const { CONFIG_VARIABLES } = await import(pathToFileURL(join(ROOT, 'dist/src/config/load-config.js')).href);
  return Object.fromEntries(
    /** @type {string[]} */ (CONFIG_VARIABLES).filter((name) => name.startsWith('RATE_LIMIT')).map((name) => [name, '0']),
  );
}

/** `BENCH_SERVICE_ENV="DB_POOL_SIZE=20,LOG_LEVEL=info"`: extra service variables for experiments. */
function extraServiceEnv() {
  const pairs = (process.env.BENCH_SERVICE_ENV ?? '').split(',').filter(Boolean);
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()]));
}

/**
 * @typedef {object} ServiceOptions
 * @property {string} name used for the log file and the CPU profile
 * @property {number} port
 * @property {string} databaseUrl
 * @property {string} [redisUrl] unset: the service runs on PostgreSQL alone
 * @property {string} [webhookUrl] VENDURE_WEBHOOK_URL
 * @property {{ adminKey: string, vendureSecret: string, driverSecret: string }} secrets
 * @property {string} workDir logs (and profiles) go here
 * @property {boolean} [profile] run under --cpu-prof; the profile is written when it stops
 * @property {Record<string, string>} [env] further variables
 * @property {boolean} [keepRateLimits] leave RATE_LIMIT_* at the service's defaults (otherwise 0: off)
 */

/**
 * Starts the service (production mode, warnings only, rate limits off unless kept) and waits until it listens.
 * @param {ServiceOptions} options
 */
export async function startService(options) {
  if (!existsSync(SERVICE_MAIN)) throw new Error(`${SERVICE_MAIN} is missing: run \`npm run build\` first (npm run bench does).`);
  const env = {
    PORT: String(options.port),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: options.databaseUrl,
    ADMIN_API_KEY: options.secrets.adminKey,
    VENDURE_WEBHOOK_SECRET: options.secrets.vendureSecret,
    DRIVER_WEBHOOK_SECRET: options.secrets.driverSecret,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.webhookUrl ? { VENDURE_WEBHOOK_URL: options.webhookUrl } : {}),
    ...(options.keepRateLimits ? {} : await rateLimitsOff()),
    ...options.env,
    ...extraServiceEnv(),
  };
  const nodeArgs = [
    // As `npm start`, the PM2 file and the Dockerfile run it.
    '--max-old-space-size=192',
    // `BENCH_NODE_ARGS="--max-semi-space-size=4"`: V8 flags for experiments.
    ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ...(process.env.BENCH_HEAP_SNAPSHOT === '1' ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.workDir}`] : []),
    ...(options.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${join(options.workDir, 'profiles')}`, `--cpu-prof-name=${options.name}.cpuprofile`]
      : []),
  ];
  const service = new NodeProcess(SERVICE_MAIN, { name: options.name, env, nodeArgs, logDir: options.workDir });
  await service.ready();
  return Object.assign(service, { url: `http://127.0.0.1:${options.port}` });
}

/**
 * The bare Fastify server the location figure is compared with.
 * @param {{ port: number, workDir: string }} options
 */
export async function startBaselineServer({ port, workDir }) {
  const server = new NodeProcess(BASELINE_SERVER, { name: 'baseline-fastify', env: { PORT: String(port) }, logDir: workDir });
  await server.ready();
  return Object.assign(server, { url: `http://127.0.0.1:${port}` });
}
