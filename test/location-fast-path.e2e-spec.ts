import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import { AuthGuard } from '../src/auth/auth.guard.js';
import { newDriver } from './support/factories.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer } from './support/test-app.js';

/**
 * A driver's own, valid location update is served by the fast path (no Nest
 * guard, pipe or interceptor runs); everything else by the Nest route. Both
 * answer alike: success, the rate limit's 429, validation's 400.
 */
describe('location updates: the fast path and the Nest route', () => {
  const env = useServiceEnvironment('location_fast_path', { RATE_LIMIT_LOCATION_PER_MINUTE: '3' });
  const http = () => request(env.t.server);
  let guard: ReturnType<typeof jest.spyOn>;

  beforeEach(async () => {
    await env.reset();
    guard = jest.spyOn(AuthGuard.prototype, 'canActivate');
  });
  afterEach(() => guard.mockRestore());

  it("serves a driver's own valid update without the Nest guard, and records it", async () => {
    const driver = await newDriver(env.t);
    guard.mockClear();
    const answer = await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 52.5, lon: 13.4, speed: 3 }).expect(200);
    expect(answer.body).toEqual({ status: 'OFFLINE', online: true });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-request-id']).toBeDefined();
    expect(guard).not.toHaveBeenCalled();
    expect(await env.redis.hget('drivers:location', driver.id)).toMatch(/^13.4 52.5 /);
  });

  it('leaves other callers and bodies that are not plainly valid to the Nest route, which answers as before', async () => {
    const driver = await newDriver(env.t);
    const other = await newDriver(env.t);
    guard.mockClear();
    await http().patch(`/drivers/${driver.id}/location`).set(admin).send({ lat: 1, lon: 1 }).expect(200);
    const invalid = await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1, status: 'BUSY' }).expect(400);
    expect(invalid.body.message).toEqual(['property status should not exist']);
    await http().patch(`/drivers/${other.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(403);
    expect(guard).toHaveBeenCalledTimes(3);
  });

  it("answers the driver's spent allowance with 429 and Retry-After, as the Nest route does", async () => {
    const driver = await newDriver(env.t);
    for (let i = 0; i < 3; i++) await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(200);
    const fast = await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send({ lat: 1, lon: 1 }).expect(429);
    const nest = await http().patch(`/drivers/${driver.id}/location`).set(admin).send({ lat: 1, lon: 1 }).expect(429);
    for (const answer of [fast, nest]) {
      expect(answer.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', code: 'RATE_LIMITED' });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    }
  });
});
