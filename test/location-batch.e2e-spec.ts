import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { LocationWriter } from '../src/availability/location-writer.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { ServiceEnvironment, useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET } from './support/test-app.js';

/**
 * `POST /drivers/:id/locations` (contract "Location, v2"): a batch of 1–100
 * points, as a phone sends what it buffered offline.
 */
describe('POST /drivers/:id/locations', () => {
  const env = useServiceEnvironment('location_batch');
  let t: ServiceEnvironment['t'];
  let sql: ServiceEnvironment['sql'];
  let redis: ServiceEnvironment['redis'];
  beforeAll(() => {
    ({ t, sql, redis } = env);
  });
  beforeEach(() => env.reset());

  const http = () => request(t.server);
  const secondsAgo = (s: number) => new Date(Date.now() - (Date.now() % 1000) - s * 1000).toISOString();
  const send = (driver: CreatedDriver, points: unknown) =>
    http().post(`/drivers/${driver.id}/locations`).set(bearer(driver.token)).send({ points });
  const stored = async (id: string) => {
    await t.app.get(LocationWriter).flush();
    return (await sql.query('SELECT last_lat, last_lon, last_location_at, last_accuracy, last_seen_at FROM drivers WHERE id = $1', [id]))
      .rows[0];
  };
  /** North of Berlin by `metres`. */
  const north = (metres: number) => ({ lat: 52.52 + metres / 111_195, lon: 13.405 });

  it('sorts points sent out of order; the newest moves the driver; older and filtered ones are counted as ignored', async () => {
    const driver = await newDriver(t);
    await http()
      .patch(`/drivers/${driver.id}/location`)
      .set(bearer(driver.token))
      .send({ ...north(0), recordedAt: secondsAgo(100) })
      .expect(200);
    const points = [
      { ...north(300), recordedAt: secondsAgo(40), accuracy: 6 },
      { ...north(100), recordedAt: secondsAgo(80), accuracy: 5 },
      // Older than the stored point.
      { ...north(-50), recordedAt: secondsAgo(200) },
      // 500 m accuracy.
      { ...north(150), recordedAt: secondsAgo(70), accuracy: 500 },
      // 50 km in 10 s from the point before it.
      { ...north(50_000), recordedAt: secondsAgo(60) },
      { ...north(200), recordedAt: secondsAgo(50), accuracy: 7 },
    ];
    const { body } = await send(driver, points).expect(200);
    expect(body).toEqual({ accepted: 3, ignored: 3, status: 'OFFLINE', online: true });

    const newest = north(300);
    expect(await stored(driver.id)).toMatchObject({ last_lat: newest.lat, last_lon: newest.lon, last_accuracy: 6 });
    expect((await stored(driver.id)).last_location_at.toISOString()).toBe(points[0].recordedAt);
    expect(await redis.hget('drivers:location', driver.id)).toMatch(new RegExp(`^13\\.405 ${newest.lat} `));
    // Answered, so shown: GET reads its own writes.
    expect((await http().get(`/drivers/${driver.id}`).set(admin).expect(200)).body.lastLocation).toMatchObject({ ...newest, accuracy: 6 });
  });

  it('counts as one location update for the rate limit, and is replay-safe when signed by the driver app backend', async () => {
    const driver = await newDriver(t);
    const points = Array.from({ length: 100 }, (_, i) => ({ ...north(i * 5), recordedAt: secondsAgo(200 - i) }));
    const body = JSON.stringify({ points });
    const headers = { 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, body, { id: 'msg_batch_1' }) };
    const first = await http().post(`/drivers/${driver.id}/locations`).set(headers).send(body).expect(200);
    expect(first.body).toMatchObject({ accepted: 100, ignored: 0 });
    const again = await http().post(`/drivers/${driver.id}/locations`).set(headers).send(body).expect(200);
    expect(again.body).toEqual(first.body);
    const counters = await redis.keys(`ratelimit:location:${driver.id}:*`);
    expect(await Promise.all(counters.map((key) => redis.get(key)))).toEqual(['1']);
  });

  it('refuses 0 or 101 points, and a batch with one bad point, naming it: 400, nothing stored', async () => {
    const driver = await newDriver(t);
    const good = (i: number) => ({ ...north(i), recordedAt: secondsAgo(100 - i) });
    const refusals = [
      { points: [], message: 'points must contain at least 1 elements' },
      { points: Array.from({ length: 101 }, (_, i) => good(i)), message: 'points must contain no more than 100 elements' },
      { points: [good(1), { ...good(2), lat: 91 }, good(3)], message: 'points.1.lat must not be greater than 90' },
      { points: [good(1), { lat: 52.5, lon: 13.4 }], message: 'points.1.recordedAt should not be null or undefined' },
      { points: [good(1), { ...good(2), status: 'AVAILABLE' }], message: 'property points.1.status should not exist' },
      { points: 'many', message: 'points must be an array' },
      // class-transformer would make the inner array an array of points, which nested validation alone lets by.
      { points: [[]], message: 'each value in points must be an object' },
      { points: [good(1), null], message: 'each value in points must be an object' },
    ];
    for (const { points, message } of refusals) {
      const { body } = await send(driver, points).expect(400);
      expect({ code: body.code, message: body.message }).toEqual({ code: 'VALIDATION_FAILED', message: expect.arrayContaining([message]) });
    }
    expect(await stored(driver.id)).toMatchObject({ last_lat: null, last_seen_at: null });
    expect(await redis.hexists('drivers:location', driver.id)).toBe(0);
  });

  it('takes concurrent batches of many drivers, which share Redis calls, each with its own answer', async () => {
    const drivers = await Promise.all(Array.from({ length: 20 }, () => newDriver(t)));
    const answers = await Promise.all(
      drivers.map((driver, d) =>
        send(
          driver,
          Array.from({ length: 100 }, (_, i) => ({ ...north(d * 1000 + i * 5), recordedAt: secondsAgo(200 - i) })),
        ),
      ),
    );
    expect(answers.map((a) => [a.status, a.body.accepted])).toEqual(drivers.map(() => [200, 100]));
    const newest = await redis.hmget('drivers:location', ...drivers.map((d) => d.id));
    expect(newest.map((v) => Number(v!.split(' ')[1]))).toEqual(drivers.map((_, d) => north(d * 1000 + 99 * 5).lat));
  });

  it('answers 403 on another driver and 404 for an unknown one', async () => {
    const [a, b] = [await newDriver(t), await newDriver(t)];
    const points = [{ ...north(1), recordedAt: secondsAgo(5) }];
    await http().post(`/drivers/${b.id}/locations`).set(bearer(a.token)).send({ points }).expect(403);
    await http().post('/drivers/00000000-0000-4000-8000-00000000abcd/locations').set(admin).send({ points }).expect(404);
  });
});
