import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import { createAppLogger } from '../src/common/logger.js';
import { createTestDatabase } from './support/databases.js';
import { newDriver, newPhone } from './support/factories.js';
import { signedHeaders } from './support/signing.js';
import { admin, ADMIN_KEY, bearer, DRIVER_SECRET, startTestApp, TestApp, VENDURE_SECRET } from './support/test-app.js';

describe('logs', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const lines = () =>
    output
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeAll(async () => {
    database = await createTestDatabase('logging');
    t = await startTestApp({ DATABASE_URL: database.url, LOG_LEVEL: 'debug' }, { logger: createAppLogger('debug', stream) });
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  it('are JSON lines carrying the request id of the request that caused them', async () => {
    await request(t.server).get('/drivers').set(admin).set('x-request-id', 'trace-me-1').expect(200);
    const mine = lines().filter((line) => line.requestId === 'trace-me-1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ level: 'debug', context: 'Http', message: expect.stringMatching(/^GET \/drivers 200 /) });
  });

  it('name the route template, not the raw URL, so ids and queries stay out', async () => {
    const driver = await newDriver(t);
    await request(t.server).get(`/drivers/${driver.id}?x=1`).set(admin).set('x-request-id', 'trace-me-2').expect(200);
    const [line] = lines().filter((l) => l.requestId === 'trace-me-2');
    expect(line.message).toMatch(/^GET \/drivers\/:id 200 /);
  });

  it('never contain the admin key, driver tokens or signatures', async () => {
    const driver = await newDriver(t, { phone: newPhone() });
    const rotated = await request(t.server).post(`/drivers/${driver.id}/token`).set(admin).expect(200);
    await request(t.server).get(`/drivers/${driver.id}`).set(bearer(rotated.body.token)).expect(200);
    await request(t.server).get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(401);
    const signed = signedHeaders(DRIVER_SECRET, '');
    await request(t.server).get(`/drivers/${driver.id}`).set(signed).expect(200);
    const event = JSON.stringify({ sellerOrderId: 'LOG-1', pickupLat: 52.5, pickupLon: 13.4 });
    const vendure = signedHeaders(VENDURE_SECRET, event);
    await request(t.server)
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...vendure })
      .send(event)
      .expect(200);
    // A refused signature is logged as refused, never with the signature itself.
    await request(t.server)
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...vendure })
      .send(`${event} `)
      .expect(401);

    expect(output.length).toBeGreaterThan(0);
    const secrets = [ADMIN_KEY, driver.token, rotated.body.token, DRIVER_SECRET, VENDURE_SECRET];
    const signatures = [signed['webhook-signature'], vendure['webhook-signature']].map((header) => header.slice(3));
    for (const secret of [...secrets, ...secrets.map((s) => s.replace(/^whsec_/, '')), ...signatures]) {
      expect(output).not.toContain(secret);
    }
  });
});
