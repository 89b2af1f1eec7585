#!/usr/bin/env node
// The whole service in one command (`npm run demo`, which builds first): generates the secrets, starts
// the built service on the embedded database in a temporary directory, with a local receiver standing
// in for Vendure's webhook endpoint, and walks one driver from registration to a delivered order with
// real HTTP calls, as the walkthrough in docs/api-guide.md does by hand. Every webhook must arrive with
// a valid signature. Prints each step with OK or FAILED; exit code 0 only when every step is OK.
// `--metrics-file <path>` also writes the last /metrics scrape there (CI checks it with promtool).
// Reads no environment variable; uses Node.js built-ins only.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { newWebhookSecret, signedHeaders, verifySignature } from './standard-webhook.mjs';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/src/main.js');
const EXPECTED_WEBHOOKS = ['delivery.assigned', 'delivery.picked_up', 'delivery.delivered'];
const READY_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;
const WEBHOOK_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const { values: options } = parseArgs({ options: { 'metrics-file': { type: 'string' } } });

if (!existsSync(MAIN)) {
  console.error(`${MAIN} is missing: run \`npm run build\` first (\`npm run demo\` does).`);
  process.exit(1);
}

class StepFailed extends Error {}
let failed = false;

/** Runs one step and prints it: OK with what `action` returns, or FAILED with why (and ends the walkthrough). */
async function step(name, action) {
  try {
    const detail = await action();
    console.log(`OK      ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failed = true;
    const cause = error.cause ? ` (${error.cause.code ?? error.cause.message})` : '';
    console.log(`FAILED  ${name}: ${error.message}${cause}`);
    throw new StepFailed();
  }
}

// Secrets, in the forms the service accepts (see scripts/generate-secret.mjs).
const adminKey = randomBytes(32).toString('base64url');
const vendureSecret = newWebhookSecret();
const driverSecret = newWebhookSecret();

// The webhook receiver: verifies every message as Vendure's plugin does, answers 204, keeps the verified ones.
const webhooks = [];
const arrivals = new EventEmitter();
const receiver = http.createServer(async (request, response) => {
  let message;
  try {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    verifySignature(vendureSecret, request.headers, body);
    message = JSON.parse(body.toString('utf8'));
  } catch (error) {
    failed = true;
    console.log(`FAILED  webhook refused: ${error.message}`);
    response.writeHead(400).end();
    return;
  }
  const id = request.headers['webhook-id'];
  // At least once: a repeat of a message already received (same webhook-id) is answered again, not counted.
  if (!webhooks.some((webhook) => webhook.id === id)) {
    webhooks.push({ id, type: message.type, deliveryId: message.data?.deliveryId });
    console.log(`        webhook ${message.type} received, signature verified (${id})`);
    arrivals.emit('webhook');
  }
  response.writeHead(204).end();
});

/** Resolves once every expected webhook type has arrived, or rejects after `timeoutMs`. */
function expectedWebhooks(timeoutMs) {
  return new Promise((resolveAll, reject) => {
    const check = () => EXPECTED_WEBHOOKS.every((type) => webhooks.some((w) => w.type === type)) && (done(), resolveAll());
    const timer = setTimeout(() => {
      done();
      reject(new Error(`after ${timeoutMs / 1000} s, received only: ${webhooks.map((w) => w.type).join(', ') || 'none'}`));
    }, timeoutMs);
    const done = () => (clearTimeout(timer), arrivals.off('webhook', check));
    arrivals.on('webhook', check);
    check();
  });
}

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((closed) => server.close(closed));
  return port;
}

let base = '';
let service;
let exited;
let output = '';
const dataDir = mkdtempSync(join(tmpdir(), 'driver-demo-'));

/** Calls the service; resolves to the parsed answer, or throws with the status and body unless it is 200 or 201. */
async function call(method, path, { token, body }) {
  const text = JSON.stringify(body);
  // A signed event is signed over exactly the string sent.
  const headers = token ? { 'content-type': 'application/json', authorization: `Bearer ${token}` } : signedHeaders(vendureSecret, text);
  const response = await fetch(`${base}${path}`, { method, headers, body: text, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const answer = await response.text();
  if (response.status !== 200 && response.status !== 201) throw new Error(`${method} ${path} answered ${response.status} ${answer}`);
  return JSON.parse(answer);
}

async function walkthrough() {
  await step('generate the secrets', () => 'ADMIN_API_KEY, VENDURE_WEBHOOK_SECRET, DRIVER_WEBHOOK_SECRET');
  let receiverUrl;
  await step('start the webhook receiver', async () => {
    await once(receiver.listen(0, '127.0.0.1'), 'listening');
    receiverUrl = `http://127.0.0.1:${receiver.address().port}/webhooks`;
    return `${receiverUrl}, set as VENDURE_WEBHOOK_URL`;
  });

  await step('start the service', async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Only these variables: no DATABASE_URL (the embedded database) and no REDIS_URL (PostgreSQL alone).
    const env = {
      PORT: String(port),
      PGLITE_DATA_DIR: dataDir,
      ADMIN_API_KEY: adminKey,
      VENDURE_WEBHOOK_SECRET: vendureSecret,
      DRIVER_WEBHOOK_SECRET: driverSecret,
      VENDURE_WEBHOOK_URL: receiverUrl,
      LOG_LEVEL: 'warn',
    };
    service = fork(MAIN, [], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const keep = (chunk) => (output = (output + chunk).slice(-20_000));
    service.stdout.on('data', keep);
    service.stderr.on('data', keep);
    exited = once(service, 'exit').then(([code, signal]) => code ?? signal);
    await new Promise((ready, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      service.on('message', (message) => message === 'ready' && (clearTimeout(timer), ready()));
      void exited.then((code) => (clearTimeout(timer), reject(new Error(`exited (${code}) before it was ready`))));
    });
    return `${base}, embedded database in ${dataDir}, no Redis`;
  });

  let driver;
  await step('create a driver (POST /drivers, admin key)', async () => {
    driver = await call('POST', '/drivers', {
      token: adminKey,
      body: { name: 'Ada Lovelace', phone: '+4915112345678', vehicleType: 'bicycle' },
    });
    return `id ${driver.id}, status ${driver.status}, token issued`;
  });
  await step('send its location (PATCH /drivers/:id/location, driver token)', async () => {
    const answer = await call('PATCH', `/drivers/${driver.id}/location`, { token: driver.token, body: { lat: 52.52, lon: 13.405 } });
    return `status ${answer.status}, online ${answer.online}`;
  });
  await step('go available (PATCH /drivers/:id/status)', async () => {
    const answer = await call('PATCH', `/drivers/${driver.id}/status`, { token: driver.token, body: { status: 'AVAILABLE' } });
    return `status ${answer.status}`;
  });

  let delivery;
  await step('order ready 111 m away (POST /events/seller-order-ready, signed as Vendure)', async () => {
    const order = { sellerOrderId: 'SO-DEMO-1', pickupLat: 52.521, pickupLon: 13.405, dropoffLat: 52.51, dropoffLon: 13.39 };
    const answer = await call('POST', '/events/seller-order-ready', { body: order });
    if (answer.assigned !== true || answer.driverId !== driver.id) throw new Error(`not assigned to the driver: ${JSON.stringify(answer)}`);
    delivery = answer.deliveryId;
    return `delivery ${delivery} assigned to the driver, ${answer.distanceMeters} m`;
  });
  for (const status of ['PICKED_UP', 'DELIVERED']) {
    await step(`report ${status} (PATCH /deliveries/:id/status, driver token)`, async () => {
      const answer = await call('PATCH', `/deliveries/${delivery}/status`, { token: driver.token, body: { status } });
      if (answer.status !== status) throw new Error(`the delivery is ${answer.status}`);
      return `status ${answer.status}`;
    });
  }
  await step('driver available again (GET /drivers/:id)', async () => {
    const response = await fetch(`${base}/drivers/${driver.id}`, {
      headers: { authorization: `Bearer ${driver.token}` },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const answer = await response.json();
    if (answer.status !== 'AVAILABLE') throw new Error(`answered ${response.status} ${JSON.stringify(answer)}`);
    return `status ${answer.status}`;
  });

  await step('webhooks received and verified', async () => {
    await expectedWebhooks(WEBHOOK_TIMEOUT_MS);
    const types = webhooks.filter((w) => w.deliveryId === delivery).map((w) => w.type);
    if (types.join() !== EXPECTED_WEBHOOKS.join()) throw new Error(`for delivery ${delivery}, in this order: ${types.join(', ')}`);
    return `${types.join(', ')}, in order`;
  });

  await step('read the metrics (GET /metrics)', async () => {
    const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`answered ${response.status} ${text}`);
    if (options['metrics-file']) writeFileSync(options['metrics-file'], text);
    const series = ['assignments_total{outcome="assigned"}', 'webhook_attempts_total'];
    const values = series.map(
      (name) =>
        `${name} ${
          text
            .split('\n')
            .find((line) => line.startsWith(`${name} `))
            ?.split(' ')[1] ?? 'missing'
        }`,
    );
    if (!values[0].endsWith(' 1')) throw new Error(values.join(', '));
    return values.join(', ');
  });
}

/** Stops the service (SIGTERM, then SIGKILL after STOP_TIMEOUT_MS) and resolves to its exit code or signal. */
async function stopService() {
  if (service.exitCode !== null || service.signalCode !== null) throw new Error(`it had already exited (${await exited})`);
  service.kill('SIGTERM');
  const timer = setTimeout(() => service.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

let finishing;
/** Stops everything, once, whatever went wrong before; prints the verdict and exits. */
function finish() {
  finishing ??= (async () => {
    if (service) {
      await step('stop the service (SIGTERM)', async () => {
        const code = await stopService();
        if (code !== 0) throw new Error(`exit code ${code}`);
        return 'exit code 0';
      }).catch(() => {});
    }
    receiver.closeAllConnections();
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (failed) {
      const tail = output.trim().split('\n').slice(-30).join('\n') || '(nothing)';
      console.log(`\nDemo FAILED. The last lines the service wrote (warnings, errors, stderr):\n${tail}`);
    } else {
      console.log('\nDemo passed: every step OK.');
    }
    process.exit(failed ? 1 : 0);
  })();
  return finishing;
}

// Ctrl-C reaches the service too (same process group); it stops on its own, and the rest is cleaned up here.
process.once('SIGINT', () => {
  failed = true;
  console.log('FAILED  interrupted');
  void finish();
});

console.log('Driver service demo: one driver, one order, from registration to delivered.\n');
await walkthrough().catch((error) => {
  if (!(error instanceof StepFailed)) {
    failed = true;
    console.log(`FAILED  ${error.stack ?? error}`);
  }
});
await finish();
