import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase } from './support/databases.js';
import { freePort } from './support/free-port.js';
import { ServiceProcess } from './support/service-process.js';
import { VENDURE_SECRET } from './support/test-app.js';

const run = promisify(execFile);

/** scripts/sign-event.mjs, the walkthrough's signed Vendure event, against the built service on a port of its own. */
describe('scripts/sign-event.mjs', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let service: ServiceProcess;
  let url = '';
  beforeAll(async () => {
    database = await createTestDatabase('sign_event');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    service = new ServiceProcess({
      PORT: String(port),
      DATABASE_URL: database.url,
      VENDURE_WEBHOOK_SECRET: VENDURE_SECRET,
      LOG_LEVEL: 'warn',
    });
    await service.ready();
  });
  afterAll(async () => {
    await service?.stop();
    await database?.drop();
  });

  const sign = (env: Record<string, string>, ...args: string[]) =>
    run(process.execPath, ['scripts/sign-event.mjs', ...args], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );
  const order = JSON.stringify({ sellerOrderId: 'SO-SCRIPT-1', pickupLat: 52.52, pickupLon: 13.405 });

  it('signs an event the service accepts, at DRIVER_SERVICE_URL', async () => {
    const answer = await sign({ DRIVER_SERVICE_URL: url, VENDURE_WEBHOOK_SECRET: VENDURE_SECRET }, '/events/seller-order-ready', order);
    expect(answer).toEqual({
      code: 0,
      stdout: '200 {"assigned":false,"sellerOrderId":"SO-SCRIPT-1","reason":"NO_DRIVER_AVAILABLE"}\n',
      stderr: '',
    });
  });

  it('exits 1 on a refusal (another secret: 401) and 2 without a secret or arguments', async () => {
    const other = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
    const refused = await sign({ DRIVER_SERVICE_URL: url, VENDURE_WEBHOOK_SECRET: other }, '/events/seller-order-ready', order);
    expect([refused.code, refused.stdout.slice(0, 4)]).toEqual([1, '401 ']);
    expect((await sign({ DRIVER_SERVICE_URL: url }, '/events/seller-order-ready', order)).code).toBe(2);
    expect((await sign({ DRIVER_SERVICE_URL: url, VENDURE_WEBHOOK_SECRET: VENDURE_SECRET })).code).toBe(2);
  });
});
