import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import createClient, { type Client } from 'openapi-fetch';
import { Webhook } from 'standardwebhooks';
import type { paths } from '../clients/typescript/schema.js';
import { createTestDatabase } from './support/databases.js';
import { newPhone } from './support/factories.js';
import { freePort } from './support/free-port.js';
import { ADMIN_KEY, startTestApp, TestApp, VENDURE_SECRET } from './support/test-app.js';

const DOCUMENT = 'openapi/openapi.json';
const CLIENT_TYPES = 'clients/typescript/schema.d.ts';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** Signs each request as Vendure does: Standard Webhooks, over the body exactly as sent, with the headers the document declares. */
const signedBy = (secret: string) => ({
  async onRequest({ request }: { request: Request }) {
    const id = request.headers.get('webhook-id')!;
    const at = new Date(Number(request.headers.get('webhook-timestamp')) * 1000);
    request.headers.set('webhook-signature', new Webhook(secret).sign(id, at, await request.clone().text()));
    return request;
  },
});

describe('the OpenAPI document and the client generated from it (openapi-fetch)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let base: string;
  let admin: Client<paths>;
  const as = (token?: string) => createClient<paths>({ baseUrl: base, headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    database = await createTestDatabase('openapi_client');
    t = await startTestApp({ DATABASE_URL: database.url });
    const port = await freePort();
    await t.app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    admin = as(ADMIN_KEY);
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  describe('the committed files', () => {
    it(`${DOCUMENT} is the document the service serves at /docs-json`, async () => {
      const served = await (await fetch(`${base}/docs-json`)).json();
      // On a difference, the API changed and the committed document did not: `npm run openapi` regenerates it and the client.
      expect(served).toEqual(JSON.parse(readFileSync(DOCUMENT, 'utf8')));
    });

    it(`${CLIENT_TYPES} is what openapi-typescript generates from it`, () => {
      const generated = execFileSync(process.execPath, ['node_modules/openapi-typescript/bin/cli.js', DOCUMENT], { encoding: 'utf8' });
      // On a difference: `npm run openapi:client`.
      expect(generated === readFileSync(CLIENT_TYPES, 'utf8')).toBe(true);
    });

    it('names every operation, webhooks included, with an id of its own', () => {
      const document = JSON.parse(readFileSync(DOCUMENT, 'utf8'));
      const ids = [...Object.values(document.paths), ...Object.values(document.webhooks)].flatMap((item) =>
        Object.values(item as Record<string, { operationId?: string }>).map((operation) => operation.operationId),
      );
      expect(ids.length).toBeGreaterThan(30);
      expect(ids.filter((id) => typeof id !== 'string')).toEqual([]);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    });
  });

  describe('calls through the typed client', () => {
    const pickup = { lat: 61.5 + Math.random() / 100, lon: 23.7 + Math.random() / 100 };
    let driver: { id: string; token: string };

    it('registers a driver with the admin key, and the driver reads itself with its own token', async () => {
      const { data, response } = await admin.POST('/drivers', {
        body: { name: 'Typed Client', phone: newPhone(), vehicleType: 'bicycle' },
      });
      expect(response.status).toBe(201);
      expect(data).toMatchObject({ name: 'Typed Client', status: 'OFFLINE', isActive: true, lastLocation: null });
      driver = { id: data!.id, token: data!.token };

      const own = await as(driver.token).GET('/drivers/{id}', { params: { path: { id: driver.id } } });
      expect(own.data?.id).toBe(driver.id);
    });

    it('makes the driver choosable (status, then a location) and finds it nearby', async () => {
      const self = as(driver.token);
      const status = await self.PATCH('/drivers/{id}/status', { params: { path: { id: driver.id } }, body: { status: 'AVAILABLE' } });
      expect(status.data?.status).toBe('AVAILABLE');
      const ping = await self.PATCH('/drivers/{id}/location', {
        params: { path: { id: driver.id } },
        body: { lat: pickup.lat, lon: pickup.lon, accuracy: 5 },
      });
      expect(ping.data).toEqual({ status: 'AVAILABLE', online: true });

      const { data } = await admin.GET('/drivers/nearby', { params: { query: { lat: pickup.lat, lon: pickup.lon, radiusKm: 5 } } });
      expect(data?.items.map((item) => item.driver.id)).toEqual([driver.id]);
      expect(data?.items[0].driver.lastLocation).toMatchObject({ lat: pickup.lat, lon: pickup.lon, accuracy: 5 });
      expect(data?.items[0].distanceMeters).toBe(0);
    });

    it('sends a signed Vendure event with the signature headers the document declares', async () => {
      const vendure = as();
      vendure.use(signedBy(VENDURE_SECRET));
      const header = { 'webhook-id': `msg_${randomUUID()}`, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) };
      const { data, response } = await vendure.POST('/events/seller-order-ready', {
        params: { header },
        body: { sellerOrderId: `SO-typed-${randomUUID()}`, pickupLat: pickup.lat, pickupLon: pickup.lon },
      });
      expect(response.status).toBe(200);
      expect(data).toMatchObject({ assigned: true, driverId: driver.id, distanceMeters: 0 });

      const delivery = await as(driver.token).GET('/deliveries/{id}', { params: { path: { id: data!.deliveryId! } } });
      expect(delivery.data).toMatchObject({ status: 'ASSIGNED', driverId: driver.id });
    });

    it('answers errors in the documented shape, with their codes', async () => {
      const unknown = await admin.GET('/drivers/{id}', { params: { path: { id: UNKNOWN_ID } } });
      expect(unknown.response.status).toBe(404);
      expect(unknown.error).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'DRIVER_NOT_FOUND' });

      const anonymous = await as().GET('/drivers');
      expect([anonymous.response.status, anonymous.error?.code]).toEqual([401, 'UNAUTHENTICATED']);
      const notAnOperator = await as(driver.token).GET('/drivers');
      expect([notAnOperator.response.status, notAnOperator.error?.code]).toEqual([403, 'FORBIDDEN']);

      // @ts-expect-error: CreateDriverDto requires a phone, so the generated types refuse this body, as the service does.
      const invalid = await admin.POST('/drivers', { body: { name: 'No Phone' } });
      expect([invalid.response.status, invalid.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(invalid.error?.message).toEqual(expect.arrayContaining([expect.stringContaining('phone')]));
    });
  });
});
