// @ts-check
/**
 * The dispatch figures of `npm run bench`: what matching a ping against the
 * waiting orders costs as the queue grows, and the rate of offer-mode
 * assignments (offer, then accept) against auto mode, both in one run.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BERLIN, City } from './city.mjs';
import { webhookSigner } from './credentials.mjs';
import { compare, ratioRow } from './compare.mjs';
import { insertFleet } from './database.mjs';
import { createClient } from './http-client.mjs';
import { closedLoop } from './load-runner.mjs';
import { log } from './report.mjs';
import { ROOT } from './service.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./report.mjs').Row} Row */

/** Two places far from the bench's other cities, and from each other: one small queue, one large. */
const SMALL_QUEUE = new City('Vienna', { lat: 48.208, lon: 16.373 }, 20);
const LARGE_QUEUE = new City('Warsaw', { lat: 52.23, lon: 21.012 }, 20);
/** The bench service's reach (ASSIGNMENT_MAX_RADIUS_KM, default): its grid. */
const REACH_KM = 100;

/**
 * The service's own grid (src/dispatch/waiting-grid.ts, built), so the cells written here are the ones it probes.
 * @returns {Promise<{ cellOf(lat: number, lon: number): number, cellsAround(lat: number, lon: number): number[] }>}
 */
async function serviceGrid() {
  const { WaitingGrid } = await import(pathToFileURL(join(ROOT, 'dist/src/dispatch/waiting-grid.js')).href);
  return new WaitingGrid(REACH_KM);
}

/**
 * Waiting orders, written as the service writes a PENDING delivery (create_pending_delivery),
 * with the cell of the service's grid; they wait a day and no timer of theirs is due.
 * @param {import('pg').Pool} sql
 * @param {City} city
 * @param {number} count
 * @param {Awaited<ReturnType<typeof serviceGrid>>} grid
 */
async function insertWaitingOrders(sql, city, count, grid) {
  const points = Array.from({ length: count }, () => city.randomPoint());
  await sql.query(
    `INSERT INTO deliveries (seller_order_id, status, pickup_lat, pickup_lon, assigned_at, distance_meters, dispatch_mode,
                             max_wait_seconds, wait_cell, pending_at, wait_until, created_at, ready_at)
     SELECT 'bench-wait-' || $4 || '-' || p.n, 'PENDING', p.lat, p.lon, NULL, NULL, 'auto', 86400, p.cell,
            now(), now() + interval '1 day', now() - make_interval(secs => ($5 - p.n)::float8), now() - make_interval(secs => ($5 - p.n)::float8)
     FROM unnest($1::float8[], $2::float8[], $3::bigint[]) WITH ORDINALITY AS p(lat, lon, cell, n)`,
    [points.map((p) => p.lat), points.map((p) => p.lon), points.map((p) => grid.cellOf(p.lat, p.lon)), city.name, count],
  );
}

/**
 * The statement the service runs when pings reach PostgreSQL (Dispatcher.matchDrivers):
 * the oldest waiting order in reach of one driver, at 100 and at 10,000 waiting orders.
 * Every order of both queues is in reach of the drivers, so each cell's probe stops at its first row.
 * @param {Bench} bench
 * @returns {Promise<Row[]>}
 */
async function waitingMatchFigure(bench) {
  const grid = await serviceGrid();
  const [small, large] = [100, 10_000];
  log(`waiting orders: ${small} in ${SMALL_QUEUE.name}, ${large} in ${LARGE_QUEUE.name}, 20 drivers in each`);
  await insertWaitingOrders(bench.sql, SMALL_QUEUE, small, grid);
  await insertWaitingOrders(bench.sql, LARGE_QUEUE, large, grid);
  await bench.sql.query('ANALYZE deliveries');
  const drivers = async (/** @type {City} */ city) => {
    const points = Array.from({ length: 20 }, () => city.randomPoint());
    const rows = await insertFleet(bench.sql, points);
    return rows.map((row, i) => ({ driverId: row.id, cells: grid.cellsAround(points[i].lat, points[i].lon) }));
  };
  const near = { small: await drivers(SMALL_QUEUE), large: await drivers(LARGE_QUEUE) };
  const cutoff = new Date(Date.now() - 3_600_000).toISOString();
  const concurrency = bench.settings.searchConnections;
  let checked = 0;
  const { service, baseline } = await bench.withPool(concurrency, (pool) => {
    const match = (/** @type {typeof near.small} */ fleet) => (/** @type {number} */ seconds) => {
      let next = 0;
      return closedLoop({
        concurrency,
        seconds,
        task: async () => {
          const driver = fleet[next++ % fleet.length];
          const { rows } = await pool.query(`SELECT delivery_id FROM waiting_orders_near($1, $2, $3)`, [
            JSON.stringify([driver]),
            REACH_KM * 1000,
            cutoff,
          ]);
          if (rows.length !== 1) throw new Error(`the match found ${rows.length} orders, not 1`);
          checked += 1;
        },
      });
    };
    return compare(bench, 'waiting-order match per ping', { service: match(near.large), baseline: match(near.small) });
  });
  await bench.sql.query(`DELETE FROM deliveries WHERE seller_order_id LIKE 'bench-wait-%'`);
  bench.notes.push(`waiting-order match: ${checked} matches, each found the oldest waiting order in the driver's reach.`);
  return [
    ratioRow(`waiting-order match per ping: p50 at ${large} waiting orders vs at ${small}`, 'ms', service.p50, baseline.p50, {
      text: '≤ 2x',
      holds: (r) => service.errors === 0 && baseline.errors === 0 && r <= 2,
    }),
  ];
}

/**
 * Signed seller-order-ready in Berlin, by one in-process client for both sides: auto mode (assigned in
 * the answer) against offer mode (offered in the answer, then accepted with the driver's own token).
 * `rps` counts assignments.
 * @param {Bench} bench
 * @returns {Promise<Row[]>}
 */
async function offerFigure(bench) {
  const { assignConcurrency: concurrency } = bench.settings;
  const client = createClient(bench.service.url, { maxSockets: concurrency });
  const signer = webhookSigner(bench.secrets.vendureSecret);
  const tokens = new Map(bench.berlin.map((d) => [d.id, d.token]));
  const prefix = `bench-offer-${Date.now().toString(36)}`;
  let n = 0;
  const ready = (/** @type {object} */ extra) => {
    const pickup = BERLIN.randomPoint();
    const body = JSON.stringify({ sellerOrderId: `${prefix}-${n++}`, pickupLat: pickup.lat, pickupLon: pickup.lon, ...extra });
    return client.request('POST', '/events/seller-order-ready', { body, headers: signer.headers(body) });
  };
  const auto = async () => {
    const answer = await ready({});
    if (answer.status !== 200) throw new Error(`seller-order-ready answered ${answer.status}`);
    return answer.body.assigned ? 'assigned' : 'no-driver';
  };
  const offer = async () => {
    const answer = await ready({ dispatchMode: 'offer' });
    if (answer.status !== 200) throw new Error(`seller-order-ready answered ${answer.status}`);
    if (answer.body.status !== 'OFFERED') return 'no-driver';
    const accepted = await client.request('POST', `/deliveries/${answer.body.deliveryId}/accept`, {
      token: tokens.get(answer.body.driverId),
    });
    if (accepted.status !== 200) throw new Error(`accept answered ${accepted.status} ${JSON.stringify(accepted.body)}`);
    return 'assigned';
  };
  const side = (/** @type {() => Promise<string>} */ task) => async (/** @type {number} */ seconds) => {
    const m = await closedLoop({ concurrency, seconds, task });
    return { ...m, rps: (m.outcomes.assigned ?? 0) / m.seconds, noDriver: m.outcomes['no-driver'] ?? 0 };
  };
  try {
    const { service, baseline } = await compare(bench, 'offer-mode assignments', { service: side(offer), baseline: side(auto) });
    if (service.noDriver || baseline.noDriver)
      bench.notes.push(`offer figure: no driver answers: offer ${service.noDriver}, auto ${baseline.noDriver}.`);
    return [
      ratioRow(`offer-mode assignments/s (offer + accept) vs auto mode, ${concurrency} conc`, '/s', service.rps, baseline.rps, {
        text: '≥ 40 %',
        percent: true,
        holds: (r) => service.errors === 0 && r >= 0.4,
      }),
    ];
  } finally {
    client.close();
  }
}

/** @param {Bench} bench @returns {Promise<Row[]>} */
export async function dispatchFigures(bench) {
  return [...(await waitingMatchFigure(bench)), ...(await offerFigure(bench))];
}
