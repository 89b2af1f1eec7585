import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { AvailabilityReconciler } from '../src/fleet/availability-reconciler.js';
import { AvailabilityRepository } from '../src/availability/availability.repository.js';
import { AvailabilityService } from '../src/availability/availability.service.js';
import { AvailabilityStore } from '../src/availability/availability.store.js';
import { MAX_GEO_LAT } from '../src/fleet/state-mirror.scripts.js';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { PrivateRedis } from './support/private-redis.js';
import { PrivateRedisCluster } from './support/private-redis-cluster.js';
import { startTestApp, TestApp } from './support/test-app.js';

/** ASSIGNMENT_MAX_RADIUS_KM's default, which the app below runs with. */
const MAX_RADIUS_KM = 100;
/** Distances closer than this are a near-tie: Redis ranks geohash-quantized positions (~0.5 m). */
const NEAR_TIE_METERS = 2;

type Status = 'AVAILABLE' | 'BUSY' | 'OFFLINE';
type Seen = 'fresh' | 'stale' | 'never';
interface Point {
  lat: number;
  lon: number;
}
interface GeneratedDriver {
  status: Status;
  isActive: boolean;
  seen: Seen;
  location: Point | null;
  /** Where PostgreSQL's index holds the driver, relative to its location: up to ~200 m off (the lag allowed). */
  lag: { north: number; east: number } | null;
}
interface Query extends Point {
  k: number;
  radiusKm: number | null;
}

/** The test's own great-circle distance (haversine, atan2 form), mean earth radius 6371008.8 m. */
function greatCircleMeters(a: Point, b: Point): number {
  const rad = (degrees: number) => (degrees * Math.PI) / 180;
  const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lon - a.lon) / 2) ** 2;
  return 6_371_008.8 * 2 * Math.atan2(Math.sqrt(h), Math.sqrt(1 - h));
}

const choosable = (d: GeneratedDriver) => d.isActive && d.status === 'AVAILABLE' && d.seen === 'fresh' && d.location !== null;

// A 20 km x 20 km city around 52.5 N 13.4 E, and now and then somewhere up to ~200 km away (beyond the 100 km cap).
const cityPoint = fc.record({
  lat: fc.double({ min: 52.41, max: 52.59, noNaN: true }),
  lon: fc.double({ min: 13.252, max: 13.548, noNaN: true }),
});
const farPoint = fc.record({
  lat: fc.double({ min: 50.7, max: 54.3, noNaN: true }),
  lon: fc.double({ min: 10.4, max: 16.4, noNaN: true }),
});
const wrapLon = (lon: number) => (lon > 180 ? lon - 360 : lon);
// Fiji, across the antimeridian: longitudes from 179.75 E to 179.75 W.
const antimeridianPoint = fc
  .record({ lat: fc.double({ min: -17.3, max: -16.7, noNaN: true }), east: fc.double({ min: 179.75, max: 180.25, noNaN: true }) })
  .map(({ lat, east }) => ({ lat, lon: wrapLon(east) }));
// The Arctic on both sides of Redis' indexable limit (85.05 N), where a search must leave Redis for PostgreSQL.
// Longitudes around 0 E, kept off magnitudes below a nanodegree: the fleet is inserted straight into
// PostgreSQL, where earthdistance underflows on subnormal doubles (5e-324); the service takes them as 0.
const polarPoint = fc.record({
  lat: fc.double({ min: 84.8, max: 85.3, noNaN: true }),
  lon: fc.double({ min: -2, max: 2, noNaN: true }).map((lon) => (Math.abs(lon) < 1e-9 ? 0 : lon)),
});
// A few hundred metres around a depot: drivers closer together than the lag PostgreSQL's index may have,
// where a search's window must widen on that path.
const depotPoint = fc.record({
  lat: fc.double({ min: 52.497, max: 52.503, noNaN: true }),
  lon: fc.double({ min: 13.395, max: 13.405, noNaN: true }),
});
/** Where a run's fleet and query are: the city most of the time. */
const REGIONS = {
  depot: depotPoint,
  city: fc.oneof({ weight: 9, arbitrary: cityPoint }, { weight: 1, arbitrary: farPoint }),
  antimeridian: antimeridianPoint,
  polar: polarPoint,
};
type Region = keyof typeof REGIONS;

const driverArb = (point: fc.Arbitrary<Point>): fc.Arbitrary<GeneratedDriver> =>
  fc.record({
    status: fc.constantFrom<Status>('AVAILABLE', 'AVAILABLE', 'AVAILABLE', 'OFFLINE', 'BUSY'),
    isActive: fc.constantFrom(true, true, true, true, false),
    seen: fc.constantFrom<Seen>('fresh', 'fresh', 'fresh', 'fresh', 'stale', 'never'),
    location: fc.option(point, { freq: 8 }),
    // Whole metres: a lag too small to change a coordinate's double would not be one.
    lag: fc.option(fc.record({ north: fc.integer({ min: -140, max: 140 }), east: fc.integer({ min: -140, max: 140 }) }), { freq: 2 }),
  });

const METERS_PER_DEGREE = (6_371_008.8 * Math.PI) / 180;
/** The driver's indexed position: its location moved by its lag (within 198 m, inside the 200 m the trigger allows). */
function indexedPosition(driver: GeneratedDriver): Point | null {
  if (!driver.location) return null;
  if (!driver.lag) return driver.location;
  const lat = driver.location.lat + driver.lag.north / METERS_PER_DEGREE;
  const lon = driver.location.lon + driver.lag.east / (METERS_PER_DEGREE * Math.cos((driver.location.lat * Math.PI) / 180));
  return { lat, lon: lon > 180 ? lon - 360 : lon < -180 ? lon + 360 : lon };
}
const queryArb = (point: fc.Arbitrary<Point>): fc.Arbitrary<Query> =>
  fc
    .record({
      at: point,
      k: fc.integer({ min: 1, max: 5 }),
      // Mostly the default radius (the 100 km cap); sometimes a smaller one, which stops Redis' widening radii early.
      radiusKm: fc.oneof(
        { weight: 7, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: fc.double({ min: 1, max: 30, noNaN: true }) },
      ),
    })
    .map(({ at, k, radiusKm }) => ({ ...at, k, radiusKm }));
const caseArb: fc.Arbitrary<[Region, GeneratedDriver[], Query]> = fc
  .constantFrom<Region>('city', 'city', 'city', 'city', 'depot', 'depot', 'antimeridian', 'antimeridian', 'polar', 'polar')
  .chain((region) =>
    fc.tuple(fc.constant(region), fc.array(driverArb(REGIONS[region]), { maxLength: 40, size: 'max' }), queryArb(REGIONS[region])),
  );

/** Where the test's Redis runs: the service's environment for it, and a client that sees the service's keys. */
interface RedisBackend {
  env: Record<string, string>;
  client: Redis | Cluster;
  flushAll(): Promise<unknown>;
  stop(): Promise<void>;
}

const BACKENDS: Array<[string, () => Promise<RedisBackend>]> = [
  [
    'a single Redis',
    async () => {
      const server = new PrivateRedis();
      await server.start();
      const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
      return {
        env: { REDIS_URL: server.url },
        client,
        flushAll: () => client.flushall(),
        stop: async () => (client.disconnect(), await server.stop()),
      };
    },
  ],
  [
    'a Redis Cluster of 3 masters',
    async () => {
      const cluster = new PrivateRedisCluster(3);
      await cluster.start();
      const client = cluster.client();
      return {
        env: { REDIS_CLUSTER_NODES: cluster.nodesVariable },
        client,
        flushAll: () => cluster.flushAll(client),
        stop: async () => (client.disconnect(), await cluster.stop()),
      };
    },
  ],
];

/**
 * The nearest-driver search answers the same from Redis (reconciled) and from
 * PostgreSQL (Redis not reconciled), and both equal a brute-force great-circle
 * ranking of every choosable driver of a random fleet; on a single Redis and
 * on a Redis Cluster.
 */
describe.each(BACKENDS)('nearest search on %s: Redis path = PostgreSQL path = brute force (property)', (_name, startBackend) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let backend: RedisBackend;
  let redis: Redis | Cluster;
  let sql: pg.Client;
  let t: TestApp;
  let sut: AvailabilityService;
  let reconciler: AvailabilityReconciler;

  beforeAll(async () => {
    database = await createTestDatabase('nearest_property');
    backend = await startBackend();
    redis = backend.client;
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    t = await startTestApp({ DATABASE_URL: database.url, ...backend.env, RECONCILE_INTERVAL_SECONDS: '3600' });
    sut = t.app.get(AvailabilityService);
    reconciler = t.app.get(AvailabilityReconciler);
    // The start-up reconciliation; after it only this test reconciles (the interval is an hour).
    await eventually(async () => (await redis.exists('drivers:synced')) === 1, { what: 'first reconciliation' });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await t?.close();
    await backend?.stop();
    await sql?.end();
    await database?.drop();
  });

  /** Replaces the whole fleet; returns the ids in the order of `fleet`. */
  async function insertFleet(fleet: GeneratedDriver[]): Promise<string[]> {
    await sql.query('DELETE FROM drivers');
    if (fleet.length === 0) return [];
    const { rows } = await sql.query<{ id: string; n: string }>(
      `INSERT INTO drivers (name, phone, token_hash, status, is_active, last_lat, last_lon, indexed_lat, indexed_lon,
                            last_location_at, last_seen_at)
       SELECT 'Driver ' || f.n, '+49151' || lpad(f.n::text, 7, '0'), md5(random()::text) || md5(random()::text),
              f.status, f.active, f.lat, f.lon, f.indexed_lat, f.indexed_lon,
              CASE WHEN f.lat IS NULL THEN NULL ELSE now() - interval '1 minute' END,
              CASE f.seen WHEN 'fresh' THEN now() WHEN 'stale' THEN now() - interval '10 minutes' END
       FROM unnest($1::text[], $2::boolean[], $3::float8[], $4::float8[], $5::text[], $6::float8[], $7::float8[])
            WITH ORDINALITY AS f(status, active, lat, lon, seen, indexed_lat, indexed_lon, n)
       RETURNING id, split_part(name, ' ', 2) AS n`,
      [
        fleet.map((d) => d.status),
        fleet.map((d) => d.isActive),
        fleet.map((d) => d.location?.lat ?? null),
        fleet.map((d) => d.location?.lon ?? null),
        fleet.map((d) => d.seen),
        fleet.map((d) => indexedPosition(d)?.lat ?? null),
        fleet.map((d) => indexedPosition(d)?.lon ?? null),
      ],
    );
    // The trigger kept every lag given (all within its 200 m): the index is as far behind as generated.
    const kept = await sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM drivers WHERE indexed_lat IS DISTINCT FROM last_lat OR indexed_lon IS DISTINCT FROM last_lon`,
    );
    expect(Number(kept.rows[0].n)).toBe(fleet.filter((d) => d.location && d.lag && (d.lag.north !== 0 || d.lag.east !== 0)).length);
    const ids: string[] = [];
    for (const row of rows) ids[Number(row.n) - 1] = row.id;
    return ids;
  }

  /** A full reconciliation; reconcile() never hands back a run that started before the call. */
  const reconcileNow = () => reconciler.reconcile();

  it('gives the same nearest drivers, in the same order, on all three', async () => {
    const store = t.app.get(AvailabilityStore);
    const repository = t.app.get(AvailabilityRepository);
    const redisSearch = jest.spyOn(store, 'searchNearest');
    const pgSearch = jest.spyOn(repository, 'findNearestChoosable');
    const circleSearch = jest.spyOn(repository, 'findChoosableIndexedWithin');
    const seen = {
      runs: 0,
      emptyFleets: 0,
      nonEmptyAnswers: 0,
      fleetSizes: new Set<number>(),
      ks: new Set<number>(),
      regions: new Set<Region>(),
      polarOnRedis: 0,
      polarOnPostgres: 0,
      circleOnPostgres: 0,
    };

    const property = fc.asyncProperty(caseArb, async ([region, fleet, query]) => {
      const radiusKm = Math.min(query.radiusKm ?? MAX_RADIUS_KM, MAX_RADIUS_KM);
      const eligible = fleet
        .map((driver, index) => ({ driver, index }))
        .filter(({ driver }) => choosable(driver))
        .map(({ driver, index }) => ({ index, meters: greatCircleMeters(query, driver.location!) }));
      const inRange = eligible.filter((hit) => hit.meters <= radiusKm * 1000).sort((a, b) => a.meters - b.meters);

      // Skip cases whose answer is not well defined to the metre: a near-tie inside the top k or at the cut-off
      // (k vs k+1), or a choosable driver within 0.1 % + 2 m of the radius (Redis measures on a 0.03 % larger sphere).
      for (let i = 0; i + 1 < Math.min(query.k + 1, inRange.length); i += 1) {
        fc.pre(inRange[i + 1].meters - inRange[i].meters >= NEAR_TIE_METERS);
      }
      fc.pre(eligible.every((hit) => Math.abs(hit.meters - radiusKm * 1000) > NEAR_TIE_METERS + radiusKm));

      const ids = await insertFleet(fleet);
      const idOf = (index: number) => ids[index];
      const expected = inRange
        .map((hit) => ({ id: idOf(hit.index), meters: hit.meters }))
        .sort((a, b) => a.meters - b.meters || (a.id < b.id ? -1 : 1))
        .slice(0, query.k);
      const eligibleIds = new Set(eligible.map((hit) => idOf(hit.index)));
      // Redis indexes latitudes up to MAX_GEO_LAT; a circle reaching beyond it is searched in PostgreSQL.
      const indexedIds = eligible.filter((hit) => Math.abs(fleet[hit.index].location!.lat) <= MAX_GEO_LAT).map((hit) => idOf(hit.index));
      const redisCanAnswer = Math.abs(query.lat) + radiusKm / 111 <= MAX_GEO_LAT;
      const findQuery = {
        lat: query.lat,
        lon: query.lon,
        limit: query.k,
        ...(query.radiusKm === null ? {} : { radiusKm: query.radiusKm }),
      };

      // Redis path: a fresh, reconciled Redis holds exactly the choosable drivers.
      await backend.flushAll();
      const report = await reconcileNow();
      expect(report).toEqual({ drivers: fleet.length, pruned: 0 });
      expect(await redis.exists('drivers:synced')).toBe(1);
      expect((await redis.zrange('drivers:geo', 0, -1)).sort()).toEqual(indexedIds.sort());
      // Each search, for whole drivers and for positions alike: Redis answers alone, where it can.
      const onRedis = async <T>(search: () => Promise<T>): Promise<T> => {
        redisSearch.mockClear();
        pgSearch.mockClear();
        const answer = await search();
        if (redisCanAnswer) {
          expect(redisSearch).toHaveBeenCalledTimes(1);
          expect(await redisSearch.mock.results[0].value).not.toBeNull();
          expect(pgSearch).not.toHaveBeenCalled();
        } else {
          expect(redisSearch).not.toHaveBeenCalled();
          expect(pgSearch).toHaveBeenCalled();
        }
        return answer;
      };
      const viaRedis = await onRedis(() => sut.findNearest(findQuery));
      const positionsViaRedis = await onRedis(() => sut.findNearestPositions(findQuery));

      // PostgreSQL path: a flushed Redis is not reconciled, so the search falls back.
      await backend.flushAll();
      expect(await redis.exists('drivers:synced')).toBe(0);
      const onPostgres = async <T>(search: () => Promise<T>): Promise<{ answer: T; circles: number }> => {
        redisSearch.mockClear();
        pgSearch.mockClear();
        circleSearch.mockClear();
        const answer = await search();
        if (redisCanAnswer) expect(await redisSearch.mock.results[0].value).toBeNull();
        // One window, then, while a lagging indexed position could hide a nearer driver, one scan of the circle.
        expect(pgSearch).toHaveBeenCalledTimes(1);
        expect(circleSearch.mock.calls.length).toBeLessThanOrEqual(1);
        return { answer, circles: circleSearch.mock.calls.length };
      };
      const { answer: viaPostgres, circles } = await onPostgres(() => sut.findNearest(findQuery));
      if (circles === 1) seen.circleOnPostgres += 1;
      const { answer: positionsViaPostgres } = await onPostgres(() => sut.findNearestPositions(findQuery));

      const expectedIds = expected.map((hit) => hit.id);
      expect(viaRedis.map((hit) => hit.driver.id)).toEqual(expectedIds);
      expect(viaPostgres.map((hit) => hit.driver.id)).toEqual(expectedIds);
      // A dispatch reads positions only, and gets the same answer on either path.
      const positionsOf = (answer: typeof viaRedis) =>
        answer.map(({ driver, distanceMeters }) => ({
          driver: { id: driver.id, lastLat: driver.lastLat, lastLon: driver.lastLon },
          distanceMeters,
        }));
      expect(positionsViaRedis).toEqual(positionsOf(viaRedis));
      expect(positionsViaPostgres).toEqual(positionsOf(viaPostgres));
      for (const answer of [viaRedis, viaPostgres]) {
        answer.forEach((hit, i) => {
          // Stale, BUSY, OFFLINE, deactivated and never-located drivers are never chosen.
          expect(eligibleIds.has(hit.driver.id)).toBe(true);
          expect(hit.driver).toMatchObject({ status: 'AVAILABLE', isActive: true });
          expect(hit.distanceMeters).toBeCloseTo(expected[i].meters, 3);
        });
      }

      seen.runs += 1;
      if (fleet.length === 0) seen.emptyFleets += 1;
      if (expected.length > 0) seen.nonEmptyAnswers += 1;
      seen.fleetSizes.add(fleet.length);
      seen.ks.add(query.k);
      seen.regions.add(region);
      if (region === 'polar') seen[redisCanAnswer ? 'polarOnRedis' : 'polarOnPostgres'] += 1;
    });

    const fresh = (lat: number, lon: number): GeneratedDriver => ({
      status: 'AVAILABLE',
      isActive: true,
      seen: 'fresh',
      location: { lat, lon },
      lag: null,
    });
    await fc.assert(property, {
      numRuns: 60,
      // Always also an empty fleet, a full one asked for the most drivers, drivers on both sides of the
      // antimeridian, and drivers on both sides of Redis' latitude limit.
      examples: [
        [['city', [], { lat: 52.5, lon: 13.4, k: 1, radiusKm: null }]],
        [
          [
            'city',
            Array.from({ length: 40 }, (_, i) => fresh(52.41 + i * 0.0041, 13.26 + ((i * 7) % 40) * 0.0071)),
            { lat: 52.5, lon: 13.4, k: 5, radiusKm: null },
          ],
        ],
        [['antimeridian', [fresh(-17, 179.93), fresh(-17, -179.95), fresh(-17.05, 179.8)], { lat: -17, lon: 179.99, k: 3, radiusKm: 20 }]],
        [['polar', [fresh(85.02, 0.1), fresh(85.1, 0), fresh(84.9, -0.5)], { lat: 85, lon: 0, k: 3, radiusKm: null }]],
        [['polar', [fresh(85.02, 0.1), fresh(85.1, 0), fresh(84.9, -0.5)], { lat: 84.9, lon: 0, k: 3, radiusKm: 10 }]],
        // The nearest driver (100 m north) is indexed 190 m further north, behind the 24 drivers 200-269 m
        // east that fill PostgreSQL's first window.
        [
          [
            'depot',
            [
              ...Array.from({ length: 24 }, (_, i) =>
                fresh(52.5, 13.4 + (200 + i * 3) / (METERS_PER_DEGREE * Math.cos((52.5 * Math.PI) / 180))),
              ),
              { ...fresh(52.5 + 100 / METERS_PER_DEGREE, 13.4), lag: { north: 190, east: 0 } },
            ],
            { lat: 52.5, lon: 13.4, k: 1, radiusKm: null },
          ],
        ],
      ],
    });

    // The runs did cover what the property is about.
    expect(seen.emptyFleets).toBeGreaterThanOrEqual(1);
    expect(seen.nonEmptyAnswers).toBeGreaterThan(seen.runs / 4);
    expect(seen.fleetSizes.size).toBeGreaterThan(5);
    expect(seen.ks.size).toBeGreaterThan(1);
    expect([...seen.regions].sort()).toEqual(['antimeridian', 'city', 'depot', 'polar']);
    expect(seen.polarOnRedis).toBeGreaterThan(0);
    expect(seen.polarOnPostgres).toBeGreaterThan(0);
    expect(seen.circleOnPostgres).toBeGreaterThan(0);
  });
});
