import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { DataSource, QueryRunner } from 'typeorm';
import { AvailabilityRepository } from '../src/availability/availability.repository.js';
import { AvailabilityService, MAX_CANDIDATES } from '../src/availability/availability.service.js';
import { AvailabilityStore } from '../src/availability/availability.store.js';
import { AvailabilityReconciler } from '../src/fleet/availability-reconciler.js';
import { createTestDatabase } from './support/databases.js';
import { PrivateRedis } from './support/private-redis.js';
import { startTestApp, TestApp } from './support/test-app.js';

/** A small fleet too: there the planner once preferred scanning the whole bounding box and sorting. */
const FLEETS = [5_000, 100_000];
const CENTER = { lat: 52.5, lon: 13.4 };
const LIMIT = 10;
const WINDOW = 40;

/** Great-circle distance (haversine), mean earth radius 6371008.8 m. */
function greatCircleMeters(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = (degrees: number) => (degrees * Math.PI) / 180;
  const h = Math.sin(rad(b.lat - a.lat) / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lon - a.lon) / 2) ** 2;
  return 6_371_008.8 * 2 * Math.atan2(Math.sqrt(h), Math.sqrt(1 - h));
}

/** Runs `action` and returns every statement it sent, with its parameters, exactly as sent. */
async function captureQueries<T>(
  dataSource: DataSource,
  action: () => Promise<T>,
): Promise<{ result: T; queries: Array<{ sql: string; parameters: unknown[] }> }> {
  const queries: Array<{ sql: string; parameters: unknown[] }> = [];
  const createQueryRunner = dataSource.createQueryRunner.bind(dataSource);
  dataSource.createQueryRunner = (...args: Parameters<DataSource['createQueryRunner']>): QueryRunner => {
    const runner = createQueryRunner(...args);
    const query = runner.query.bind(runner) as (...a: unknown[]) => Promise<unknown>;
    runner.query = ((sql: string, parameters?: unknown[], ...rest: unknown[]) => {
      // The dispatch timers look for due timers every second on the same DataSource: not the search's.
      if (!sql.includes('fire_due_deliveries')) queries.push({ sql, parameters: parameters ?? [] });
      return query(sql, parameters, ...rest);
    }) as QueryRunner['query'];
    return runner;
  };
  try {
    return { result: await action(), queries };
  } finally {
    // The class's own method again.
    Reflect.deleteProperty(dataSource, 'createQueryRunner');
  }
}

/**
 * The PostgreSQL nearest-driver search (no Redis) stays a KNN walk of the
 * partial GiST index at 5,000 and at 100,000 drivers: its plan is printed and checked.
 */
describe.each(FLEETS)('nearest search on PostgreSQL: query plan at %i drivers', (FLEET) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let sut: AvailabilityRepository;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase(`nearest_plan_${FLEET}`);
    t = await startTestApp({ DATABASE_URL: database.url });
    sut = t.app.get(AvailabilityRepository);
    dataSource = t.app.get(DataSource);

    // A 30 km x 30 km city around 52.5 N 13.4 E; ~70 % AVAILABLE, the rest BUSY or OFFLINE; all active and fresh.
    const sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    try {
      await sql.query('SELECT setseed(0.42)');
      await sql.query(
        `INSERT INTO drivers (name, phone, token_hash, status, is_active, last_lat, last_lon, last_location_at, last_seen_at)
         SELECT 'Driver ' || g, '+49' || lpad(g::text, 10, '0'), md5(g::text) || md5('token' || g),
                CASE WHEN random() < 0.7 THEN 'AVAILABLE' WHEN random() < 0.5 THEN 'BUSY' ELSE 'OFFLINE' END,
                true, $1 + (random() - 0.5) * 0.27, $2 + (random() - 0.5) * 0.443, now(), now()
         FROM generate_series(1, $3::int) AS g`,
        [CENTER.lat, CENTER.lon, FLEET],
      );
      await sql.query('ANALYZE drivers');
    } finally {
      await sql.end();
    }
  });

  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  // Whole drivers for the nearby list, positions for a dispatch: the same walk either way.
  it.each(['wholeDrivers', 'positions'] as const)(
    'walks drivers_available_location_idx (KNN), never the whole table, and answers nearest first (%s)',
    async (shape) => {
      const cutoff = new Date(Date.now() - 60_000);
      const query = { lat: CENTER.lat, lon: CENTER.lon, cutoff, window: WINDOW, limit: LIMIT };
      const { result, queries } = await captureQueries(dataSource, () =>
        shape === 'positions' ? sut.findNearestChoosable(query, sut.positions) : sut.findNearestChoosable(query, sut.wholeDrivers),
      );
      expect(queries).toHaveLength(1);
      const [{ sql, parameters }] = queries;

      const rows: Array<{ 'QUERY PLAN': string }> = await dataSource.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, parameters);
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      console.log(`findNearestChoosable (${shape}) at ${FLEET} drivers:\n${sql}\nparameters: ${JSON.stringify(parameters)}\n\n${plan}`);

      expect(plan).toContain('Index Scan using drivers_available_location_idx');
      expect(plan).toMatch(/Order By: .*<->/);
      expect(plan).not.toContain('Seq Scan on drivers');
      expect(plan).not.toContain('Bitmap');
      // The only sort is of the window the index walk returned.
      for (const [, sorted] of plan.matchAll(/Sort .*actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/g))
        expect(Number(sorted)).toBeLessThanOrEqual(WINDOW);

      const { drivers, windowSize, windowMeters } = result;
      expect(drivers).toHaveLength(LIMIT);
      expect(windowSize).toBe(WINDOW);
      const distances = drivers.map((driver) => greatCircleMeters(CENTER, { lat: driver.lastLat!, lon: driver.lastLon! }));
      for (let i = 1; i < distances.length; i += 1) expect(distances[i]).toBeGreaterThanOrEqual(distances[i - 1]);
      if (shape === 'wholeDrivers') for (const driver of drivers) expect(driver).toMatchObject({ status: 'AVAILABLE', isActive: true });
      else for (const driver of drivers) expect(Object.keys(driver).sort()).toEqual(['id', 'lastLat', 'lastLon']);

      // And they are the nearest ones: the same as ranking every choosable driver without the index.
      const bruteForce: Array<{ id: string; lat: number; lon: number }> = await dataSource.query(
        `SELECT id, last_lat AS lat, last_lon AS lon FROM drivers
       WHERE is_active AND status = 'AVAILABLE' AND last_lat IS NOT NULL AND last_seen_at >= $1
       ORDER BY earth_distance(ll_to_earth($2, $3), ll_to_earth(last_lat, last_lon)), id
       LIMIT $4`,
        [cutoff, CENTER.lat, CENTER.lon, WINDOW],
      );
      expect(drivers.map((driver) => driver.id)).toEqual(bruteForce.slice(0, LIMIT).map((row) => row.id));
      // Here every indexed position is the location (the drivers were inserted, never moved): the window
      // reaches as far as the WINDOW-th nearest driver.
      expect(windowMeters).toBeCloseTo(greatCircleMeters(CENTER, bruteForce[WINDOW - 1]), 3);
    },
  );
});

/**
 * Where drivers crowd nearer by indexed position than the nearest one by location (a depot, a stadium),
 * PostgreSQL's search does not widen its window window after window: a second query scans the circle the
 * answer must lie in, by indexed position, and that answer is exact, however large the crowd.
 */
describe('nearest search on PostgreSQL: a crowd of nearer indexed positions', () => {
  const CROWD = 30_000;
  const QUERY = { lat: 53.55, lon: 10.0 };
  const METERS_PER_DEGREE = (6_371_008.8 * Math.PI) / 180;
  const north = (meters: number) => QUERY.lat + meters / METERS_PER_DEGREE;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let sql: pg.Client;
  let nearest: string;

  beforeAll(async () => {
    database = await createTestDatabase('nearest_crowd');
    t = await startTestApp({ DATABASE_URL: database.url });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    // The crowd: parked 100-150 m north, each indexed where it is.
    await sql.query(
      `INSERT INTO drivers (name, phone, token_hash, status, last_lat, last_lon, last_location_at, last_seen_at)
       SELECT 'Driver ' || g, '+49' || lpad(g::text, 10, '0'), md5(g::text) || md5('token' || g), 'AVAILABLE',
              $1 + (100 + random() * 50) / $3, $2 + (random() - 0.5) * 0.0005, now(), now()
       FROM generate_series(1, $4::int) AS g`,
      [QUERY.lat, QUERY.lon, METERS_PER_DEGREE, CROWD],
    );
    // The nearest driver, 10 m north, whose indexed position (within the lag) is 205 m north: behind the crowd.
    const { rows } = await sql.query(
      `INSERT INTO drivers (name, phone, token_hash, status, last_lat, last_lon, indexed_lat, indexed_lon, last_location_at, last_seen_at)
       VALUES ('Nearest', '+4917000000000', md5('nearest') || md5('nearest'), 'AVAILABLE', $1, $3, $2, $3, now(), now())
       RETURNING id, indexed_lat`,
      [north(10), north(205), QUERY.lon],
    );
    expect(rows[0].indexed_lat).toBe(north(205));
    nearest = rows[0].id;
    await sql.query('ANALYZE drivers');
  });

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await database?.drop();
  });

  it('finds the nearest driver behind the crowd, in two queries', async () => {
    const repository = t.app.get(AvailabilityRepository);
    const calls = { window: 0, circle: 0 };
    const window = repository.findNearestChoosable.bind(repository);
    const circle = repository.findChoosableIndexedWithin.bind(repository);
    repository.findNearestChoosable = (query, shape) => ((calls.window += 1), window(query, shape));
    repository.findChoosableIndexedWithin = (query, shape) => ((calls.circle += 1), circle(query, shape));
    try {
      const found = await t.app.get(AvailabilityService).findNearest({ ...QUERY, limit: 3 });
      expect(found.map((hit) => hit.driver.id)[0]).toBe(nearest);
      expect(found[0].distanceMeters).toBeCloseTo(10, 3);
      expect(found).toHaveLength(3);
      for (const hit of found.slice(1)) expect(hit.distanceMeters).toBeGreaterThanOrEqual(100);
    } finally {
      Reflect.deleteProperty(repository, 'findNearestChoosable');
      Reflect.deleteProperty(repository, 'findChoosableIndexedWithin');
    }
    expect(calls).toEqual({ window: 1, circle: 1 });
  });

  it("the circle's scan uses drivers_available_location_idx and gives the nearest by location", async () => {
    const cutoff = new Date(Date.now() - 60_000);
    const dataSource = t.app.get(DataSource);
    const repository = t.app.get(AvailabilityRepository);
    const { result, queries } = await captureQueries(dataSource, () =>
      repository.findChoosableIndexedWithin({ ...QUERY, cutoff, indexedWithinMeters: 120, limit: 5 }, repository.positions),
    );
    // Within 120 m by indexed position: the crowd's nearest part; the nearest driver's indexed position is beyond.
    expect(result.map((driver) => driver.id)).not.toContain(nearest);
    const distances = result.map((driver) => (driver.lastLat! - QUERY.lat) * METERS_PER_DEGREE);
    expect(distances).toHaveLength(5);
    for (const meters of distances) expect(meters).toBeLessThanOrEqual(121);
    const { rows: bruteForce } = await sql.query(
      `SELECT id FROM drivers WHERE status = 'AVAILABLE' AND great_circle_meters($1, $2, indexed_lat, indexed_lon) <= 121
       ORDER BY great_circle_meters($1, $2, last_lat, last_lon), id LIMIT 5`,
      [QUERY.lat, QUERY.lon],
    );
    expect(result.map((driver) => driver.id)).toEqual(bruteForce.map((row) => row.id));

    expect(queries).toHaveLength(1);
    const plan: Array<{ 'QUERY PLAN': string }> = await dataSource.query(`EXPLAIN ${queries[0].sql}`, queries[0].parameters);
    const text = plan.map((row) => row['QUERY PLAN']).join('\n');
    expect(text).toContain('drivers_available_location_idx');
    expect(text).not.toContain('Seq Scan on drivers');
  });
});

/**
 * A tie larger than Redis' window may grow to (a depot where every driver waits at the same gate): Redis' window
 * stops at MAX_CANDIDATES and the search ends with PostgreSQL's scan of the circle, which breaks the tie by id
 * over every driver in it.
 */
describe("nearest search on Redis: a tie beyond the window's cap", () => {
  const TIED = 2_100;
  const GATE = { lat: 48.137, lon: 11.575 };
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let redis: PrivateRedis;
  let t: TestApp;
  let sql: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('nearest_tie');
    redis = new PrivateRedis();
    await redis.start();
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    t = await startTestApp({ DATABASE_URL: database.url, REDIS_URL: redis.url, RECONCILE_INTERVAL_SECONDS: '3600' });
    await sql.query(
      `INSERT INTO drivers (name, phone, token_hash, status, last_lat, last_lon, last_location_at, last_seen_at)
       SELECT 'Driver ' || g, '+49' || lpad(g::text, 10, '0'), md5(g::text) || md5('token' || g), 'AVAILABLE', $1, $2, now(), now()
       FROM generate_series(1, $3::int) AS g`,
      [GATE.lat, GATE.lon, TIED],
    );
    expect(await t.app.get(AvailabilityReconciler).reconcile()).toEqual({ drivers: TIED, pruned: 0 });
  });

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await redis?.stop();
    await database?.drop();
  });

  it('asks Redis for at most MAX_CANDIDATES, then scans the circle once, and breaks the tie by id', async () => {
    const store = t.app.get(AvailabilityStore);
    const repository = t.app.get(AvailabilityRepository);
    const counts: number[] = [];
    const circles: number[] = [];
    const search = store.searchNearest.bind(store);
    const circle = repository.findChoosableIndexedWithin.bind(repository);
    store.searchNearest = async (query) => {
      const hits = await search(query);
      expect(hits).not.toBeNull();
      counts.push(query.count);
      return hits;
    };
    repository.findChoosableIndexedWithin = (query, shape) => (circles.push(query.limit), circle(query, shape));
    try {
      const found = await t.app.get(AvailabilityService).findNearest({ ...GATE, limit: 3 });
      const { rows } = await sql.query<{ id: string }>(`SELECT id FROM drivers ORDER BY id LIMIT 3`);
      expect(found.map((hit) => hit.driver.id)).toEqual(rows.map((row) => row.id));
      expect(found.map((hit) => hit.distanceMeters)).toEqual([0, 0, 0]);
    } finally {
      Reflect.deleteProperty(store, 'searchNearest');
      Reflect.deleteProperty(repository, 'findChoosableIndexedWithin');
    }
    // Every window full, each four times the last, the last the largest within the cap.
    expect(counts.length).toBeGreaterThan(1);
    expect(Math.max(...counts)).toBeLessThanOrEqual(MAX_CANDIDATES);
    expect(Math.max(...counts) * 4).toBeGreaterThan(MAX_CANDIDATES);
    expect(circles).toEqual([Math.max(...counts)]);
  });
});
