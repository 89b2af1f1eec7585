import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { eventually } from './support/eventually.js';
import { insertDrivers, scatter } from './support/fleet.js';
import { useServiceCluster } from './support/service-cluster.js';
import { ServiceProcess, startServiceProcesses } from './support/service-process.js';
import { signedHeaders } from './support/signing.js';
import { ADMIN_KEY, VENDURE_SECRET } from './support/test-app.js';

const CENTRE = { lat: 52.52, lon: 13.405 };
const ENV = { VENDURE_WEBHOOK_SECRET: VENDURE_SECRET, ADMIN_API_KEY: ADMIN_KEY, DISPATCH_TIMER_INTERVAL_MS: '50' };
const north = (km: number) => ({ lat: CENTRE.lat + km / 111.195, lon: CENTRE.lon });

/** What the tests read of an answer: a delivery or a seller-order-ready answer, or an error's code. */
interface Answer {
  status?: string;
  deliveryId: string;
  driverId?: string | null;
  code?: string;
}

/** Calls on built service processes, as Vendure and an operator make them. */
function client(bases: () => string[], sql: () => pg.Client) {
  const call = async (target: number, method: string, path: string, body?: object, headers: Record<string, string> = {}) => {
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const response = await fetch(`${bases()[target]}${path}`, {
      method,
      headers: { ...(raw === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: raw,
    });
    return { status: response.status, body: (await response.json()) as Answer };
  };
  const operator = { authorization: `Bearer ${ADMIN_KEY}` };
  return {
    ready: (target: number, body: object) =>
      call(target, 'POST', '/events/seller-order-ready', body, signedHeaders(VENDURE_SECRET, JSON.stringify(body))),
    admin: (target: number, method: string, path: string, body?: object) => call(target, method, path, body, operator),
    scalar: async (query: string, params: unknown[] = []) => (await sql().query(query, params)).rows[0].n as number,
    types: async (deliveryId: string) =>
      (await sql().query(`SELECT type FROM delivery_events WHERE delivery_id = $1 ORDER BY seq`, [deliveryId])).rows.map((r) =>
        (r.type as string).replace('delivery.', ''),
      ),
    /** No driver holds two live deliveries or offers, no order has two live deliveries. */
    doubles: async () =>
      (
        await sql().query(`
          SELECT (SELECT count(*) FROM (SELECT driver_id FROM deliveries WHERE status IN ('OFFERED', 'ASSIGNED', 'PICKED_UP')
                                         GROUP BY driver_id HAVING count(*) > 1) x)::int AS drivers,
                 (SELECT count(*) FROM (SELECT seller_order_id FROM deliveries WHERE status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')
                                         GROUP BY seller_order_id HAVING count(*) > 1) y)::int AS orders`)
      ).rows[0],
  };
}

/**
 * Dispatch across two built service processes on one PostgreSQL and one
 * Redis, as PM2 runs them: the races of the contract have one winner however
 * the requests and the timers are spread over the processes.
 */
describe('dispatch across two service processes (as under PM2)', () => {
  const cluster = useServiceCluster('dispatch_processes', { processes: 2, env: ENV });
  let redis: Redis;
  let sql: pg.Client;
  let services: ServiceProcess[];
  const api = client(
    () => cluster.bases,
    () => sql,
  );

  beforeAll(async () => {
    ({ redis, sql, services } = cluster);
    await eventually(async () => (await redis.exists('drivers:synced')) === 1, { what: 'start-up reconciliation' });
  });

  /** Drivers at `points`, made AVAILABLE by an operator through alternate processes. */
  async function availableDrivers(points: Array<{ lat: number; lon: number }>): Promise<string[]> {
    const drivers = await insertDrivers(sql, points, { status: 'OFFLINE' });
    const answers = await Promise.all(drivers.map((d, i) => api.admin(i % 2, 'PATCH', `/drivers/${d.id}/status`, { status: 'AVAILABLE' })));
    expect(answers.map((a) => a.status)).toEqual(drivers.map(() => 200));
    return drivers.map((d) => d.id);
  }

  /** Ends every live delivery and takes every driver out of service, so each test starts with its own drivers only. */
  async function idle(): Promise<void> {
    const { rows } = await sql.query(
      `SELECT seller_order_id FROM deliveries WHERE status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')`,
    );
    for (const row of rows) {
      const body = { sellerOrderId: row.seller_order_id };
      const response = await fetch(`${cluster.bases[0]}/events/seller-order-cancelled`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signedHeaders(VENDURE_SECRET, JSON.stringify(body)) },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
    }
    const { rows: drivers } = await sql.query(`SELECT id FROM drivers WHERE is_active`);
    for (const d of drivers) expect((await api.admin(0, 'PATCH', `/drivers/${d.id}`, { isActive: false })).status).toBe(200);
  }

  /** The given drivers back in service, AVAILABLE. */
  async function revive(ids: string[]): Promise<void> {
    for (const id of ids) {
      expect((await api.admin(1, 'PATCH', `/drivers/${id}`, { isActive: true })).status).toBe(200);
      expect((await api.admin(0, 'PATCH', `/drivers/${id}/status`, { status: 'AVAILABLE' })).status).toBe(200);
    }
  }

  it('100 waiting orders against 30 drivers going AVAILABLE at once, through both processes', async () => {
    const pickups = scatter(100, CENTRE, 4);
    const ids: string[] = [];
    for (let i = 0; i < pickups.length; i++) {
      const answer = await api.ready(i % 2, {
        sellerOrderId: `SO-P-CROWD-${String(i).padStart(3, '0')}`,
        pickupLat: pickups[i].lat,
        pickupLon: pickups[i].lon,
        maxWaitSeconds: 600,
      });
      expect(answer.body.status).toBe('PENDING');
      ids.push(answer.body.deliveryId);
    }
    await availableDrivers(scatter(30, CENTRE, 3));
    const assigned = await eventually(
      async () => {
        const { rows } = await sql.query(`SELECT id, driver_id FROM deliveries WHERE status = 'ASSIGNED'`);
        return rows.length === 30 ? rows : undefined;
      },
      { what: '30 orders assigned' },
    );
    expect(new Set(assigned.map((r) => r.driver_id)).size).toBe(30);
    expect(assigned.map((r) => r.id).sort()).toEqual(ids.slice(0, 30).sort());
    expect(await api.scalar(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'PENDING'`)).toBe(70);
    expect(await api.scalar(`SELECT count(*)::int AS n FROM delivery_events WHERE type = 'delivery.assigned'`)).toBe(30);
    expect(await api.doubles()).toEqual({ drivers: 0, orders: 0 });
    await idle();
  });

  it('accept on one process against the offer timing out on either: one outcome', async () => {
    const pair = await availableDrivers([north(0.1), north(1)]);
    const [a] = pair;
    for (let round = 0; round < 8; round++) {
      const order = { sellerOrderId: `SO-P-TIMEOUT-${round}`, pickupLat: CENTRE.lat, pickupLon: CENTRE.lon, dispatchMode: 'offer' };
      const offered = await api.ready(round % 2, order);
      expect(offered.body).toMatchObject({ status: 'OFFERED', driverId: a });
      const id = offered.body.deliveryId;
      await sql.query(
        `UPDATE deliveries SET offer_expires_at = now() + make_interval(secs => $2), due_at = now() + make_interval(secs => $2) WHERE id = $1`,
        [id, (round % 4) * 0.02],
      );
      // An operator accepts for a, naming it: the answer holds only while a holds the offer.
      const accepted = await api.admin((round + 1) % 2, 'POST', `/deliveries/${id}/accept`, { driverId: a });
      if (accepted.status === 200) {
        expect(accepted.body).toMatchObject({ status: 'ASSIGNED', driverId: a });
        expect(await api.types(id)).toEqual(['offered', 'assigned']);
      } else {
        expect({ status: accepted.status, code: accepted.body.code }).toEqual({ status: 409, code: 'OFFER_EXPIRED' });
        await eventually(async () => (await api.types(id)).includes('pending') || undefined, { what: 'the timeout to fire' });
        const types = await api.types(id);
        expect(types.filter((t) => t === 'assigned' || t === 'pending')[0]).toBe('pending');
        expect(types.filter((t) => t === 'pending')).toHaveLength(1);
      }
      expect(await api.doubles()).toEqual({ drivers: 0, orders: 0 });
      await idle();
      await revive(pair);
    }
    await idle();
  });

  it('accept on one process against reassign on the other: one outcome', async () => {
    const pair = await availableDrivers([north(0.1), north(1)]);
    const [a] = pair;
    for (let round = 0; round < 6; round++) {
      const offered = await api.ready(0, {
        sellerOrderId: `SO-P-REASSIGN-${round}`,
        pickupLat: CENTRE.lat,
        pickupLon: CENTRE.lon,
        dispatchMode: 'offer',
      });
      expect(offered.body.driverId).toBe(a);
      const id = offered.body.deliveryId;
      const [accepted, reassigned] = await Promise.all([
        api.admin(round % 2, 'POST', `/deliveries/${id}/accept`, { driverId: a }),
        api.admin((round + 1) % 2, 'POST', `/deliveries/${id}/reassign`, {}),
      ]);
      expect(reassigned.status).toBe(200);
      const types = await api.types(id);
      // Accepted first (offered, assigned, then taken off: pending) or taken off first (the accept found no offer).
      if (accepted.status === 200) expect(types.slice(0, 3)).toEqual(['offered', 'assigned', 'pending']);
      else {
        expect(accepted.body.code).toBe('OFFER_NOT_PENDING');
        expect(types.slice(0, 2)).toEqual(['offered', 'pending']);
      }
      expect(types.filter((t) => t === 'pending')).toHaveLength(1);
      expect(await api.doubles()).toEqual({ drivers: 0, orders: 0 });
      await idle();
      await revive(pair);
    }
    await idle();
  });

  it('decline on one process against repeats of the ready event on both', async () => {
    const [a, b] = await availableDrivers([north(0.1), north(1)]);
    const order = { sellerOrderId: 'SO-P-DECLINE', pickupLat: CENTRE.lat, pickupLon: CENTRE.lon, dispatchMode: 'offer' };
    const id = (await api.ready(0, order)).body.deliveryId;
    const [declined, ...repeats] = await Promise.all([
      api.admin(1, 'POST', `/deliveries/${id}/decline`, { driverId: a }),
      ...Array.from({ length: 10 }, (_, i) => api.ready(i % 2, order)),
    ]);
    expect(declined.status).toBe(200);
    for (const repeat of repeats)
      expect({ status: repeat.status, deliveryId: repeat.body.deliveryId }).toEqual({ status: 200, deliveryId: id });
    const { rows } = await sql.query(`SELECT id, status, driver_id FROM deliveries WHERE seller_order_id = 'SO-P-DECLINE'`);
    expect(rows).toEqual([{ id, status: 'OFFERED', driver_id: b }]);
    expect(
      await api.scalar(
        `SELECT count(*)::int AS n FROM delivery_events WHERE delivery_id = $1 AND type = 'delivery.offered' AND data->>'driverId' = $2`,
        [id, a],
      ),
    ).toBe(1);
    expect(await api.doubles()).toEqual({ drivers: 0, orders: 0 });
    await idle();
  });

  it('both processes stop cleanly (exit 0)', async () => {
    expect(await Promise.all(services.map((service) => service.stop()))).toEqual([0, 0]);
  });
});

/**
 * Timers are rows in PostgreSQL: a process that made offers and waits is
 * SIGKILLed; the processes started after it fire each of them exactly once.
 */
describe('dispatch timers survive a SIGKILL', () => {
  // The first process never looks at its timers itself (once a minute): only the later ones fire them.
  const cluster = useServiceCluster('dispatch_sigkill', { processes: 1, env: { ...ENV, DISPATCH_TIMER_INTERVAL_MS: '60000' } });
  let sql: pg.Client;
  let later: ServiceProcess[] = [];
  const api = client(
    () => cluster.bases,
    () => sql,
  );

  beforeAll(() => {
    ({ sql } = cluster);
  });
  afterAll(async () => {
    await Promise.all(later.map((service) => service.stop()));
  });

  it('fires every offer timeout and every end of a wait once, after the process holding them was killed', async () => {
    const drivers = await insertDrivers(sql, scatter(5, CENTRE, 2), { status: 'OFFLINE' });
    for (const d of drivers) expect((await api.admin(0, 'PATCH', `/drivers/${d.id}/status`, { status: 'AVAILABLE' })).status).toBe(200);
    const offers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await api.ready(0, {
        sellerOrderId: `SO-K-OFFER-${i}`,
        pickupLat: CENTRE.lat,
        pickupLon: CENTRE.lon,
        dispatchMode: 'offer',
      });
      expect(answer.body.status).toBe('OFFERED');
      offers.push(answer.body.deliveryId);
    }
    const waits: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await api.ready(0, { sellerOrderId: `SO-K-WAIT-${i}`, pickupLat: 10, pickupLon: 10, maxWaitSeconds: 3600 });
      expect(answer.body.status).toBe('PENDING');
      waits.push(answer.body.deliveryId);
    }
    const [first] = cluster.services;
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    // Every deadline has passed.
    await sql.query(`UPDATE deliveries SET offer_expires_at = now(), due_at = now() WHERE id = ANY($1::uuid[])`, [offers]);
    await sql.query(`UPDATE deliveries SET wait_until = now(), due_at = now() WHERE id = ANY($1::uuid[])`, [waits]);
    ({ services: later } = await startServiceProcesses(2, {
      DATABASE_URL: cluster.database.url,
      REDIS_URL: cluster.redisServer.url,
      ...ENV,
    }));

    await eventually(
      async () =>
        (await api.scalar(`SELECT count(*)::int AS n FROM deliveries WHERE id = ANY($1::uuid[]) AND status = 'EXPIRED'`, [waits])) === 5,
      {
        what: 'the waits to end',
      },
    );
    await eventually(
      async () =>
        (await api.scalar(`SELECT count(*)::int AS n FROM delivery_refusals WHERE delivery_id = ANY($1::uuid[])`, [offers])) === 5,
      { what: 'the offers to time out' },
    );
    // Fired once each: one timeout per offer, one expiry per wait, and one webhook each.
    for (const id of offers) {
      const types = await api.types(id);
      expect(types.slice(0, 2)).toEqual(['offered', 'pending']);
      expect(types.filter((t) => t === 'pending').length).toBeGreaterThanOrEqual(1);
      expect(
        await api.scalar(`SELECT count(*)::int AS n FROM delivery_events WHERE delivery_id = $1 AND data->>'reason' = 'OFFER_TIMEOUT'`, [
          id,
        ]),
      ).toBe(1);
    }
    for (const id of waits) expect(await api.types(id)).toEqual(['pending', 'expired']);
    expect(await api.scalar(`SELECT count(*)::int AS n FROM webhook_messages WHERE type = 'delivery.expired'`)).toBe(5);
    expect(await api.doubles()).toEqual({ drivers: 0, orders: 0 });
  });
});
