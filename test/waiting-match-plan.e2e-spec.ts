import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { WaitingGrid } from '../src/dispatch/waiting-grid.js';
import { createTestDatabase } from './support/databases.js';
import { insertDrivers } from './support/fleet.js';
import { startTestApp, TestApp } from './support/test-app.js';

const CENTRE = { lat: 52.52, lon: 13.405 };
const REACH_KM = 100;
const QUEUE = 10_000;

/**
 * Matching a driver against the waiting orders (`waiting_orders_near`, run
 * on every batch of pings) probes deliveries_waiting_idx once per grid cell
 * and stops at the first row in reach: it never walks the queue, nor any
 * other index of deliveries, whatever the planner's estimates. The plan of
 * the statement inside the routine is read with auto_explain.
 */
describe(`waiting-order match: the plan at ${QUEUE} waiting orders`, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let sql: pg.Client;
  const grid = new WaitingGrid(REACH_KM);
  let driverId: string;
  let oldestInReach: string;

  beforeAll(async () => {
    database = await createTestDatabase('waiting_match_plan');
    t = await startTestApp({ DATABASE_URL: database.url, ASSIGNMENT_MAX_RADIUS_KM: String(REACH_KM) });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    [{ id: driverId }] = await insertDrivers(sql, [CENTRE]);
    // The whole queue in one city (one or two cells: the planner's estimates favour any index there),
    // plus, oldest of all, an order in the driver's cells but out of its reach.
    await sql.query('SELECT setseed(0.17)');
    const { rows } = await sql.query(
      `INSERT INTO deliveries (seller_order_id, status, pickup_lat, pickup_lon, assigned_at, dispatch_mode, max_wait_seconds,
                               pending_at, wait_until, created_at, ready_at)
       SELECT 'SO-Q-' || g, 'PENDING', $1 + (random() - 0.5) * 0.27, $2 + (random() - 0.5) * 0.44, NULL, 'auto', 3600,
              now(), now() + interval '1 hour', now() - make_interval(secs => $3 - g), now() - make_interval(secs => $3 - g)
       FROM generate_series(1, $3::int) AS g RETURNING id, pickup_lat, pickup_lon, seller_order_id`,
      [CENTRE.lat, CENTRE.lon, QUEUE],
    );
    const cells = rows.map((r) => ({ id: r.id, cell: grid.cellOf(r.pickup_lat, r.pickup_lon) }));
    await sql.query(`UPDATE deliveries d SET wait_cell = c.cell FROM jsonb_to_recordset($1) AS c(id uuid, cell bigint) WHERE d.id = c.id`, [
      JSON.stringify(cells),
    ]);
    oldestInReach = rows.find((r) => r.seller_order_id === 'SO-Q-1')!.id;
    const far = { lat: CENTRE.lat + 1.05, lon: CENTRE.lon };
    await sql.query(
      `INSERT INTO deliveries (seller_order_id, status, pickup_lat, pickup_lon, assigned_at, dispatch_mode, max_wait_seconds,
                               pending_at, wait_until, created_at, ready_at, wait_cell)
       VALUES ('SO-Q-FAR', 'PENDING', $1, $2, NULL, 'auto', 3600, now(), now() + interval '1 hour', now() - interval '1 day', now() - interval '1 day', $3)`,
      [far.lat, far.lon, grid.cellOf(far.lat, far.lon)],
    );
    expect(grid.cellsAround(CENTRE.lat, CENTRE.lon)).toContain(grid.cellOf(far.lat, far.lon));
    await sql.query('ANALYZE deliveries');
  });

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await database?.drop();
  });

  it('probes deliveries_waiting_idx once per cell and finds the oldest order in reach', async () => {
    const plans: string[] = [];
    const onNotice = (notice: { message?: string }) => notice.message && plans.push(notice.message);
    sql.on('notice', onNotice);
    let result;
    try {
      await sql.query(`LOAD 'auto_explain'`);
      await sql.query(
        `SET auto_explain.log_nested_statements = on; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET client_min_messages = log`,
      );
      const cells = grid.cellsAround(CENTRE.lat, CENTRE.lon);
      result = await sql.query(`SELECT delivery_id FROM waiting_orders_near($1, $2, now() - interval '1 minute')`, [
        JSON.stringify([{ driverId, cells }]),
        REACH_KM * 1000,
      ]);
      await sql.query(`SET client_min_messages = notice`);
      const plan = plans.find((p) => p.includes('FROM deliveries w'));
      if (!plan) throw new Error(`no plan of the match among ${plans.length} logged`);
      console.log(`waiting_orders_near at ${QUEUE} waiting orders, ${cells.length} cells:\n${plan}`);
      expect(plan).toMatch(/Index Scan using deliveries_waiting_idx on deliveries w[^\n]*loops=(\d+)/);
      expect(Number(/Index Scan using deliveries_waiting_idx on deliveries w[^\n]*loops=(\d+)/.exec(plan)![1])).toBe(cells.length);
      expect(plan).not.toMatch(/deliveries_created_at_id_idx|Seq Scan on deliveries|Sort Key: w\./);
      // Rows read from the index: the far order, and the first one in reach of each cell that has any.
      const removed = [...plan.matchAll(/Rows Removed by Filter: (\d+)/g)].map((m) => Number(m[1]));
      expect(removed.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(cells.length);
    } finally {
      sql.off('notice', onNotice);
    }
    expect(result.rows).toEqual([{ delivery_id: oldestInReach }]);
  });
});
