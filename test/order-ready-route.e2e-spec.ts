import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import { AuthGuard } from '../src/auth/auth.guard.js';
import { Authenticator } from '../src/auth/authenticator.js';
import { StrictValidationPipe } from '../src/common/validation.pipe.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, DRIVER_SECRET, VENDURE_SECRET } from './support/test-app.js';

/**
 * Ready orders come through a Fastify route (order-ready.route.ts) that
 * takes the global guard's, interceptor's, pipe's and filter's steps
 * itself: the same Authenticator with the route's rate limit, the same
 * validation answers, replay safety, and the OpenAPI document still
 * describes it as the controller route it was. (test/location-route.e2e-spec.ts
 * fails when Nest gains a global step these routes do not take.)
 */
describe('ready orders: a Fastify route with the steps of a Nest route', () => {
  const env = useServiceEnvironment('order_ready_route', { RATE_LIMIT_ORDER_READY_PER_MINUTE: '4' });
  const http = () => request(env.t.server);
  let guard: ReturnType<typeof jest.spyOn>;
  let authorize: ReturnType<typeof jest.spyOn>;
  let validate: ReturnType<typeof jest.spyOn>;

  const ready = (body: unknown, secret = VENDURE_SECRET, id?: string) => {
    const raw = JSON.stringify(body);
    return http()
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...signedHeaders(secret, raw, { id }) })
      .send(raw);
  };

  beforeEach(async () => {
    await env.reset();
    guard = jest.spyOn(AuthGuard.prototype, 'canActivate');
    authorize = jest.spyOn(Authenticator.prototype, 'authorize');
    validate = jest.spyOn(StrictValidationPipe.prototype, 'transform');
  });
  afterEach(() => {
    guard.mockRestore();
    authorize.mockRestore();
    validate.mockRestore();
  });

  it("answers a signed order through the Authenticator and the validation pipe, never the Nest guard, with every route's headers", async () => {
    const answer = await ready({ sellerOrderId: 'SO-route-1', pickupLat: 52.52, pickupLon: 13.405 })
      .set('x-request-id', 'req-order-route-1')
      .expect(200);
    expect(answer.body).toEqual({ assigned: false, sellerOrderId: 'SO-route-1', reason: 'NO_DRIVER_AVAILABLE' });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-request-id']).toBe('req-order-route-1');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(authorize).toHaveBeenCalledTimes(1);
    expect(authorize.mock.calls[0][1]).toEqual({ callers: ['vendure'], rateLimit: 'orderReady' });
    expect(validate).toHaveBeenCalledTimes(1);
    expect(guard).not.toHaveBeenCalled();
  });

  it('refuses other callers and bad bodies as the Nest route did, before any dispatch', async () => {
    const order = { sellerOrderId: 'SO-route-2', pickupLat: 52.52, pickupLon: 13.405 };
    const unsigned = await http().post('/events/seller-order-ready').send(order).expect(401);
    expect(unsigned.body).toMatchObject({ statusCode: 401, code: 'UNAUTHENTICATED' });
    const operator = await http().post('/events/seller-order-ready').set(admin).send(order).expect(403);
    expect(operator.body.code).toBe('FORBIDDEN');
    // Signed with the driver app backend's secret: a caller this route does not take.
    await ready(order, DRIVER_SECRET).expect(401);
    const invalid = await ready({ ...order, pickupLat: 91, status: 'BUSY' }).expect(400);
    expect(invalid.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      code: 'VALIDATION_FAILED',
      message: ['property status should not exist', 'pickupLat must not be greater than 90'],
    });
    const get = await http().get('/events/seller-order-ready').set(admin).expect(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.body.code).toBe('METHOD_NOT_ALLOWED');
    const notObject = await ready([order]).expect(400);
    expect(notObject.body).toMatchObject({ code: 'VALIDATION_FAILED', message: ['request body must be a JSON object'] });
    expect(await env.sql.query('SELECT 1 FROM deliveries')).toMatchObject({ rowCount: 0 });
  });

  it('answers a replay from its receipt and refuses its webhook-id with another body', async () => {
    const order = { sellerOrderId: 'SO-route-3', pickupLat: 52.52, pickupLon: 13.405, maxWaitSeconds: 600 };
    const first = await ready(order, VENDURE_SECRET, 'msg_route_3').expect(200);
    expect(first.body).toMatchObject({ assigned: false, status: 'PENDING', sellerOrderId: 'SO-route-3' });
    validate.mockClear();
    const again = await ready(order, VENDURE_SECRET, 'msg_route_3').expect(200);
    expect(again.body).toEqual(first.body);
    expect(validate).not.toHaveBeenCalled();
    const reused = await ready({ ...order, pickupLat: 1 }, VENDURE_SECRET, 'msg_route_3').expect(409);
    expect(reused.body.code).toBe('WEBHOOK_ID_REUSED');
    expect(await env.sql.query(`SELECT 1 FROM deliveries WHERE seller_order_id = 'SO-route-3'`)).toMatchObject({ rowCount: 1 });
  });

  it("spends Vendure's allowance of ready orders: 429 with Retry-After once spent", async () => {
    for (let i = 0; i < 4; i++) await ready({ sellerOrderId: `SO-limit-${i}`, pickupLat: 1, pickupLon: 1 }).expect(200);
    const refused = await ready({ sellerOrderId: 'SO-limit-4', pickupLat: 1, pickupLon: 1 }).expect(429);
    expect(refused.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('is in the OpenAPI document as the controller route was (its 200 now described), in its place among the events', async () => {
    const document = (await http().get('/docs-json').expect(200)).body;
    const operation = document.paths['/events/seller-order-ready'].post;
    expect(operation).toMatchObject({
      operationId: 'EventsController_ready',
      summary: 'Assign the nearest available driver to a ready order (idempotent on sellerOrderId)',
      tags: ['events'],
      security: [{ vendureSignature: [] }],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/SellerOrderReadyDto' } } } },
    });
    expect(operation.parameters.map((p: { name: string; in: string; required: boolean }) => [p.in, p.name, p.required])).toEqual([
      ['header', 'webhook-id', true],
      ['header', 'webhook-timestamp', true],
      ['header', 'webhook-target-signature', false],
    ]);
    expect(operation.responses[200].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SellerOrderReadyAnswerDto' });
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '401', '403', '409', '413', '415', '429', '503']);
    expect(operation.responses[409].description).toMatch(/^DELIVERY_ALREADY_FINISHED: .*; WEBHOOK_ID_REUSED: /);
    expect(document.components.schemas.SellerOrderReadyDto.required).toEqual(['sellerOrderId', 'pickupLat', 'pickupLon']);
    const events = Object.keys(document.paths).filter((path) => path.startsWith('/events/'));
    expect(events).toEqual(['/events/seller-order-ready', '/events/seller-order-cancelled']);
  });
});
