// @ts-check
/**
 * Assignment under dense demand: a lunch hour in one district, a stadium
 * emptying. Each round has an area of its own, about 27 x 27 km, with
 * DENSE_FLEET available drivers, and sends DENSE_ORDERS orders at random
 * points of that area, BENCH_ASSIGN_CONCURRENCY at a time: concurrent orders
 * want the same few nearest drivers. The baseline is the minimal claim, one
 * statement per order on its own pool: the nearest available driver taken with
 * FOR UPDATE SKIP LOCKED, made BUSY, and a delivery inserted; no order lock,
 * no audit event, no outbox. The areas lie in the Atlantic, 333 km apart and
 * far from every other city of the bench, so no other figure's search reaches
 * them; their drivers are inserted before the service starts, so its start-up
 * reconciliation puts them in Redis.
 */
import { City } from './city.mjs';
import { compare, plainRow, ratioRow } from './compare.mjs';
import { webhookSigner } from './credentials.mjs';
import { doubleAssignments, insertFleet } from './database.mjs';
import { createClient } from './http-client.mjs';
import { countedLoop } from './load-runner.mjs';
import { log } from './report.mjs';

/** @typedef {import('./bench-context.mjs').Bench} Bench */
/** @typedef {import('./bench-context.mjs').BenchSettings} BenchSettings */
/** @typedef {import('./report.mjs').Row} Row */

/** Available drivers in each round's area. */
export const DENSE_FLEET = 1_800;
/** Orders in each round: two thirds of the area's drivers, so the last orders still find some close by. */
const DENSE_ORDERS = 1_200;

/**
 * The areas, one per round of each side (the warm-up's included): the service's first, then the baseline's.
 * @param {BenchSettings} settings
 */
export function denseAreas(settings) {
  const perSide = settings.rounds + (settings.warmupSeconds > 0 ? 1 : 0);
  return Array.from({ length: 2 * perSide }, (_, i) => new City(`Dense ${i + 1}`, { lat: 37 + 3 * i, lon: -30 }, 27));
}

/**
 * Inserts each area's drivers, AVAILABLE with fresh heartbeats.
 * @param {import('pg').Pool} sql
 * @param {BenchSettings} settings
 */
export async function insertDenseFleets(sql, settings) {
  for (const area of denseAreas(settings)) {
    await insertFleet(
      sql,
      Array.from({ length: DENSE_FLEET }, () => area.randomPoint()),
    );
  }
}

/** The minimal claim: the nearest available driver, skipping locked rows, made BUSY, and its delivery. */
const MINIMAL_CLAIM = `
  WITH picked AS (
    UPDATE drivers SET status = 'BUSY', updated_at = now()
    WHERE id = (
      SELECT d.id FROM drivers d
      WHERE d.is_active AND d.status = 'AVAILABLE' AND d.indexed_lat IS NOT NULL
      ORDER BY ll_to_earth(d.indexed_lat, d.indexed_lon) <-> ll_to_earth($2, $3)
      LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING id, last_lat, last_lon)
  INSERT INTO deliveries (seller_order_id, driver_id, status, pickup_lat, pickup_lon, distance_meters, assigned_at)
  SELECT $1, p.id, 'ASSIGNED', $2, $3, earth_distance(ll_to_earth(p.last_lat, p.last_lon), ll_to_earth($2, $3)), now()
  FROM picked p
  RETURNING id`;

/**
 * The service's counters of one series so far, by its one label: `assignment_claims_total` by outcome (a lost
 * claim is `driver-taken`, and sends the order on to its next candidate or a new search), or
 * `nearest_search_windows_total` by source (Redis, or PostgreSQL and why).
 * @param {string} url
 * @param {string} series
 * @returns {Promise<Record<string, number>>}
 */
async function counts(url, series) {
  const text = await (await fetch(`${url}/metrics`)).text();
  /** @type {Record<string, number>} */
  const found = {};
  for (const [, label, value] of text.matchAll(new RegExp(`^${series}\\{[a-z_]+="([^"]+)"\\} (\\d+)`, 'gm'))) found[label] = Number(value);
  return found;
}

/** @param {Record<string, number>} before @param {Record<string, number>} after @param {string} label */
const grown = (before, after, label) => (after[label] ?? 0) - (before[label] ?? 0);

/**
 * @param {Bench} bench
 * @returns {Promise<Row[]>}
 */
export async function denseAssignmentFigure(bench) {
  const { assignConcurrency: concurrency } = bench.settings;
  const areas = denseAreas(bench.settings);
  const serviceAreas = areas.slice(0, areas.length / 2);
  const baselineAreas = areas.slice(areas.length / 2);
  const client = createClient(bench.service.url, { maxSockets: concurrency });
  const signer = webhookSigner(bench.secrets.vendureSecret);
  const prefix = `bench-dense-${Date.now().toString(36)}`;
  let n = 0;

  /** @param {City} area */
  const serviceOrder = (area) => async () => {
    const pickup = area.randomPoint();
    const body = JSON.stringify({ sellerOrderId: `${prefix}-s${n++}`, pickupLat: pickup.lat, pickupLon: pickup.lon });
    const answer = await client.request('POST', '/events/seller-order-ready', { body, headers: signer.headers(body) });
    if (answer.status !== 200) throw new Error(`seller-order-ready answered ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body.assigned ? 'assigned' : 'no-driver';
  };
  /** @param {import('pg').Pool} pool @param {City} area */
  const baselineOrder = (pool, area) => async () => {
    const pickup = area.randomPoint();
    const { rowCount } = await pool.query(MINIMAL_CLAIM, [`${prefix}-b${n++}`, pickup.lat, pickup.lon]);
    return rowCount === 1 ? 'assigned' : 'no-driver';
  };
  /** @param {City[]} queue @param {(area: City) => () => Promise<string>} task */
  const side = (queue, task) => async () => {
    const area = queue.shift();
    if (!area) throw new Error('dense demand: no area left for this round');
    const m = await countedLoop({ concurrency, count: DENSE_ORDERS, task: task(area) });
    return { ...m, rps: (m.outcomes.assigned ?? 0) / m.seconds, noDriver: m.outcomes['no-driver'] ?? 0 };
  };

  log(`dense demand: ${DENSE_ORDERS} orders per round among ${DENSE_FLEET} drivers in 27 x 27 km, ${concurrency} at a time`);
  const claimsBefore = await counts(bench.service.url, 'assignment_claims_total');
  const windowsBefore = await counts(bench.service.url, 'nearest_search_windows_total');
  try {
    const { service, baseline } = await bench.withPool(concurrency, (pool) =>
      compare(bench, 'dense-demand assignments', {
        service: side(serviceAreas, serviceOrder),
        baseline: side(baselineAreas, (area) => baselineOrder(pool, area)),
      }),
    );
    if (service.noDriver || baseline.noDriver)
      bench.notes.push(`dense demand: no driver answers: service ${service.noDriver}, baseline ${baseline.noDriver}.`);
    const claimsAfter = await counts(bench.service.url, 'assignment_claims_total');
    const lost = grown(claimsBefore, claimsAfter, 'driver-taken');
    const won = grown(claimsBefore, claimsAfter, 'assigned');
    const windowsAfter = await counts(bench.service.url, 'nearest_search_windows_total');
    const windows = Object.keys(windowsAfter).map((source) => ({ source, n: grown(windowsBefore, windowsAfter, source) }));
    const allWindows = windows.reduce((sum, w) => sum + w.n, 0);
    bench.notes.push(
      `dense demand: service p50 ${service.p50.toFixed(1)} ms, p99 ${service.p99.toFixed(1)} ms per order; ` +
        `${won} claims won and ${lost} lost (${(lost / Math.max(1, won)).toFixed(2)} lost per assignment); ` +
        `${allWindows} search windows, by source: ` +
        windows
          .filter((w) => w.n > 0)
          .map((w) => `${w.source} ${w.n} (${((100 * w.n) / allWindows).toFixed(1)} %)`)
          .join(', ') +
        '.',
    );
    const doubles = await doubleAssignments(bench.sql);
    return [
      ratioRow(
        `assignments/s under dense demand (${DENSE_FLEET} drivers in 27 x 27 km), ${concurrency} conc, vs the minimal claim`,
        '/s',
        service.rps,
        baseline.rps,
        { text: '≥ 50 %', percent: true, holds: (r) => service.errors === 0 && service.noDriver === 0 && r >= 0.5 },
      ),
      plainRow(
        `double assignments after dense demand (${doubles.deliveries} deliveries checked)`,
        `${doubles.drivers} drivers, ${doubles.orders} orders`,
        '0',
        doubles.drivers === 0 && doubles.orders === 0 && doubles.notBusy === 0,
      ),
    ];
  } finally {
    client.close();
  }
}
