import { beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { LocationWriter } from '../src/availability/location-writer.js';
import { DriverStateMirror } from '../src/fleet/state-mirror.js';
import { eventually } from './support/eventually.js';
import { CreatedDriver, newDriver } from './support/factories.js';
import { sendEvent } from './support/fleet.js';
import { useServiceEnvironment } from './support/service-environment.js';
import { signedHeaders } from './support/signing.js';
import { admin, bearer, DRIVER_SECRET, TestApp } from './support/test-app.js';

const BERLIN = { lat: 52.52, lon: 13.405 };

/**
 * The fleet's after-commit path: every driver state change that commits
 * (status, activation, a claim, a release), whichever route causes it, is in
 * Redis by the time the answer arrives. After each step, every driver's
 * Redis copy is compared with PostgreSQL: its `drivers:status` entry
 * ("STATUS:active:version") and its GEO membership (exactly the choosable).
 */
describe('driver state: every committed change is in Redis before the answer', () => {
  const env = useServiceEnvironment('state_mirror');
  let redis: Redis;
  let sql: pg.Client;
  let t: TestApp;
  const http = () => request(t.server);

  beforeAll(() => {
    ({ redis, sql, t } = env);
  });
  beforeEach(() => env.reset());

  /** Where Redis and PostgreSQL disagree, one line per driver and difference; [] when they agree. */
  async function differences(): Promise<string[]> {
    // Pings wait in the write-behind buffer for up to 250 ms: PostgreSQL's heartbeat must be current to judge.
    await t.app.get(LocationWriter).flush();
    const { rows } = await sql.query<{ id: string; state: string; choosable: boolean }>(
      `SELECT id, status || ':' || (CASE WHEN is_active THEN 1 ELSE 0 END) || ':' || state_version AS state,
              is_active AND status = 'AVAILABLE' AND last_lat IS NOT NULL AND last_seen_at >= now() - interval '60 seconds' AS choosable
       FROM drivers ORDER BY id`,
    );
    const geo = new Set(await redis.zrange('drivers:geo', 0, -1));
    const found: string[] = [];
    for (const row of rows) {
      const mirrored = await redis.hget('drivers:status', row.id);
      if (mirrored !== row.state) found.push(`${row.id}: Redis has ${mirrored}, PostgreSQL ${row.state}`);
      if (geo.has(row.id) !== row.choosable)
        found.push(`${row.id}: ${geo.has(row.id) ? 'in' : 'not in'} the GEO set, choosable ${row.choosable}`);
    }
    return found;
  }

  /** The driver is known to Redis (its first ping), located and fresh. */
  async function located(fields: Record<string, unknown> = {}): Promise<CreatedDriver> {
    const driver = await newDriver(t, fields);
    await http().patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(BERLIN).expect(200);
    return driver;
  }
  const setStatus = (driver: CreatedDriver, status: string, headers: Record<string, string> = bearer(driver.token)) =>
    http().patch(`/drivers/${driver.id}/status`).set(headers).send({ status }).expect(200);
  const backendSetStatus = (driver: CreatedDriver, status: string) => {
    const raw = JSON.stringify({ status });
    return http()
      .patch(`/drivers/${driver.id}/status`)
      .set({ 'content-type': 'application/json', ...signedHeaders(DRIVER_SECRET, raw) })
      .send(raw)
      .expect(200);
  };
  const ready = async (sellerOrderId: string) =>
    (await sendEvent(t, 'seller-order-ready', { sellerOrderId, pickupLat: BERLIN.lat, pickupLon: BERLIN.lon }).expect(200)).body as {
      assigned: boolean;
      deliveryId: string;
      driverId: string;
    };
  const report = (deliveryId: string, status: string) =>
    http().patch(`/deliveries/${deliveryId}/status`).set(admin).send({ status }).expect(200);

  it('after status changes by the driver, an operator and the driver app backend', async () => {
    const [ada, bob, cy] = [await located(), await located(), await located()];
    expect(await differences()).toEqual([]);
    await setStatus(ada, 'AVAILABLE');
    expect(await differences()).toEqual([]);
    await setStatus(bob, 'AVAILABLE', admin);
    expect(await differences()).toEqual([]);
    await backendSetStatus(cy, 'AVAILABLE');
    expect(await differences()).toEqual([]);
    await setStatus(ada, 'OFFLINE');
    expect(await differences()).toEqual([]);
    expect(await redis.zrange('drivers:geo', 0, -1)).toEqual([bob.id, cy.id].sort());
  });

  it('after a deactivation and a reactivation, alone and with a profile change', async () => {
    const ada = await located();
    await setStatus(ada, 'AVAILABLE');
    await http().patch(`/drivers/${ada.id}`).set(admin).send({ isActive: false }).expect(200);
    expect(await differences()).toEqual([]);
    await http().patch(`/drivers/${ada.id}`).set(admin).send({ name: 'Ada L.', isActive: true }).expect(200);
    expect(await differences()).toEqual([]);
    expect(await redis.zrange('drivers:geo', 0, -1)).toEqual([ada.id]);
  });

  it('after claims (one alone, several at once) and after every way a delivery ends', async () => {
    const drivers = [await located(), await located(), await located(), await located(), await located()];
    for (const driver of drivers) await setStatus(driver, 'AVAILABLE');

    const first = await ready('SO-1');
    expect(first.assigned).toBe(true);
    expect(await differences()).toEqual([]);
    // Claims of one event-loop turn share one statement: each claimed driver is mirrored.
    const together = await Promise.all(['SO-2', 'SO-3', 'SO-4'].map(ready));
    expect(together.every((answer) => answer.assigned)).toBe(true);
    expect(await differences()).toEqual([]);
    expect(await redis.zcard('drivers:geo')).toBe(1);

    await report(first.deliveryId, 'PICKED_UP');
    await report(first.deliveryId, 'DELIVERED');
    expect(await differences()).toEqual([]);
    await report(together[0].deliveryId, 'FAILED');
    expect(await differences()).toEqual([]);
    await report(together[1].deliveryId, 'CANCELLED');
    expect(await differences()).toEqual([]);
    await sendEvent(t, 'seller-order-cancelled', { sellerOrderId: 'SO-4' }).expect(200);
    expect(await differences()).toEqual([]);
    expect(await redis.zcard('drivers:geo')).toBe(5);
  });

  it('after a claim made alone because its driver was held by another transaction', async () => {
    const ada = await located();
    await setStatus(ada, 'AVAILABLE');
    const other = new pg.Client({ connectionString: env.database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM drivers WHERE id = $1 FOR UPDATE', [ada.id]);
      const answer = ready('SO-held');
      await eventually(
        async () =>
          (await sql.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rowCount! > 0,
        { what: 'the claim waiting for the driver' },
      );
      await other.query('COMMIT');
      expect((await answer).driverId).toBe(ada.id);
    } finally {
      await other.end();
    }
    expect(await differences()).toEqual([]);
  });

  it('keeps the profile as committed: after creation and each change, and an older copy never replaces a newer one', async () => {
    /** The profile Redis holds ("updatedAtMs JSON"), next to PostgreSQL's row. */
    const copyOf = async (id: string) => {
      const value = (await redis.hget('drivers:profile', id))!;
      const space = value.indexOf(' ');
      return { updatedAt: Number(value.slice(0, space)), ...JSON.parse(value.slice(space + 1)) };
    };
    const rowOf = async (id: string) => {
      const [row] = (await sql.query('SELECT name, phone, vehicle_type, created_at, updated_at FROM drivers WHERE id = $1', [id])).rows;
      return {
        updatedAt: row.updated_at.getTime(),
        name: row.name,
        phone: row.phone,
        vehicleType: row.vehicle_type,
        createdAt: row.created_at.getTime(),
      };
    };
    const ada = await newDriver(t, { name: 'Ada', vehicleType: 'bike' });
    expect(await copyOf(ada.id)).toEqual(await rowOf(ada.id));
    await http().patch(`/drivers/${ada.id}`).set(admin).send({ name: 'Ada L.', vehicleType: 'car' }).expect(200);
    const changed = await rowOf(ada.id);
    expect(changed).toMatchObject({ name: 'Ada L.', vehicleType: 'car' });
    expect(await copyOf(ada.id)).toEqual(changed);
    // A reconciliation that read the row before the change (an older updated_at) leaves the newer copy alone.
    const mirror = t.app.get(DriverStateMirror);
    await mirror.saveProfile({
      id: ada.id,
      name: 'Ada',
      phone: ada.body.phone as string,
      vehicleType: 'bike',
      createdAt: new Date(changed.createdAt),
      updatedAt: new Date(changed.updatedAt - 1),
    });
    expect(await copyOf(ada.id)).toEqual(changed);
  });

  it('the comparison finds a change that did not reach Redis', async () => {
    const ada = await located();
    const skip = jest.spyOn(t.app.get(DriverStateMirror), 'applyStates').mockResolvedValue([]);
    try {
      await setStatus(ada, 'AVAILABLE');
    } finally {
      skip.mockRestore();
    }
    expect(await differences()).toEqual([
      expect.stringMatching(new RegExp(`^${ada.id}: Redis has OFFLINE:1:0, PostgreSQL AVAILABLE:1:1$`)),
      `${ada.id}: not in the GEO set, choosable true`,
    ]);
  });
});
