import { beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { eventually } from './support/eventually.js';
import { insertDrivers, scatter } from './support/fleet.js';
import { useServiceCluster } from './support/service-cluster.js';
import type { ServiceProcess } from './support/service-process.js';
import { signedHeaders } from './support/signing.js';
import { ADMIN_KEY, VENDURE_SECRET } from './support/test-app.js';

const FLEET = 50;
const ORDERS = 200;
const COPIES = 50;
const CENTRE = { lat: 52.52, lon: 13.405 };

type ReadyAnswer =
  | { assigned: true; sellerOrderId: string; deliveryId: string; driverId: string; distanceMeters: number }
  | { assigned: false; sellerOrderId: string; reason: string };

/**
 * Two built service processes on one PostgreSQL and one Redis, as PM2 runs
 * them in cluster mode: assignment under contention across processes never
 * gives one driver two live deliveries nor one order two deliveries.
 */
describe('assignment across two service processes sharing the databases (as under PM2)', () => {
  let fleetIds: string[] = [];
  const cluster = useServiceCluster('assignment_processes', {
    processes: 2,
    env: { VENDURE_WEBHOOK_SECRET: VENDURE_SECRET, ADMIN_API_KEY: ADMIN_KEY },
    // The fleet is in PostgreSQL before the processes start: their start-up reconciliation puts it in Redis.
    seed: async (sql) => {
      fleetIds = (await insertDrivers(sql, scatter(FLEET, CENTRE, 5), { status: 'AVAILABLE' })).map((d) => d.id);
    },
  });
  let redis: Redis;
  let sql: pg.Client;
  let services: ServiceProcess[];
  let bases: string[];

  beforeAll(async () => {
    ({ redis, sql, services, bases } = cluster);
    await eventually(async () => (await redis.exists('drivers:synced')) === 1 && (await redis.zcard('drivers:geo')) === FLEET, {
      what: 'start-up reconciliation to put the fleet in drivers:geo',
    });
  });

  /** A Vendure event as Vendure sends it: the exact JSON string signed, its own webhook-id. */
  async function post(target: number, path: string, body: object): Promise<{ status: number; body: unknown }> {
    const raw = JSON.stringify(body);
    const response = await fetch(`${bases[target]}/events/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, raw) },
      body: raw,
    });
    return { status: response.status, body: await response.json() };
  }

  const scalar = async (query: string, params: unknown[] = []) => (await sql.query(query, params)).rows[0].n as number;

  /** Everything the logs said that looks like trouble, to explain a failure. */
  const troubleInLogs = () => services.flatMap((s) => (s.stderr + s.stdout).split('\n').filter((l) => /"level":"(error|warn)"/.test(l)));

  let assignedAnswers: Array<Extract<ReadyAnswer, { assigned: true }>> = [];

  it(`${ORDERS} orders at once for ${FLEET} drivers: exactly ${FLEET} assigned, each to its own driver`, async () => {
    const pickups = scatter(ORDERS, CENTRE, 6);
    const responses = await Promise.all(
      pickups.map((pickup, i) =>
        post(i % 2, 'seller-order-ready', { sellerOrderId: `SO-PM2-${i}`, pickupLat: pickup.lat, pickupLon: pickup.lon }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    if (statuses.some((s) => s !== 200)) console.error(responses.filter((r) => r.status !== 200).slice(0, 5), troubleInLogs());
    expect(statuses).toEqual(Array(ORDERS).fill(200));

    const answers = responses.map((r) => r.body as ReadyAnswer);
    answers.forEach((answer, i) => expect(answer.sellerOrderId).toBe(`SO-PM2-${i}`));
    assignedAnswers = answers.filter((a): a is Extract<ReadyAnswer, { assigned: true }> => a.assigned);
    const refused = answers.filter((a) => !a.assigned);
    expect(assignedAnswers).toHaveLength(FLEET);
    expect(refused).toHaveLength(ORDERS - FLEET);
    for (const answer of refused)
      expect(answer).toEqual({ assigned: false, sellerOrderId: answer.sellerOrderId, reason: 'NO_DRIVER_AVAILABLE' });

    const driverIds = assignedAnswers.map((a) => a.driverId);
    expect(new Set(driverIds).size).toBe(FLEET);
    expect([...driverIds].sort()).toEqual([...fleetIds].sort());
    expect(new Set(assignedAnswers.map((a) => a.deliveryId)).size).toBe(FLEET);
    // Both processes took part in assigning.
    const byProcess = [0, 1].map((p) => answers.filter((a, i) => i % 2 === p && a.assigned).length);
    expect(byProcess[0] + byProcess[1]).toBe(FLEET);

    // PostgreSQL agrees with the answers.
    expect(await scalar('SELECT count(*)::int AS n FROM deliveries')).toBe(FLEET);
    expect(await scalar(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'ASSIGNED'`)).toBe(FLEET);
    expect(await scalar(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(FLEET);
    const { rows: doubled } = await sql.query(
      `SELECT driver_id FROM deliveries WHERE status IN ('ASSIGNED', 'PICKED_UP') GROUP BY driver_id HAVING count(*) > 1`,
    );
    expect(doubled).toEqual([]);
    const { rows: stored } = await sql.query('SELECT id, seller_order_id, driver_id FROM deliveries');
    expect(stored.map((r) => `${r.id} ${r.seller_order_id} ${r.driver_id}`).sort()).toEqual(
      assignedAnswers.map((a) => `${a.deliveryId} ${a.sellerOrderId} ${a.driverId}`).sort(),
    );
    expect(await scalar(`SELECT count(*)::int AS n FROM delivery_events WHERE type = 'delivery.assigned'`)).toBe(FLEET);

    // Every BUSY driver left the GEO set before its answer was sent.
    expect(await redis.zcard('drivers:geo')).toBe(0);
  });

  it(`${COPIES} simultaneous copies of one order, on both processes, make one delivery and one answer`, async () => {
    expect(assignedAnswers).toHaveLength(FLEET);
    // Free one driver, through the second process.
    const freed = assignedAnswers[0];
    const cancelled = await post(1, 'seller-order-cancelled', { sellerOrderId: freed.sellerOrderId, reason: 'free a driver' });
    expect(cancelled).toEqual({ status: 200, body: { cancelled: true, deliveryId: freed.deliveryId } });
    expect(await redis.zrange('drivers:geo', 0, -1)).toEqual([freed.driverId]);

    const order = { sellerOrderId: 'SO-PM2-DUP', pickupLat: CENTRE.lat, pickupLon: CENTRE.lon };
    const responses = await Promise.all(Array.from({ length: COPIES }, (_, i) => post(i % 2, 'seller-order-ready', order)));
    const statuses = responses.map((r) => r.status);
    if (statuses.some((s) => s !== 200)) console.error(responses.filter((r) => r.status !== 200).slice(0, 5), troubleInLogs());
    expect(statuses).toEqual(Array(COPIES).fill(200));

    const first = responses[0].body as ReadyAnswer;
    const summary = (a: ReadyAnswer) => (a.assigned ? `assigned ${a.deliveryId} ${a.driverId}` : `not assigned: ${a.reason}`);
    // Contract: a repeat for an order with a live delivery answers the same deliveryId and driverId,
    // "however many repeats arrive and however concurrently" - so a copy that lost the race for the
    // driver must not answer NO_DRIVER_AVAILABLE.
    const distinct = [...new Set(responses.map((r) => summary(r.body as ReadyAnswer)))];
    expect(distinct).toEqual([summary(first)]);
    expect(first).toMatchObject({ assigned: true, sellerOrderId: 'SO-PM2-DUP', driverId: freed.driverId });

    const { rows } = await sql.query(`SELECT id, status, driver_id FROM deliveries WHERE seller_order_id = 'SO-PM2-DUP'`);
    expect(rows).toEqual([{ id: (first as { deliveryId: string }).deliveryId, status: 'ASSIGNED', driver_id: freed.driverId }]);
    expect(await scalar(`SELECT count(*)::int AS n FROM drivers WHERE status = 'BUSY'`)).toBe(FLEET);
    expect(await redis.zcard('drivers:geo')).toBe(0);
  });

  it('both processes stop cleanly (exit 0)', async () => {
    const codes = await Promise.all(services.map((service) => service.stop()));
    expect(codes).toEqual([0, 0]);
  });
});
