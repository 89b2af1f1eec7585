import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import helmet from 'helmet';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { HELMET_OPTIONS } from '../src/common/security-headers.js';
import { createTestDatabase } from './support/databases.js';
import { newPhone } from './support/factories.js';
import { rawRequest } from './support/fuzz-socket.js';
import { servedRoutes } from './support/routes.js';
import { admin, startTestApp, TestApp } from './support/test-app.js';

const ERROR_KEYS = ['code', 'error', 'message', 'statusCode'];

describe('HTTP platform: request ids, errors, limits, metrics, OpenAPI', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(async () => {
    database = await createTestDatabase('platform');
    t = await startTestApp({ DATABASE_URL: database.url });
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  describe('x-request-id', () => {
    it("echoes the caller's id", async () => {
      const response = await http().get('/health').set('x-request-id', 'vendure-req-42').expect(200);
      expect(response.headers['x-request-id']).toBe('vendure-req-42');
    });

    it('makes a new one when none, or an unusable one, is sent', async () => {
      const none = await http().get('/health');
      const odd = await http().get('/health').set('x-request-id', 'has spaces and "quotes"');
      for (const response of [none, odd]) expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(none.headers['x-request-id']).not.toBe(odd.headers['x-request-id']);
    });

    it('is on error answers too', async () => {
      const response = await http().get('/drivers').set('x-request-id', 'err-1').expect(401);
      expect(response.headers['x-request-id']).toBe('err-1');
    });
  });

  describe('errors', () => {
    it('answers unknown routes 404 NOT_FOUND in the contract shape', async () => {
      const response = await http().get('/no/such/route').expect(404);
      expect(Object.keys(response.body).sort()).toEqual(ERROR_KEYS);
      expect(response.body).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'NOT_FOUND' });
    });

    it('answers a known path with a method it does not serve 405 METHOD_NOT_ALLOWED, naming the methods in Allow', async () => {
      const response = await http().delete(`/drivers/${randomUUID()}`).set(admin).expect(405);
      expect(response.headers.allow).toBe('GET, HEAD, PATCH');
      expect(response.headers['x-request-id']).toBeDefined();
      expect(response.body).toMatchObject({ statusCode: 405, error: 'Method Not Allowed', code: 'METHOD_NOT_ALLOWED' });
      expect((await http().put('/drivers').set(admin).send({}).expect(405)).headers.allow).toBe('GET, HEAD, POST');
      // A path no route has stays 404, whatever the method.
      await http().delete('/no/such/route').expect(404);
    });

    it('answers an Expect other than 100-continue 417 EXPECTATION_FAILED in the contract shape, with a request id', async () => {
      const server = t.app.getHttpServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const request = `GET /health HTTP/1.1\r\nHost: x\r\nExpect: 999-x\r\nx-request-id: expect-417\r\nConnection: close\r\n\r\n`;
        const response = await rawRequest(port, request, 10_000);
        expect(response.statusCode).toBe(417);
        expect(response.headers['x-request-id']).toBe('expect-417');
        expect(JSON.parse(response.body)).toEqual({
          statusCode: 417,
          error: 'Expectation Failed',
          message: 'Only "Expect: 100-continue" is supported',
          code: 'EXPECTATION_FAILED',
        });
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('answers 413 PAYLOAD_TOO_LARGE above 64 KiB, before authentication or parsing', async () => {
      const body = JSON.stringify({ name: 'x'.repeat(65 * 1024), phone: newPhone() });
      const response = await http().post('/drivers').set(admin).set('content-type', 'application/json').send(body);
      expect(response.status).toBe(413);
      expect(response.body).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
    });

    it('accepts a body just under the limit as far as validation', async () => {
      const body = JSON.stringify({ name: 'x'.repeat(60 * 1024), phone: newPhone() });
      const response = await http().post('/drivers').set(admin).set('content-type', 'application/json').send(body);
      expect(response.status).toBe(400);
      expect(response.body.message).toContain('name must be at most 200 characters');
    });

    it('counts length in characters as PostgreSQL does: variation selectors count', async () => {
      // 150 × "a" + U+FE0F: 300 characters, which class-validator's MaxLength would count as 150.
      const response = await http()
        .post('/drivers')
        .set(admin)
        .send({ name: 'a\uFE0F'.repeat(150), phone: newPhone() })
        .expect(400);
      expect(response.body.message).toEqual(['name must be at most 200 characters']);
    });

    it.each([
      [
        'nested 2,000 levels deep',
        `{"name":${'['.repeat(2000)}${']'.repeat(2000)},"phone":"+4915100000001"}`,
        'request body must not nest deeper than 16 levels',
      ],
      ['an inherited name as a field', '{"name":"Eve","phone":"+4915100000777","toString":"x"}', 'property toString should not exist'],
      [
        'a NUL in a field name',
        '{"name\\u0000":"x","name":"Eve","phone":"+4915100000778"}',
        'A field name must not contain NUL characters',
      ],
    ])('refuses a body %s with 400, naming the problem, and creates nothing', async (_, body, message) => {
      const response = await http().post('/drivers').set(admin).set('content-type', 'application/json').send(body).expect(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED', message: [message] });
      const drivers = await http().get('/drivers').set(admin).expect(200);
      expect(drivers.body.items).toEqual([]);
    });

    it('refuses an inherited name in a query string', async () => {
      const response = await http().get('/drivers?constructor=').set(admin).expect(400);
      expect(response.body.message).toEqual(['property constructor should not exist']);
    });

    it.each([
      ['an undecodable path', '/drivers/%zz', 400, 'MALFORMED_REQUEST'],
      ['a path parameter over 100 characters', `/drivers/${'a'.repeat(120)}`, 414, 'URI_TOO_LONG'],
    ])('answers %s in the contract shape, with a request id', async (_, path, status, code) => {
      const response = await http().get(path).set(admin).set('x-request-id', 'router-error-1').expect(status);
      expect(response.body).toMatchObject({ statusCode: status, code });
      expect(response.headers['x-request-id']).toBe('router-error-1');
    });

    it.each([
      ['truncated JSON', '{"name":'],
      ['a bare word', 'hello'],
      ['a prototype-poisoning key', '{"__proto__":{"isAdmin":true},"name":"A","phone":"+4915100000009"}'],
    ])('answers 400 INVALID_JSON for %s', async (_case, body) => {
      const response = await http().post('/drivers').set(admin).set('content-type', 'application/json').send(body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, code: 'INVALID_JSON' });
    });

    it.each([
      ['a JSON array', '[{"name":"A"}]'],
      ['a JSON string', '"A"'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
    ])('answers 400 VALIDATION_FAILED for %s as body', async (_case, body) => {
      const response = await http().post('/drivers').set(admin).set('content-type', 'application/json').send(body);
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])(
      'answers 415 UNSUPPORTED_MEDIA_TYPE for %s',
      async (type) => {
        const response = await http().post('/drivers').set(admin).set('content-type', type).send('name=A');
        expect(response.status).toBe(415);
        expect(response.body).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      },
    );
  });

  describe('security headers and CORS', () => {
    /** The headers helmet's own middleware sets on a real response with the service's options. */
    async function helmetsOwnHeaders(): Promise<Record<string, string>> {
      const middleware = helmet(HELMET_OPTIONS);
      const server = createServer((req, res) => middleware(req, res, () => res.end()));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
        const bare = ['connection', 'content-length', 'date', 'keep-alive', 'transfer-encoding'];
        return Object.fromEntries([...response.headers].filter(([name]) => !bare.includes(name)));
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }

    it("sends helmet's headers, exactly as helmet sets them, on every kind of answer, and no CORS headers by default", async () => {
      const expected = await helmetsOwnHeaders();
      expect(Object.keys(expected).length).toBeGreaterThanOrEqual(10);
      expect(expected['content-security-policy']).toContain("img-src 'self' data: validator.swagger.io");
      const answers = [
        await http().get('/health').set('origin', 'https://evil.example'),
        await http().get('/drivers').expect(401),
        await http().get('/no-such-route').set(admin).expect(404),
        await http().get('/docs-json').expect(200),
      ];
      for (const response of answers) {
        expect(response.headers).toMatchObject(expected);
        expect(response.headers['x-powered-by']).toBeUndefined();
        expect(response.headers['access-control-allow-origin']).toBeUndefined();
      }
    });

    it('allows only the configured origins when CORS_ORIGINS is set', async () => {
      const withCors = await startTestApp({ DATABASE_URL: database.url, CORS_ORIGINS: 'https://shop.example' });
      try {
        const allowed = await request(withCors.server).get('/health').set('origin', 'https://shop.example');
        expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
        const other = await request(withCors.server).get('/health').set('origin', 'https://evil.example');
        expect(other.headers['access-control-allow-origin']).toBeUndefined();
        // The location route is served by Fastify itself: CORS applies to it too.
        const location = await request(withCors.server)
          .patch('/drivers/00000000-0000-4000-8000-000000000000/location')
          .set('origin', 'https://shop.example')
          .send({ lat: 1, lon: 1 })
          .expect(401);
        expect(location.headers['access-control-allow-origin']).toBe('https://shop.example');
      } finally {
        await withCors.close();
      }
    });
  });

  describe('GET /metrics', () => {
    it('counts requests by route template and status, with latency histograms and Node defaults', async () => {
      await http().get('/drivers/00000000-0000-4000-8000-000000000000').set(admin).expect(404);
      await http().get('/drivers/00000000-0000-4000-8000-000000000001').set(admin).expect(404);
      const response = await http().get('/metrics').expect(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.text).toMatch(/http_requests_total\{method="GET",route="\/drivers\/:id",status_code="404"\} 2/);
      expect(response.text).toMatch(/http_request_duration_seconds_bucket\{le="0.001",method="GET",route="\/drivers\/:id"/);
      expect(response.text).toContain('process_resident_memory_bytes');
      expect(response.text).not.toContain('00000000-0000-4000-8000-000000000001');
    });

    it('requires METRICS_TOKEN when it is set', async () => {
      const token = 'metrics-token-0123456789';
      const guarded = await startTestApp({ DATABASE_URL: database.url, METRICS_TOKEN: token });
      try {
        expect((await request(guarded.server).get('/metrics').expect(401)).body.code).toBe('UNAUTHENTICATED');
        await request(guarded.server).get('/metrics').set('authorization', 'Bearer wrong-token-000000').expect(401);
        await request(guarded.server).get('/metrics').set('authorization', `Bearer ${token}`).expect(200);
      } finally {
        await guarded.close();
      }
    });
  });

  describe('GET /docs-json', () => {
    it('defines every schema it refers to (a dangling $ref breaks client generators)', async () => {
      const { body: doc } = await http().get('/docs-json').expect(200);
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
      expect(refs.length).toBeGreaterThan(10);
      expect([...new Set(refs)].filter((name) => !(name in doc.components.schemas))).toEqual([]);
    });

    it('lists every route the service serves, each with its responses, and the request schemas', async () => {
      const { body: doc } = await http().get('/docs-json').expect(200);
      const served = servedRoutes(t.app).map((route) => `${route.method} ${route.path}`);
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      );
      expect(documented.sort()).toEqual(served.sort());
      expect(served).toEqual(expect.arrayContaining(['GET /health', 'GET /metrics', 'POST /drivers/:id/token']));

      const create = doc.paths['/drivers'].post;
      expect(create.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/CreateDriverDto');
      expect(create.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/CreatedDriverResponseDto');
      expect(create.responses['409']).toBeDefined();
      expect(doc.paths['/drivers/{id}'].patch.requestBody.content['application/json'].schema.$ref).toBe(
        '#/components/schemas/UpdateDriverDto',
      );
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: object }>>)) {
        for (const [method, op] of Object.entries(ops)) {
          const success = Object.keys(op.responses).filter((status) => status.startsWith('2'));
          expect({ route: `${method} ${path}`, success: success.length > 0 }).toEqual({ route: `${method} ${path}`, success: true });
        }
      }
      expect(Object.keys(doc.components.schemas.CreateDriverDto.properties).sort()).toEqual(['name', 'phone', 'vehicleType']);
      expect(doc.components.schemas.CreateDriverDto.required.sort()).toEqual(['name', 'phone']);
      expect(doc.components.schemas.ErrorResponseDto.properties.code.enum).toContain('DRIVER_PHONE_TAKEN');
    });
  });
});
