import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { LocationWriter } from '../src/availability/location-writer.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { admin, bearer } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };
/** 50 km north of BERLIN. */
const JUMP = { lat: 52.97, lon: 13.405 };
/** 1 km north of BERLIN. */
const NEARBY = { lat: 52.529, lon: 13.405 };

/**
 * The quality filters (contract "Location, v2"), with their defaults: a point
 * worse than 100 m accuracy, or implying over 250 km/h from the last accepted
 * point, is acknowledged and ignored, and still counts as a heartbeat. Both
 * the Redis path and the PostgreSQL path (Redis stopped) decide.
 */
describe('location quality filters', () => {
  const env = useServiceEnvironment('location-filters');
  let t: ServiceEnvironment['t'];
  let sql: ServiceEnvironment['sql'];
  beforeAll(() => {
    ({ t, sql } = env);
  });
  beforeEach(() => env.reset());

  const http = () => request(t.server);
  const secondsAgo = (s: number) => new Date(Date.now() - (Date.now() % 1000) - s * 1000).toISOString();
  const ping = (driver: CreatedDriver, point: { lat: number; lon: number; recordedAt: string; accuracy?: number }) =>
    http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point).expect(200);
  const stored = async (id: string) => {
    await t.app.get(LocationWriter).flush();
    return (await sql.query('SELECT last_lat, last_lon, last_location_at, last_seen_at FROM drivers WHERE id = $1', [id])).rows[0];
  };
  const nearbyIds = async () =>
    (await http().get('/drivers/nearby').query(BERLIN).set(admin).expect(200)).body.items.map(
      (i: { driver: { id: string } }) => i.driver.id,
    );
  const ignored = async () => {
    const text = (await http().get('/metrics').expect(200)).text;
    const count = (reason: string) =>
      Number(new RegExp(`^location_points_ignored_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    return { accuracy: count('accuracy'), speed: count('speed'), older: count('older') };
  };

  async function availableAt(point: { lat: number; lon: number }, recordedAt: string): Promise<CreatedDriver> {
    const driver = await newDriver(t);
    await ping(driver, { ...point, recordedAt });
    await http().patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
    return driver;
  }

  /** The scenario, on whichever path the service takes. */
  async function inaccurateAndJumpingPointsAreOnlyHeartbeats() {
    const firstAt = secondsAgo(120);
    const driver = await availableAt(BERLIN, firstAt);
    const before = await ignored();
    const seenBefore = (await stored(driver.id)).last_seen_at;

    expect((await ping(driver, { ...NEARBY, recordedAt: secondsAgo(110), accuracy: 500 })).body).toEqual({
      status: 'AVAILABLE',
      online: true,
    });
    expect((await ping(driver, { ...JUMP, recordedAt: secondsAgo(100), accuracy: 5 })).body).toEqual({ status: 'AVAILABLE', online: true });

    const afterFiltered = await stored(driver.id);
    expect([afterFiltered.last_lat, afterFiltered.last_lon]).toEqual([BERLIN.lat, BERLIN.lon]);
    expect(afterFiltered.last_location_at.toISOString()).toBe(firstAt);
    // Still heartbeats: the driver was heard from, is online and can be chosen.
    expect(afterFiltered.last_seen_at.getTime()).toBeGreaterThan(seenBefore.getTime());
    expect(await nearbyIds()).toEqual([driver.id]);
    expect((await http().get(`/drivers/${driver.id}`).set(admin).expect(200)).body.lastLocation).toMatchObject(BERLIN);
    expect(await ignored()).toEqual({ ...before, accuracy: before.accuracy + 1, speed: before.speed + 1 });

    // 1 km in 80 s from the last accepted point (45 km/h): it moves the driver.
    await ping(driver, { ...NEARBY, recordedAt: secondsAgo(40), accuracy: 10 });
    expect(await stored(driver.id)).toMatchObject({ last_lat: NEARBY.lat, last_lon: NEARBY.lon });
    expect(await ignored()).toEqual({ ...before, accuracy: before.accuracy + 1, speed: before.speed + 1 });
  }

  it('with Redis: a 500 m-accuracy point and a 50 km jump in 10 s are ignored, counted by reason; the driver stays online', async () => {
    await inaccurateAndJumpingPointsAreOnlyHeartbeats();
  });

  it('with Redis stopped: the same, decided on the PostgreSQL path', async () => {
    await env.redisServer.stop();
    try {
      await inaccurateAndJumpingPointsAreOnlyHeartbeats();
    } finally {
      await env.redisServer.start();
    }
  });
});
