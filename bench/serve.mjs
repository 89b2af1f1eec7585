// @ts-check
/**
 * Starts the built service for the simulator on its own database and Redis
 * logical db (both emptied first), with a local webhook receiver as Vendure,
 * default settings otherwise (rate limits included), and fresh secrets, which it prints as
 * `export` lines; runs until Ctrl-C.
 *
 *   node bench/serve.mjs [--port 3001] [--database driver_sim] [--redis-url redis://127.0.0.1:6379/13] [--profile]
 *   eval "$(sed -n 's/^export /export /p' /tmp/driver-sim/credentials.env)"; npm run simulate
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitForSync } from './lib/bench-context.mjs';
import { newAdminKey, newWebhookSecret } from './lib/credentials.mjs';
import { recreateDatabase } from './lib/database.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { startService } from './lib/service.mjs';
import { readOptions } from './lib/settings.mjs';

const o = readOptions({
  port: { flag: 'port', type: 'number', fallback: 3001 },
  database: { flag: 'database', type: 'string', fallback: 'driver_sim' },
  redisUrl: { flag: 'redis-url', type: 'string', fallback: 'redis://127.0.0.1:6379/13' },
  profile: { flag: 'profile', type: 'boolean', fallback: false },
});
const workDir = join(os.tmpdir(), 'driver-sim');
mkdirSync(workDir, { recursive: true });

const databaseUrl = await recreateDatabase(o.database);
const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
await redis.flushdb();
const receiver = await startReceiver();
const secrets = { adminKey: newAdminKey(), vendureSecret: newWebhookSecret(), driverSecret: newWebhookSecret() };
const service = await startService({
  name: 'service-sim',
  port: o.port,
  databaseUrl,
  redisUrl: o.redisUrl,
  webhookUrl: receiver.url,
  secrets,
  workDir,
  profile: o.profile,
  keepRateLimits: true,
});
await waitForSync(redis);

const credentials = `export ADMIN_API_KEY=${secrets.adminKey}\nexport VENDURE_WEBHOOK_SECRET=${secrets.vendureSecret}\nexport SIMULATE_URL=${service.url}\n`;
writeFileSync(join(workDir, 'credentials.env'), credentials, { mode: 0o600 });
console.log(`${credentials}# service pid ${service.pid}, logs in ${workDir}; also in ${join(workDir, 'credentials.env')}. Ctrl-C stops.`);

const report = setInterval(() => {
  const { rssMb, peakMb } = service.memory();
  console.log(`service RSS ${rssMb.toFixed(0)} MB (peak ${peakMb.toFixed(0)} MB), webhooks received ${receiver.arrivals.size}`);
}, 30_000);

const stop = async () => {
  clearInterval(report);
  console.log(`stopping; service exited with ${await service.stop()}`);
  await receiver.close();
  redis.disconnect();
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
void service.exited.then((code) => code !== null && code !== 0 && (console.error(`service exited with ${code}`), void stop()));
