// @ts-check
/**
 * The request streams the load generator sends (autocannon `requests` with
 * a `setupRequest` per request). A counter shared by every connection
 * rotates through drivers and order ids, so 100 connections spread over
 * the whole fleet.
 */
import { CITIES, driveOn, newCar } from './city.mjs';
import { webhookSigner } from './credentials.mjs';

/**
 * @typedef {object} LoadSpec
 * @property {'location' | 'locations' | 'nearby' | 'order'} kind
 * @property {string} url
 * @property {number} connections
 * @property {number} [seconds] duration (ignored when `amount` is set)
 * @property {number} [amount] stop after this many requests
 * @property {string} city a name in CITIES
 * @property {Array<{ id: string, token: string, lat?: number, lon?: number }>} [drivers] location, locations: whose tokens to rotate through
 * @property {boolean} [moving] location: each driver drives on from where it is (its lat and lon) instead of jumping anywhere
 * @property {number} [batchPoints] locations: points per batch
 * @property {string} [adminKey] nearby
 * @property {string} [vendureSecret] order
 * @property {string} [orderPrefix] order: sellerOrderId prefix, unique per run
 */

/**
 * @typedef {{ method?: string, path?: string, headers: Record<string, string>, body?: string }} RawRequest
 * @typedef {{ setupRequest: (req: RawRequest) => RawRequest, onResponse?: (status: number, body: string) => void }} RequestStep
 */

/** What a stream counted from the answers (written into the load generator's result). */
export const answerCounts = { noDriver: 0 };

/**
 * Single pings. Each goes somewhere random in the city, or, with `moving`,
 * where the driver has got to since its last ping: 40 % of the drivers are
 * parked (a few metres of GPS noise), the rest drive at 5-14 m/s on a
 * heading, turning round at the city's edge.
 * @param {LoadSpec} spec @returns {RequestStep}
 */
function locationRequests(spec) {
  const drivers = spec.drivers ?? [];
  const city = CITIES[spec.city];
  const cars = drivers.map((d) => ({ ...newCar({ lat: d.lat ?? city.centre.lat, lon: d.lon ?? city.centre.lon }), at: 0 }));
  /** Where driver `i` has got to since its last ping (4 s for its first). */
  const drive = (/** @type {number} */ i) => {
    const now = Date.now();
    const seconds = cars[i].at === 0 ? 4 : (now - cars[i].at) / 1000;
    cars[i].at = now;
    return driveOn(city, cars[i], seconds);
  };
  let next = 0;
  return {
    setupRequest(req) {
      const i = next++ % drivers.length;
      const driver = drivers[i];
      req.method = 'PATCH';
      req.path = `/drivers/${driver.id}/location`;
      req.headers = { ...req.headers, 'content-type': 'application/json', authorization: `Bearer ${driver.token}` };
      req.body = JSON.stringify(spec.moving ? drive(i) : city.randomPoint());
      return req;
    },
  };
}

/**
 * Batches of `batchPoints` points, as a phone flushes what it buffered: each
 * batch newer than the last (a shared clock steps a millisecond a point,
 * from an hour ago), so every point is taken.
 * @param {LoadSpec} spec @returns {RequestStep}
 */
function locationBatchRequests(spec) {
  const drivers = spec.drivers ?? [];
  const city = CITIES[spec.city];
  const size = spec.batchPoints ?? 100;
  let next = 0;
  let clock = Date.now() - 3_600_000;
  return {
    setupRequest(req) {
      const driver = drivers[next++ % drivers.length];
      const points = Array.from({ length: size }, () => ({ ...city.randomPoint(), recordedAt: new Date((clock += 1)).toISOString() }));
      req.method = 'POST';
      req.path = `/drivers/${driver.id}/locations`;
      req.headers = { ...req.headers, 'content-type': 'application/json', authorization: `Bearer ${driver.token}` };
      req.body = JSON.stringify({ points });
      return req;
    },
  };
}

/** @param {LoadSpec} spec @returns {RequestStep} */
function nearbyRequests(spec) {
  const city = CITIES[spec.city];
  return {
    setupRequest(req) {
      const { lat, lon } = city.randomPoint();
      req.method = 'GET';
      req.path = `/drivers/nearby?lat=${lat}&lon=${lon}`;
      req.headers = { ...req.headers, authorization: `Bearer ${spec.adminKey}` };
      return req;
    },
  };
}

/** @param {LoadSpec} spec @returns {RequestStep} */
function orderRequests(spec) {
  const city = CITIES[spec.city];
  const signer = webhookSigner(spec.vendureSecret ?? '');
  let next = 0;
  return {
    setupRequest(req) {
      const pickup = city.randomPoint();
      const dropoff = city.near(pickup, 3_000);
      const body = JSON.stringify({
        sellerOrderId: `${spec.orderPrefix}-${next++}`,
        pickupLat: pickup.lat,
        pickupLon: pickup.lon,
        dropoffLat: dropoff.lat,
        dropoffLon: dropoff.lon,
      });
      req.method = 'POST';
      req.path = '/events/seller-order-ready';
      req.headers = { ...req.headers, 'content-type': 'application/json', ...signer.headers(body) };
      req.body = body;
      return req;
    },
    onResponse(status, body) {
      if (status === 200 && body.includes('"assigned":false')) answerCounts.noDriver += 1;
    },
  };
}

/** @param {LoadSpec} spec @returns {RequestStep[]} */
export function buildRequests(spec) {
  const streams = { location: locationRequests, locations: locationBatchRequests, nearby: nearbyRequests, order: orderRequests };
  return [streams[spec.kind](spec)];
}
