import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import { AuthGuard } from '../src/auth/auth.guard.js';
import { Authenticator } from '../src/auth/authenticator.js';
import { newDriver } from './support/factories.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET } from './support/test-app.js';

/** Nest's global guard, interceptor, pipe and filter: this route, and the ready orders' (order-ready.route.ts), take each one's step themselves. */
const GLOBAL_STEPS_TAKEN = [
  'APP_FILTER AllExceptionsFilter',
  'APP_GUARD AuthGuard',
  'APP_INTERCEPTOR SignedRequestReplayInterceptor',
  'APP_PIPE StrictValidationPipe',
];

/**
 * Location updates have one implementation, a Fastify route, for every
 * caller: the same Authenticator as the global guard (the guard itself
 * never runs for them), the same validation answers, the same rate limit,
 * and the OpenAPI document still describes it.
 */
describe('location updates: one route for every caller', () => {
  const env = useServiceEnvironment('location_route', { RATE_LIMIT_LOCATION_PER_MINUTE: '3' });
  const http = () => request(env.t.server);
  let guard: ReturnType<typeof jest.spyOn>;
  let authorize: ReturnType<typeof jest.spyOn>;

  beforeEach(async () => {
    await env.reset();
    guard = jest.spyOn(AuthGuard.prototype, 'canActivate');
    authorize = jest.spyOn(Authenticator.prototype, 'authorize');
  });
  afterEach(() => {
    guard.mockRestore();
    authorize.mockRestore();
  });

  it("records a driver's own update, with the same answer headers as every route", async () => {
    const driver = await newDriver(env.t);
    const answer = await http()
      .patch(`/drivers/${driver.id}/location`)
      .set(bearer(driver.token))
      .send({ lat: 52.5, lon: 13.4, speed: 3 })
      .expect(200);
    expect(answer.body).toEqual({ status: 'OFFLINE', online: true });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-request-id']).toBeDefined();
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(await env.redis.hget('drivers:location', driver.id)).toMatch(/^13.4 52.5 /);
  });

  it('asks the Authenticator, never the Nest guard, for a driver, an operator and the driver app backend alike', async () => {
    const driver = await newDriver(env.t);
    const other = await newDriver(env.t);
    const raw = JSON.stringify({ lat: 2, lon: 2 });
    guard.mockClear();
    authorize.mockClear();
    await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(200);
    await http().patch(`/drivers/${driver.id}/location`).set(admin).send({ lat: 1, lon: 1 }).expect(200);
    await http()
      .patch(`/drivers/${driver.id}/location`)
      .set({ 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, raw) })
      .send(raw)
      .expect(200);
    const invalid = await http()
      .patch(`/drivers/${driver.id}/location`)
      .set(bearer(driver.token))
      .send({ lat: 1, lon: 1, status: 'BUSY' })
      .expect(400);
    expect(invalid.body.message).toEqual(['property status should not exist']);
    await http().patch(`/drivers/${other.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(403);
    await http().patch(`/drivers/not-a-uuid/location`).set(admin).send({ lat: 1, lon: 1 }).expect(400);
    expect(authorize).toHaveBeenCalledTimes(6);
    expect(guard).not.toHaveBeenCalled();
  });

  it.each([
    // Checked together, as Nest checks a handler's arguments: a body refused before class-validator runs answers first ...
    ['an array', [1, 2], ['request body must be a JSON object']],
    ['an inherited field name', JSON.parse('{"lat":1,"lon":1,"constructor":1}'), ['property constructor should not exist']],
    // ... and the path before a body that class-validator refuses.
    ['a latitude out of range', { lat: 91, lon: 1 }, ['id must be a UUID']],
    ['an unknown field', { lat: 1, lon: 1, status: 'BUSY' }, ['id must be a UUID']],
  ])('with a bad id and %s, answers the first refusal, as before', async (_case, body, message) => {
    const answer = await http().patch('/drivers/not-a-uuid/location').set(admin).send(body).expect(400);
    expect(answer.body).toEqual({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED', message });
  });

  it('answers an empty driver id as no route, as every other route does', async () => {
    const missing = await http().patch('/drivers//location').set(admin).send({ lat: 1, lon: 1 }).expect(404);
    const other = await http().patch('/drivers//status').set(admin).send({ status: 'OFFLINE' }).expect(404);
    expect(missing.body).toMatchObject({ code: 'NOT_FOUND', message: 'Cannot PATCH /drivers//location' });
    expect(other.body.code).toBe('NOT_FOUND');
  });

  it("answers the driver's spent allowance with 429 and Retry-After, whoever sends the update", async () => {
    const driver = await newDriver(env.t);
    for (let i = 0; i < 3; i++)
      await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(200);
    const own = await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(429);
    const byOperator = await http().patch(`/drivers/${driver.id}/location`).set(admin).send({ lat: 1, lon: 1 }).expect(429);
    for (const answer of [own, byOperator]) {
      expect(answer.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'RATE_LIMITED' });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('is in the OpenAPI document as a controller route would be', async () => {
    const document = (await http().get('/docs-json').expect(200)).body;
    const error = (description: string) => ({
      description,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } } },
    });
    // As @nestjs/swagger describes a controller route: the same id as when it was one, security and errors from its access.
    const operation = document.paths['/drivers/{id}/location'].patch;
    expect(operation).toMatchObject({
      operationId: 'DriverAvailabilityController_updateLocation',
      summary: "Report the driver's location; also its heartbeat. Never changes its status.",
      tags: ['drivers'],
      security: [{ adminKey: [] }, { driverToken: [] }, { driverBackendSignature: [] }],
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/UpdateLocationDto' } } } },
    });
    expect(operation.parameters.map((p: { name: string; in: string; required: boolean }) => [p.in, p.name, p.required])).toEqual([
      ['path', 'id', true],
      ['header', 'webhook-id', false],
      ['header', 'webhook-timestamp', false],
      ['header', 'webhook-target-signature', false],
    ]);
    expect(operation.responses[200].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/LocationAcceptedDto' });
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '401', '403', '404', '409', '413', '415', '429', '503']);
    expect(operation.responses[404]).toEqual(error('DRIVER_NOT_FOUND'));
    expect(operation.responses[429]).toEqual({
      ...error('RATE_LIMITED: the allowance per minute is spent; the Retry-After header gives the seconds to wait'),
      headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
    });
    expect(operation.responses[403].description).toContain('a driver token on another driver');
    const body = document.components.schemas.UpdateLocationDto;
    expect(body.required).toEqual(['lat', 'lon']);
    expect(body.properties.lat).toMatchObject({ type: 'number', minimum: -90, maximum: 90 });
    expect(body.properties.speed).toMatchObject({ type: 'number', minimum: 0, maximum: 150 });
    expect(body.properties.recordedAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(document.components.schemas.LocationAcceptedDto.properties.online).toBeDefined();
  });

  it("the global steps it takes are all of Nest's: a new global guard, interceptor, pipe or filter fails this until the route takes it too", () => {
    const modules = (
      env.t.app as unknown as { container: { getModules(): Map<string, { providers: Map<unknown, { metatype?: { name: string } }> }> } }
    ).container.getModules();
    const globals = [...modules.values()].flatMap((module) =>
      [...module.providers.entries()]
        .filter(([token]) => typeof token === 'string' && /^APP_(GUARD|INTERCEPTOR|PIPE|FILTER)/.test(token))
        .map(([token, wrapper]) => `${String(token).split(' ')[0]} ${wrapper.metatype?.name}`),
    );
    expect(globals.sort()).toEqual(GLOBAL_STEPS_TAKEN);
  });
});
