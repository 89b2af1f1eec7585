import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import pg from 'pg';
import request from 'supertest';
import { createTestDatabase, testRedisUrl } from './support/databases.js';
import { CreatedDriver, newDriver, newPhone } from './support/factories.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET, startTestApp, TestApp, VENDURE_SECRET } from './support/test-app.js';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const DRIVER_FIELDS = ['id', 'name', 'phone', 'vehicleType', 'status', 'isActive', 'lastLocation', 'createdAt', 'updatedAt'];

describe('drivers routes (PostgreSQL + Redis)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let sql: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('drivers');
    t = await startTestApp({ DATABASE_URL: database.url, REDIS_URL: testRedisUrl() });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await database?.drop();
  });

  const driverCount = async () => Number((await sql.query('SELECT count(*)::int AS n FROM drivers')).rows[0].n);
  const http = () => request(t.server);

  describe('POST /drivers', () => {
    it('creates an OFFLINE, active driver and shows its token once; only a hash is stored', async () => {
      const phone = newPhone();
      const response = await http()
        .post('/drivers')
        .set(admin)
        .send({ name: '  Ada Lovelace ', phone, vehicleType: 'bicycle' })
        .expect(201);

      expect(Object.keys(response.body).sort()).toEqual([...DRIVER_FIELDS, 'token'].sort());
      // It carries the token: no cache may keep it.
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body).toMatchObject({
        name: 'Ada Lovelace',
        phone,
        vehicleType: 'bicycle',
        status: 'OFFLINE',
        isActive: true,
        lastLocation: null,
      });
      expect(response.body.token).toMatch(/^drv_[A-Za-z0-9_-]{43}$/);
      const row = (await sql.query('SELECT * FROM drivers WHERE id = $1', [response.body.id])).rows[0];
      expect(row.token_hash).toBe(createHash('sha256').update(response.body.token).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(response.body.token);

      const fetched = await http().get(`/drivers/${response.body.id}`).set(admin).expect(200);
      expect(fetched.body.token).toBeUndefined();
    });

    it('leaves vehicleType null when it is not given', async () => {
      const { body } = await newDriver(t);
      expect(body.vehicleType).toBeNull();
    });

    it.each([
      ['name missing', { phone: '+4915100000001' }, 'name'],
      ['name empty', { name: '', phone: '+4915100000001' }, 'name'],
      ['name blank', { name: '   ', phone: '+4915100000001' }, 'name'],
      ['name too long', { name: 'x'.repeat(201), phone: '+4915100000001' }, 'name'],
      ['name not a string', { name: 42, phone: '+4915100000001' }, 'name'],
      ['phone missing', { name: 'A' }, 'phone'],
      ['phone not E.164', { name: 'A', phone: '0151 1234567' }, 'phone'],
      ['phone not a string', { name: 'A', phone: 4915100000001 }, 'phone'],
      ['vehicleType empty', { name: 'A', phone: '+4915100000001', vehicleType: '' }, 'vehicleType'],
      ['vehicleType too long', { name: 'A', phone: '+4915100000001', vehicleType: 'v'.repeat(51) }, 'vehicleType'],
      ['vehicleType not a string', { name: 'A', phone: '+4915100000001', vehicleType: ['car'] }, 'vehicleType'],
      ['unknown field', { name: 'A', phone: '+4915100000001', status: 'AVAILABLE' }, 'status'],
      ['server-owned field', { name: 'A', phone: '+4915100000001', id: UNKNOWN_ID }, 'id'],
      ['a NUL character in the name', { name: 'A\u0000B', phone: '+4915100000001' }, 'name'],
    ])('answers 400 naming the field when %s, and creates nothing', async (_case, body, field) => {
      const before = await driverCount();
      const response = await http().post('/drivers').set(admin).send(body).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED' });
      expect(response.body.message.join(' ')).toContain(field);
      expect(await driverCount()).toBe(before);
    });

    it('names every offending field in one answer', async () => {
      const response = await http().post('/drivers').set(admin).send({ name: '', phone: 'x', extra: 1 }).expect(400);
      const text = response.body.message.join(' | ');
      expect(text).toContain('name');
      expect(text).toContain('phone');
      expect(text).toContain('extra');
    });

    it('answers 409 DRIVER_PHONE_TAKEN for a phone already registered, and changes nothing', async () => {
      const { body } = await newDriver(t);
      const before = await driverCount();
      const response = await http().post('/drivers').set(admin).send({ name: 'Other', phone: body.phone }).expect(409);
      expect(response.body.code).toBe('DRIVER_PHONE_TAKEN');
      expect(await driverCount()).toBe(before);
    });

    it('answers 401 without credentials or with bad ones', async () => {
      for (const headers of [{}, bearer('nope'), bearer('x'.repeat(40)), { authorization: 'Basic YWRtaW46YWRtaW4=' }]) {
        const response = await http().post('/drivers').set(headers).send({ name: 'A', phone: newPhone() }).expect(401);
        expect(response.body.code).toBe('UNAUTHENTICATED');
      }
    });

    it('answers 403 to a driver token (admin only)', async () => {
      const driver = await newDriver(t);
      const response = await http().post('/drivers').set(bearer(driver.token)).send({ name: 'A', phone: newPhone() });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('FORBIDDEN');
    });

    it('does not accept driver-backend signatures on an admin route', async () => {
      const body = JSON.stringify({ name: 'A', phone: newPhone() });
      const response = await http()
        .post('/drivers')
        .set({ 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body) })
        .send(body)
        .expect(401);
      expect(response.body.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('GET /drivers', () => {
    let fleet: CreatedDriver[];

    beforeAll(async () => {
      await sql.query('DELETE FROM drivers');
      fleet = [];
      for (let i = 0; i < 5; i++) fleet.push(await newDriver(t, { name: `Fleet ${i}` }));
      await sql.query(`UPDATE drivers SET status = 'AVAILABLE' WHERE id = ANY($1)`, [[fleet[1].id, fleet[3].id]]);
    });

    it('walks every driver once, in creation order, with a cursor', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: Record<string, string | number> = { limit: 2, ...(cursor ? { cursor } : {}) };
        const response = await http().get('/drivers').query(query).set(admin).expect(200);
        expect(response.body.items.length).toBeLessThanOrEqual(2);
        for (const item of response.body.items) expect(Object.keys(item).sort()).toEqual([...DRIVER_FIELDS].sort());
        seen.push(...response.body.items.map((d: { id: string }) => d.id));
        cursor = response.body.nextCursor;
        pages += 1;
      } while (cursor);
      expect(seen).toEqual(fleet.map((d) => d.id));
      expect(pages).toBe(3);
    });

    it('returns at most 50 by default and nextCursor null on the last page', async () => {
      const response = await http().get('/drivers').set(admin).expect(200);
      expect(response.body.items).toHaveLength(5);
      expect(response.body.nextCursor).toBeNull();
    });

    it('filters by status', async () => {
      const response = await http().get('/drivers?status=AVAILABLE').set(admin).expect(200);
      expect(response.body.items.map((d: { id: string }) => d.id)).toEqual([fleet[1].id, fleet[3].id]);
      expect(response.body.items.every((d: { status: string }) => d.status === 'AVAILABLE')).toBe(true);
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['status=PARKED', 'status'],
      ['unknown=1', 'unknown'],
    ])('answers 400 for %s', async (query, field) => {
      const response = await http().get(`/drivers?${query}`).set(admin).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(response.body.message.join(' ')).toContain(field);
    });

    it('answers 400 INVALID_CURSOR for a cursor it did not issue', async () => {
      const response = await http().get('/drivers?cursor=not-a-cursor').set(admin).expect(400);
      expect(response.body.code).toBe('INVALID_CURSOR');
    });

    it('answers 401 without credentials and 403 to a driver token', async () => {
      expect((await http().get('/drivers').expect(401)).body.code).toBe('UNAUTHENTICATED');
      expect((await http().get('/drivers').set(bearer(fleet[0].token)).expect(403)).body.code).toBe('FORBIDDEN');
    });
  });

  describe('GET /drivers/:id', () => {
    let ada: CreatedDriver;
    let bob: CreatedDriver;

    beforeAll(async () => {
      ada = await newDriver(t, { name: 'Ada' });
      bob = await newDriver(t, { name: 'Bob' });
    });

    it('answers the driver to an operator and to the driver itself', async () => {
      const asAdmin = await http().get(`/drivers/${ada.id}`).set(admin).expect(200);
      const asSelf = await http().get(`/drivers/${ada.id}`).set(bearer(ada.token)).expect(200);
      expect(asSelf.body).toEqual(asAdmin.body);
      expect(asAdmin.body).toMatchObject({ id: ada.id, name: 'Ada' });
    });

    it("answers 403 FORBIDDEN to another driver's token", async () => {
      const response = await http().get(`/drivers/${ada.id}`).set(bearer(bob.token)).expect(403);
      expect(response.body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    });

    it('answers 404 DRIVER_NOT_FOUND for an unknown id and 400 for an id that is not a UUID', async () => {
      expect((await http().get(`/drivers/${UNKNOWN_ID}`).set(admin).expect(404)).body.code).toBe('DRIVER_NOT_FOUND');
      const bad = await http().get('/drivers/not-a-uuid').set(admin).expect(400);
      expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', message: ['id must be a UUID'] });
    });

    it('answers 401 without credentials, with a malformed token and with an unknown token', async () => {
      await http().get(`/drivers/${ada.id}`).expect(401);
      await http().get(`/drivers/${ada.id}`).set(bearer('drv_short')).expect(401);
      await http()
        .get(`/drivers/${ada.id}`)
        .set(bearer(`drv_${'A'.repeat(43)}`))
        .expect(401);
    });

    it('accepts the driver app backend signing with DRIVER_WEBHOOK_SECRET, for any driver', async () => {
      const response = await http().get(`/drivers/${bob.id}`).set(signedHeaders(DRIVER_SECRET, '')).expect(200);
      expect(response.body.id).toBe(bob.id);
    });

    it('refuses signatures made with the Vendure secret, stale ones and tampered ones', async () => {
      await http().get(`/drivers/${bob.id}`).set(signedHeaders(VENDURE_SECRET, '')).expect(401);
      const stale = signedHeaders(DRIVER_SECRET, '', { at: new Date(Date.now() - 6 * 60_000) });
      expect((await http().get(`/drivers/${bob.id}`).set(stale).expect(401)).body.message).toMatch(/too old/);
      const ahead = signedHeaders(DRIVER_SECRET, '', { at: new Date(Date.now() + 6 * 60_000) });
      expect((await http().get(`/drivers/${bob.id}`).set(ahead).expect(401)).body.message).toMatch(/too new/);
      const tampered = { ...signedHeaders(DRIVER_SECRET, ''), 'webhook-id': 'msg_other' };
      await http().get(`/drivers/${bob.id}`).set(tampered).expect(401);
      const missing: Record<string, string> = signedHeaders(DRIVER_SECRET, '');
      delete missing['webhook-timestamp'];
      await http().get(`/drivers/${bob.id}`).set(missing).expect(401);
    });
  });

  describe('PATCH /drivers/:id', () => {
    it('updates name, phone and vehicleType and moves updatedAt', async () => {
      const driver = await newDriver(t);
      const phone = newPhone();
      const response = await http()
        .patch(`/drivers/${driver.id}`)
        .set(admin)
        .send({ name: 'Renamed', phone, vehicleType: 'van' })
        .expect(200);
      expect(response.body).toMatchObject({ id: driver.id, name: 'Renamed', phone, vehicleType: 'van', status: 'OFFLINE' });
      expect(Date.parse(response.body.updatedAt)).toBeGreaterThan(Date.parse(driver.body.createdAt as string));
      expect((await http().get(`/drivers/${driver.id}`).set(admin)).body).toEqual(response.body);
    });

    it('clears vehicleType with null', async () => {
      const driver = await newDriver(t, { vehicleType: 'car' });
      const response = await http().patch(`/drivers/${driver.id}`).set(admin).send({ vehicleType: null }).expect(200);
      expect(response.body.vehicleType).toBeNull();
    });

    it('changes only the fields it is given', async () => {
      const driver = await newDriver(t, { vehicleType: 'car' });
      const response = await http().patch(`/drivers/${driver.id}`).set(admin).send({ name: 'Only name' }).expect(200);
      expect(response.body).toMatchObject({ name: 'Only name', phone: driver.body.phone, vehicleType: 'car' });
    });

    it.each([
      ['name empty', { name: '' }, 'name'],
      ['phone not E.164', { phone: '12345' }, 'phone'],
      ['vehicleType not a string', { vehicleType: 7 }, 'vehicleType'],
      ['isActive not a boolean', { isActive: 'no' }, 'isActive'],
      ['status (set by the service, not by PATCH)', { status: 'AVAILABLE' }, 'status'],
      ['tokenHash', { tokenHash: 'x' }, 'tokenHash'],
      ['name null', { name: null }, 'name'],
      ['phone null', { phone: null }, 'phone'],
      ['isActive null', { isActive: null }, 'isActive'],
    ])('answers 400 when %s, and changes nothing', async (_case, body, field) => {
      const driver = await newDriver(t);
      const response = await http().patch(`/drivers/${driver.id}`).set(admin).send(body).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
      expect(response.body.message.join(' ')).toContain(field);
      expect((await http().get(`/drivers/${driver.id}`).set(admin)).body).toEqual(
        Object.fromEntries(Object.entries(driver.body).filter(([key]) => key !== 'token')),
      );
    });

    it('answers 409 DRIVER_PHONE_TAKEN when the phone belongs to another driver', async () => {
      const [a, b] = [await newDriver(t), await newDriver(t)];
      const response = await http().patch(`/drivers/${a.id}`).set(admin).send({ phone: b.body.phone }).expect(409);
      expect(response.body.code).toBe('DRIVER_PHONE_TAKEN');
      expect((await http().get(`/drivers/${a.id}`).set(admin)).body.phone).toBe(a.body.phone);
    });

    it('answers 404 for an unknown driver, 401 without credentials and 403 to a driver token (even its own)', async () => {
      const driver = await newDriver(t);
      expect((await http().patch(`/drivers/${UNKNOWN_ID}`).set(admin).send({ name: 'X' }).expect(404)).body.code).toBe('DRIVER_NOT_FOUND');
      await http().patch(`/drivers/${driver.id}`).send({ name: 'X' }).expect(401);
      await http().patch(`/drivers/${driver.id}`).set(bearer(driver.token)).send({ name: 'X' }).expect(403);
    });

    it('isActive: false deactivates the driver and its token stops working at once', async () => {
      const driver = await newDriver(t);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
      const response = await http().patch(`/drivers/${driver.id}`).set(admin).send({ isActive: false }).expect(200);
      expect(response.body.isActive).toBe(false);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(401);

      await http().patch(`/drivers/${driver.id}`).set(admin).send({ isActive: true }).expect(200);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
    });
  });

  describe('POST /drivers/:id/token', () => {
    it('issues a new token; the old one stops working at once in this process', async () => {
      const driver = await newDriver(t);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
      const response = await http().post(`/drivers/${driver.id}/token`).set(admin).expect(200);
      expect(Object.keys(response.body)).toEqual(['token']);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body.token).not.toBe(driver.token);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(401);
      await http().get(`/drivers/${driver.id}`).set(bearer(response.body.token)).expect(200);
    });

    it('the old token stops working in another process once its cache entry expires', async () => {
      // A second instance on the same database, as under PM2, whose cache entry expires immediately.
      const other = await startTestApp({ DATABASE_URL: database.url, DRIVER_TOKEN_CACHE_TTL_MS: '0' });
      try {
        const driver = await newDriver(t);
        await request(other.server).get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
        await http().post(`/drivers/${driver.id}/token`).set(admin).expect(200);
        await request(other.server).get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(401);
      } finally {
        await other.close();
      }
    });

    it('answers 404 for an unknown driver, 401 without credentials and 403 to a driver token', async () => {
      const driver = await newDriver(t);
      expect((await http().post(`/drivers/${UNKNOWN_ID}/token`).set(admin).expect(404)).body.code).toBe('DRIVER_NOT_FOUND');
      await http().post(`/drivers/${driver.id}/token`).expect(401);
      await http().post(`/drivers/${driver.id}/token`).set(bearer(driver.token)).expect(403);
      await http().get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
    });
  });

  describe('with secrets unset', () => {
    let bare: TestApp;

    beforeAll(async () => {
      bare = await startTestApp({
        DATABASE_URL: database.url,
        ADMIN_API_KEY: undefined,
        DRIVER_WEBHOOK_SECRET: undefined,
        VENDURE_WEBHOOK_SECRET: undefined,
      });
    });

    afterAll(() => bare?.close());

    it('refuses the admin key and signed requests (401), but driver tokens still work', async () => {
      const driver = await newDriver(t);
      await request(bare.server).get('/drivers').set(admin).expect(401);
      await request(bare.server).get(`/drivers/${driver.id}`).set(signedHeaders(DRIVER_SECRET, '')).expect(401);
      await request(bare.server).get(`/drivers/${driver.id}`).set(bearer(driver.token)).expect(200);
    });
  });
});
