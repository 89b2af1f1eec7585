import { beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { availableDriver, newDriver } from './support/factories.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { bearer, VENDURE_SECRET } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };
const HAMBURG = { lat: 53.55, lon: 9.99 };

/**
 * The domain series of /metrics: assignments by outcome and their latency,
 * and drivers online and choosable, read from Redis when scraped.
 */
describe('domain metrics', () => {
  const env = useServiceEnvironment('domain_metrics');
  beforeEach(() => env.reset());

  const metrics = async () => (await request(env.t.server).get('/metrics').expect(200)).text;
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  function ready(sellerOrderId: string, at: { lat: number; lon: number }) {
    const body = JSON.stringify({ sellerOrderId, pickupLat: at.lat, pickupLon: at.lon });
    return request(env.t.server)
      .post('/events/seller-order-ready')
      .set({ 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, body) })
      .send(body)
      .expect(200);
  }

  it('counts drivers online and choosable, and follows them as they change', async () => {
    await availableDriver(env.t, BERLIN);
    const second = await availableDriver(env.t, BERLIN);
    const offline = await newDriver(env.t);
    await request(env.t.server).patch(`/drivers/${offline.id}/location`).set(bearer(offline.token)).send(BERLIN).expect(200);
    let text = await metrics();
    expect([value(text, 'drivers{state="online"}'), value(text, 'drivers{state="choosable"}')]).toEqual([3, 2]);

    await request(env.t.server).patch(`/drivers/${second.id}/status`).set(bearer(second.token)).send({ status: 'OFFLINE' }).expect(200);
    text = await metrics();
    expect([value(text, 'drivers{state="online"}'), value(text, 'drivers{state="choosable"}')]).toEqual([3, 1]);
  });

  it('counts assignments by outcome and times them', async () => {
    await availableDriver(env.t, BERLIN);
    const before = await metrics();
    const count = (text: string, outcome: string) => value(text, `assignments_total{outcome="${outcome}"}`) ?? 0;
    const timed = (text: string, outcome: string) => value(text, `assignment_duration_seconds_count{outcome="${outcome}"}`) ?? 0;

    expect((await ready('SO-MET-1', BERLIN)).body.assigned).toBe(true);
    expect((await ready('SO-MET-2', HAMBURG)).body.reason).toBe('NO_DRIVER_AVAILABLE');
    // A repeat answers the same delivery: an assignment answer too.
    expect((await ready('SO-MET-1', BERLIN)).body.assigned).toBe(true);

    const after = await metrics();
    expect([count(after, 'assigned') - count(before, 'assigned'), count(after, 'no_driver') - count(before, 'no_driver')]).toEqual([2, 1]);
    expect([timed(after, 'assigned') - timed(before, 'assigned'), timed(after, 'no_driver') - timed(before, 'no_driver')]).toEqual([2, 1]);
    expect(value(after, 'drivers{state="choosable"}')).toBe(0);
    // One claim of a candidate, won; the repeat found its delivery without claiming anyone.
    const claims = (text: string, outcome: string) => value(text, `assignment_claims_total{outcome="${outcome}"}`) ?? 0;
    expect([
      claims(after, 'assigned') - claims(before, 'assigned'),
      claims(after, 'driver-taken') - claims(before, 'driver-taken'),
    ]).toEqual([1, 0]);
  });
});
