import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import pg from 'pg';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import { LocationWriter } from '../src/availability/location-writer.js';
import { createAppLogger } from '../src/common/logger.js';
import { createTestDatabase } from './support/databases.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { admin, startTestApp, TestApp } from './support/test-app.js';

const KNOT = 1852 / 3600;

/**
 * `GET|POST /osmand`: a stock Traccar Client (OsmAnd protocol), with the
 * driver's token as its device identifier, is a working location app. The
 * requests are shaped as the apps send them; the log, at debug level, is
 * captured and searched for the tokens.
 */
describe('OsmAnd / Traccar Client protocol', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  const stream = new PassThrough();
  let log = '';
  stream.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const tokensSent: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('osmand');
    t = await startTestApp({ DATABASE_URL: database.url, LOG_LEVEL: 'debug' }, { logger: createAppLogger('debug', stream) });
  });
  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  const http = () => request(t.server);
  const secondsAgo = (s: number) => Math.floor(Date.now() / 1000) - s;
  const lastLocation = async (driver: CreatedDriver) => {
    await t.app.get(LocationWriter).flush();
    return (await http().get(`/drivers/${driver.id}`).set(admin).expect(200)).body.lastLocation;
  };
  async function driver(): Promise<CreatedDriver> {
    const created = await newDriver(t);
    tokensSent.push(created.token);
    return created;
  }

  it('takes the query form, as Traccar Client sends it: moves the driver, speed converted from knots', async () => {
    const d = await driver();
    const at = secondsAgo(30);
    const query = `id=${encodeURIComponent(d.token)}&timestamp=${at}&lat=52.52&lon=13.405&speed=10.0&bearing=90.0&altitude=34.0&accuracy=5.0&batt=87.0`;
    const { body } = await http().get(`/osmand?${query}`).expect(200);
    expect(body).toEqual({ status: 'OFFLINE', online: true });
    expect(await lastLocation(d)).toEqual({
      lat: 52.52,
      lon: 13.405,
      recordedAt: new Date(at * 1000).toISOString(),
      accuracy: 5,
      heading: 90,
      speed: 10 * KNOT,
    });

    // POST with the fields in the query (Traccar Client's default), and as a form body.
    await http()
      .post(`/osmand?id=${encodeURIComponent(d.token)}&timestamp=${(at + 10) * 1000}&lat=52.5201&lon=13.405&speed=2`)
      .expect(200);
    expect(await lastLocation(d)).toMatchObject({ lat: 52.5201, speed: 2 * KNOT, recordedAt: new Date((at + 10) * 1000).toISOString() });
    await http()
      .post('/osmand')
      .type('form')
      .send({ deviceid: d.token, lat: '52.5202', lon: '13.405', timestamp: new Date((at + 20) * 1000).toISOString(), bearing: '180' })
      .expect(200);
    expect(await lastLocation(d)).toMatchObject({ lat: 52.5202, heading: 180, speed: null });
  });

  it('takes the JSON body of Traccar Client 9+, speed in m/s, one point or a batch', async () => {
    const d = await driver();
    const point = (secondsBack: number, lat: number, speed: number) => ({
      timestamp: new Date(secondsAgo(secondsBack) * 1000).toISOString(),
      coords: { latitude: lat, longitude: 13.405, accuracy: 4.5, speed, heading: speed > 0 ? 45 : -1, altitude: 40 },
      is_moving: true,
      odometer: 1234.5,
      event: 'motionchange',
      battery: { level: 0.87, is_charging: false },
      activity: { type: 'in_vehicle' },
      extras: {},
    });
    const one = await http()
      .post('/osmand')
      .send({ location: point(60, 52.52, 12.5), device_id: d.token })
      .expect(200);
    expect(one.body).toEqual({ status: 'OFFLINE', online: true });
    expect(await lastLocation(d)).toMatchObject({ lat: 52.52, speed: 12.5, heading: 45, accuracy: 4.5 });

    const batch = await http()
      .post('/osmand')
      .send({ location: [point(30, 52.5203, 0), point(50, 52.5201, 3), point(40, 52.5202, 3)], device_id: d.token })
      .expect(200);
    expect(batch.body).toEqual({ accepted: 3, ignored: 0, status: 'OFFLINE', online: true });
    // -1 is how the apps say "unknown".
    expect(await lastLocation(d)).toMatchObject({ lat: 52.5203, speed: 0, heading: null });
  });

  it('answers 401 for an unknown or missing token and 400 for bad fields, naming them; nothing moves', async () => {
    const d = await driver();
    const unknown = 'drv_' + 'A'.repeat(43);
    tokensSent.push(unknown);
    expect((await http().get(`/osmand?id=${unknown}&lat=52.52&lon=13.405`).expect(401)).body.code).toBe('UNAUTHENTICATED');
    await http().get('/osmand?lat=52.52&lon=13.405').expect(401);
    await http()
      .post('/osmand')
      .send({ location: { coords: { latitude: 1, longitude: 1 } } })
      .expect(401);
    const bad = await http()
      .get(`/osmand?id=${encodeURIComponent(d.token)}&lat=91&lon=east&timestamp=yesterday`)
      .expect(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(bad.body.message).toEqual(
      expect.arrayContaining([
        'lat must be from -90 to 90',
        'lon must be a number',
        'timestamp must be unix seconds or milliseconds, or a date-time',
      ]),
    );
    const badJson = await http()
      .post('/osmand')
      .send({ device_id: d.token, location: { timestamp: 'now', coords: { latitude: 52.5 } } })
      .expect(400);
    expect(badJson.body.message).toEqual(expect.arrayContaining(['location.coords.longitude is required']));
    expect(await lastLocation(d)).toBeNull();
  });

  it('keeps the form parser to these routes: a form elsewhere is still 415', async () => {
    const d = await driver();
    const answer = await http()
      .patch(`/drivers/${d.id}/location`)
      .set('authorization', `Bearer ${d.token}`)
      .type('form')
      .send({ lat: '1', lon: '1' });
    expect(answer.status).toBe(415);
  });

  it('answers hostile requests with a 4xx that changes nothing, and 200 only for the right token (property)', async () => {
    const d = await driver();
    const unknown = 'drv_' + 'B'.repeat(43);
    tokensSent.push(unknown);
    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    // Flushed first: a point an earlier 200 buffered must not land in the middle of a comparison.
    const snapshot = async () => {
      await t.app.get(LocationWriter).flush();
      return (await sql.query(`SELECT md5(string_agg(d::text, '|' ORDER BY id)) AS h FROM drivers d`)).rows[0].h as string;
    };
    const junk = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('', ' ', 'NaN', 'Infinity', '1e400', '0x10', '-0', '91', '-181', '1,5', 'null', '[]', '{}', '\u0000'),
    );
    const numberText = (min: number, max: number) => fc.oneof(fc.double({ min, max, noNaN: true }).map(String), junk);
    const token = fc.constantFrom(d.token, unknown, '', undefined);
    const fields = fc.record(
      {
        id: token,
        lat: numberText(-90, 90),
        lon: numberText(-180, 180),
        speed: numberText(0, 200),
        bearing: numberText(0, 360),
        accuracy: numberText(0, 1000),
        timestamp: fc.oneof(
          fc.integer({ min: 0, max: 2 ** 45 }).map(String),
          fc.date({ noInvalidDate: true }).map((x) => x.toISOString()),
          junk,
        ),
        junk: junk,
      },
      { requiredKeys: [] },
    );
    const asJson = fc.record({
      device_id: fc.oneof(token, fc.integer()),
      location: fc.oneof(
        fc.record({
          timestamp: fc.oneof(
            fc.date({ noInvalidDate: true }).map((x) => x.toISOString()),
            junk,
          ),
          coords: fc.dictionary(fc.constantFrom('latitude', 'longitude', 'speed', 'heading', 'accuracy'), fc.oneof(fc.double(), junk)),
        }),
        fc.array(fc.anything(), { maxLength: 3 }),
        fc.anything(),
      ),
    });
    const shape = fc.constantFrom('get', 'post-query', 'post-form', 'post-json');
    await fc
      .assert(
        fc.asyncProperty(shape, fields, asJson, async (how, query, json) => {
          const defined = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)) as Record<string, string>;
          const before = await snapshot();
          const answer =
            how === 'get'
              ? await http().get('/osmand').query(defined)
              : how === 'post-query'
                ? await http().post('/osmand').query(defined)
                : how === 'post-form'
                  ? await http().post('/osmand').type('form').send(defined)
                  : await http().post('/osmand').send(json);
          expect([200, 400, 401, 413, 415, 429]).toContain(answer.status);
          const sentToken = how === 'post-json' ? json.device_id : defined.id;
          if (answer.status === 200) expect(sentToken).toBe(d.token);
          else expect(await snapshot()).toBe(before);
        }),
        { numRuns: 300 },
      )
      .finally(() => sql.end());
  });

  it('writes no token to the log, whatever the answer', () => {
    expect(log).toContain('GET /osmand 200');
    expect(log).toContain('GET /osmand 401');
    expect(tokensSent.filter((token) => log.includes(token) || log.includes(encodeURIComponent(token)))).toEqual([]);
  });
});
