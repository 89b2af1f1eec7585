import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase } from './support/databases.js';
import { eventually } from './support/eventually.js';
import { insertDrivers, scatter } from './support/fleet.js';
import { freePort } from './support/free-port.js';
import { PrivateRedis } from './support/private-redis.js';
import { migrateWithBuiltService, ServiceProcess } from './support/service-process.js';
import { signedHeaders } from './support/signing.js';
import { ADMIN_KEY, VENDURE_SECRET } from './support/test-app.js';
import { ReceivedRequest, WebhookReceiver } from './support/webhook-receiver.js';

const CENTRE = { lat: 52.52, lon: 13.405 };
const FLEET = 40;
const DELIVERIES = 12;
/** Times the receiver refuses each message (503) before accepting it, in the two-relay test. */
const REFUSALS = 1;

interface Service {
  process: ServiceProcess;
  base: string;
}

interface MessageRow {
  id: string;
  deliveryId: string;
  deliverySeq: number;
  type: string;
  status: string;
  attempts: number;
  leased: boolean;
  lastError: string | null;
  waitsLong: boolean;
}

/**
 * The outbox across built service processes (dist/src/main.js) on one
 * PostgreSQL and one Redis: a process SIGKILLed before its message was
 * delivered (after a failed attempt, and in the middle of one), and two
 * processes relaying the same outbox at once (no message in flight twice,
 * order per delivery kept, a row another claimer holds passed over). The
 * receiver is real (node:http) and verifies every message with
 * `standardwebhooks`. Where the service would wait an hour or its 30 s lease,
 * the test moves the row's time instead, and says so.
 */
describe('webhooks to Vendure across service processes', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const redisServer = new PrivateRedis();
  let sql: pg.Client;
  const started: Service[] = [];
  const receivers: WebhookReceiver[] = [];
  let orders = 0;

  beforeAll(async () => {
    database = await createTestDatabase('webhooks_processes');
    await redisServer.start();
    // The schema first, with the built service's migrate script; the fleet is then in PostgreSQL
    // before any process starts, and each one's start-up reconciliation puts it in Redis.
    await migrateWithBuiltService(database.url);
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    await insertDrivers(sql, scatter(FLEET, CENTRE, 4));
  });

  afterAll(async () => {
    for (const { process: service } of started) {
      if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
      await service.exited;
    }
    for (const receiver of receivers) await receiver.close();
    await redisServer.stop();
    await sql?.end();
    await database?.drop();
  });

  // ---------------------------------------------------------------- helpers

  async function newReceiver(): Promise<WebhookReceiver> {
    const receiver = await new WebhookReceiver().start();
    receivers.push(receiver);
    return receiver;
  }

  async function startService(env: Record<string, string>): Promise<Service> {
    const port = await freePort();
    const service = new ServiceProcess({
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL: redisServer.url,
      VENDURE_WEBHOOK_SECRET: VENDURE_SECRET,
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      ...env,
    });
    const entry = { process: service, base: `http://127.0.0.1:${port}` };
    started.push(entry);
    await service.ready();
    return entry;
  }

  /** Stops whatever an earlier test (perhaps a failed one) left running: each test chooses its own senders. */
  async function stopLeftovers(): Promise<void> {
    await Promise.all(started.map(({ process: service }) => service.stop()));
  }

  async function kill(service: Service): Promise<void> {
    service.process.child.kill('SIGKILL');
    await service.process.exited;
    expect(service.process.child.signalCode).toBe('SIGKILL');
  }

  async function call(service: Service, method: string, path: string, body: object, headers: Record<string, string>) {
    const response = await fetch(`${service.base}${path}`, { method, headers, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as { status?: string } };
  }

  /** Vendure's seller-order-ready, signed; a driver must be assigned. */
  async function assign(
    service: Service,
    { requestId, sellerOrderId }: { requestId?: string; sellerOrderId?: string } = {},
  ): Promise<{ deliveryId: string; sellerOrderId: string }> {
    orders += 1;
    const pickup = scatter(DELIVERIES * 4, CENTRE, 4)[orders % (DELIVERIES * 4)];
    const body = { sellerOrderId: sellerOrderId ?? `SO-WHP-${orders}`, pickupLat: pickup.lat, pickupLon: pickup.lon };
    const raw = JSON.stringify(body);
    const headers = {
      'content-type': 'application/json',
      ...signedHeaders(VENDURE_SECRET, raw),
      ...(requestId ? { 'x-request-id': requestId } : {}),
    };
    const response = await fetch(`${service.base}/events/seller-order-ready`, { method: 'POST', headers, body: raw });
    const answer = (await response.json()) as { assigned: boolean; deliveryId: string; sellerOrderId: string };
    expect({ status: response.status, assigned: answer.assigned }).toEqual({ status: 200, assigned: true });
    return answer;
  }

  const setStatus = async (service: Service, deliveryId: string, status: string) => {
    const response = await call(
      service,
      'PATCH',
      `/deliveries/${deliveryId}/status`,
      { status },
      {
        'content-type': 'application/json',
        authorization: `Bearer ${ADMIN_KEY}`,
      },
    );
    expect({ status: response.status, delivery: response.body.status }).toEqual({ status: 200, delivery: status });
  };

  const messageRows = async (where = 'true', params: unknown[] = []): Promise<MessageRow[]> =>
    (
      await sql.query(
        `SELECT id, delivery_id AS "deliveryId", delivery_seq AS "deliverySeq", type, status, attempts,
                lease_until > now() AS leased, last_error AS "lastError", next_attempt_at > now() + interval '50 minutes' AS "waitsLong"
         FROM webhook_messages WHERE ${where} ORDER BY delivery_seq`,
        params,
      )
    ).rows;

  const delivered = (where: string, params: unknown[], what: string) =>
    eventually(async () => (await messageRows(`status = 'delivered' AND ${where}`, params)).length > 0, { what, timeoutMs: 15_000 });

  async function webhookAttempts(service: Service): Promise<number> {
    const text = await (await fetch(`${service.base}/metrics`)).text();
    return Number(/^webhook_attempts_total (\S+)$/m.exec(text)?.[1]);
  }

  // ---------------------------------------------------------------- a process killed

  let survivor: Service;
  let receiver: WebhookReceiver;
  let relays: Service[] = [];

  it('committed, attempted against a closed port, process SIGKILLed: the next process sends it once it is due', async () => {
    receiver = await newReceiver();
    const closed = await freePort();
    // Nothing listens on `closed`: the attempt fails at once, and the next is an hour away.
    const doomed = await startService({
      VENDURE_WEBHOOK_URL: `http://127.0.0.1:${closed}/hooks`,
      WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,3600',
    });
    const { deliveryId } = await assign(doomed, { requestId: 'req-closed-port' });
    const [failed] = await eventually(
      async () => {
        const rows = await messageRows('delivery_id = $1 AND attempts = 1 AND NOT coalesce(lease_until > now(), false)', [deliveryId]);
        return rows.length === 1 && rows;
      },
      { what: 'the failed first attempt to be recorded' },
    );
    expect(failed).toMatchObject({ type: 'delivery.assigned', status: 'pending', waitsLong: true });
    expect(failed.lastError).not.toBeNull();
    await kill(doomed);
    expect(await messageRows('id = $1', [failed.id])).toEqual([expect.objectContaining({ status: 'pending', attempts: 1 })]);

    survivor = await startService({ VENDURE_WEBHOOK_URL: receiver.url, WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.1,0.1' });
    // Stands in for the hour passing: the outbox row is the only state, and it is now due.
    await sql.query('UPDATE webhook_messages SET next_attempt_at = now() WHERE id = $1', [failed.id]);
    await delivered('id = $1', [failed.id], 'the message after the restart');
    expect(receiver.attemptsOf(failed.id).map((r) => [r.answered, r.body?.type, r.headers['x-request-id']])).toEqual([
      [200, 'delivery.assigned', 'req-closed-port'],
    ]);
    expect(await messageRows('id = $1', [failed.id])).toEqual([expect.objectContaining({ attempts: 2 })]);
    expect(receiver.invalid()).toEqual([]);
    // Leave no relay running for the next test, whose first process must be the only sender.
    expect(await survivor.process.stop()).toBe(0);
  });

  it('killed mid-send (receiver hanging): the lease keeps others off; once it runs out the next process sends it, same webhook-id and body', async () => {
    await stopLeftovers();
    const hanging = await newReceiver();
    hanging.answerAlways('hang');
    receiver.reset();
    const killed = await startService({ VENDURE_WEBHOOK_URL: hanging.url });
    const { deliveryId } = await assign(killed, { requestId: 'req-killed-mid-send' });
    await hanging.waitFor((r) => r.requests.length === 1, 'the attempt it will never answer');
    const [inFlight] = hanging.requests;
    expect(inFlight.body).toMatchObject({ type: 'delivery.assigned', data: { deliveryId } });
    // Committed, claimed and being sent: pending, one attempt, leased.
    expect(await messageRows('id = $1', [inFlight.id])).toEqual([
      expect.objectContaining({ status: 'pending', attempts: 1, leased: true }),
    ]);

    await kill(killed);
    expect(await messageRows('id = $1', [inFlight.id])).toEqual([
      expect.objectContaining({ status: 'pending', attempts: 1, leased: true }),
    ]);

    survivor = await startService({ VENDURE_WEBHOOK_URL: receiver.url });
    // The dead process's lease still holds: a message written after it is sent, it is not (the relay
    // takes due messages oldest first, so this one would have gone first had it been claimable).
    const other = await assign(survivor);
    await delivered('delivery_id = $1', [other.deliveryId], "the later delivery's message");
    expect(receiver.attemptsOf(inFlight.id)).toEqual([]);

    // Stands in for the 30 s lease (LEASE_SECONDS in webhook-relay.service.ts) running out, which this
    // file would otherwise have to wait for: a killed sender's lease is what keeps the message from
    // being sent twice at once, and its expiry is what makes it be sent at all.
    await sql.query('UPDATE webhook_messages SET lease_until = now() WHERE id = $1', [inFlight.id]);
    await delivered('id = $1', [inFlight.id], 'the message the killed process was sending');
    const resent = receiver.attemptsOf(inFlight.id);
    expect(resent.map((r) => r.answered)).toEqual([200]);
    expect(resent[0].rawBody).toBe(inFlight.rawBody);
    expect(resent[0].headers['x-request-id']).toBe('req-killed-mid-send');
    expect(await messageRows('id = $1', [inFlight.id])).toEqual([expect.objectContaining({ attempts: 2 })]);
    expect([...hanging.invalid(), ...receiver.invalid()]).toEqual([]);
    expect(await survivor.process.stop()).toBe(0);
  });

  // ---------------------------------------------------------------- two relays

  it(`two processes relaying at once: ${DELIVERIES * 3} messages over ${DELIVERIES} deliveries, none sent twice at the same time, all in order per delivery`, async () => {
    await stopLeftovers();
    receiver.reset();
    // Each message is refused (503) REFUSALS times, then accepted, and retries are due at once: both
    // relays keep claiming while sends are in flight, so they contend for the same due messages. The
    // receiver takes 10 ms of its own per answer, so a message sent twice at once overlaps there.
    receiver.delayMs = 10;
    receiver.answerWith((r) => (receiver.attemptsOf(r.id).length <= REFUSALS ? 503 : 200));
    relays = await Promise.all(
      [0, 1].map(() => startService({ VENDURE_WEBHOOK_URL: receiver.url, WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0,0,0,0' })),
    );

    // Bursts of changes, all deliveries at once, half through each process: both relays are woken by
    // commits at the same moments. Each delivery's own changes alternate between the processes.
    const deliveryIds = (await Promise.all(Array.from({ length: DELIVERIES }, (_, i) => assign(relays[i % 2])))).map((a) => a.deliveryId);
    await Promise.all(deliveryIds.map((id, i) => setStatus(relays[(i + 1) % 2], id, 'PICKED_UP')));
    await Promise.all(deliveryIds.map((id, i) => setStatus(relays[i % 2], id, 'DELIVERED')));

    const rows = await eventually(
      async () => {
        const all = (await messageRows()).filter((r) => deliveryIds.includes(r.deliveryId));
        return all.length === DELIVERIES * 3 && all.every((r) => r.status === 'delivered') && all;
      },
      { what: `all ${DELIVERIES * 3} messages delivered`, timeoutMs: 20_000 },
    );
    expect(receiver.invalid()).toEqual([]);
    // Never the same webhook-id in flight twice at once...
    expect(receiver.overlaps).toEqual([]);
    // ...and no attempt beyond those each message needed: REFUSALS refused, then one accepted.
    const ours = receiver.requests.filter((r) => deliveryIds.includes(r.body!.data.deliveryId));
    expect([...new Set(ours.map((r) => r.id))].sort()).toEqual(rows.map((r) => r.id).sort());
    for (const row of rows)
      expect([row.id, receiver.attemptsOf(row.id).map((r) => r.answered)]).toEqual([row.id, [...Array(REFUSALS).fill(503), 200]]);
    expect(rows.filter((r) => r.attempts !== REFUSALS + 1)).toEqual([]);
    // In order per delivery: no message sent before the one before it had been accepted.
    for (const deliveryId of deliveryIds) {
      expect(ours.filter((r) => r.body!.data.deliveryId === deliveryId).map((r) => `${r.body!.type} ${r.answered}`)).toEqual(
        ['delivery.assigned', 'delivery.picked_up', 'delivery.delivered'].flatMap((type) => [
          ...Array(REFUSALS).fill(`${type} 503`),
          `${type} 200`,
        ]),
      );
    }
    // Both processes did some of the sending.
    const attempts = await Promise.all(relays.map(webhookAttempts));
    expect(attempts.map((n) => n > 0)).toEqual([true, true]);
    expect(attempts[0] + attempts[1]).toBe(DELIVERIES * 3 * (REFUSALS + 1));
  });

  it('a due message locked by another claimer is passed over, not waited for, and sent once when free', async () => {
    expect(relays).toHaveLength(2);
    const [one, two] = relays;
    receiver.reset();
    receiver.delayMs = 10;
    // The first message of this order is refused once with Retry-After: an hour, so the next one waits behind it.
    const refuse = (r: ReceivedRequest) =>
      r.body?.data.sellerOrderId === 'SO-WHP-LOCKED' && r.body.type === 'delivery.assigned' && receiver.attemptsOf(r.id).length === 1;
    receiver.answerWith((r) => (refuse(r) ? { status: 503, headers: { 'retry-after': '3600' } } : 200));
    const { deliveryId } = await assign(one, { sellerOrderId: 'SO-WHP-LOCKED' });
    const [first] = await eventually(
      async () => {
        const rows = await messageRows('delivery_id = $1 AND attempts = 1 AND NOT coalesce(lease_until > now(), false)', [deliveryId]);
        return rows.length === 1 && rows;
      },
      { what: 'the refused first attempt to be recorded' },
    );
    expect(first.waitsLong).toBe(true);
    await setStatus(two, deliveryId, 'PICKED_UP');
    const [second] = await messageRows(`delivery_id = $1 AND type = 'delivery.picked_up'`, [deliveryId]);

    // Another claimer (this test's own transaction) holds the second message's row lock...
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM webhook_messages WHERE id = $1 FOR UPDATE', [second.id]);
      // ...when it becomes due: the hour is up for the first message (an UPDATE standing in for the
      // wait), which is then delivered, and nothing holds the second one back but the lock.
      await sql.query('UPDATE webhook_messages SET next_attempt_at = now() WHERE id = $1', [first.id]);
      await delivered('id = $1', [first.id], 'the first message, once due');
      // Later messages of other deliveries go out meanwhile: the relays pass the locked row by
      // instead of waiting for it, and leave it unclaimed (it is older, so it would have gone first).
      const other = await assign(two);
      await setStatus(one, other.deliveryId, 'PICKED_UP');
      await eventually(async () => (await messageRows(`delivery_id = $1 AND status = 'delivered'`, [other.deliveryId])).length === 2, {
        what: "the other delivery's messages, while the row is locked",
      });
      expect(await messageRows('id = $1', [second.id])).toEqual([expect.objectContaining({ status: 'pending', attempts: 0 })]);
      expect(receiver.attemptsOf(second.id)).toEqual([]);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }

    // Free again: sent once, by one relay, after the first.
    await delivered('id = $1', [second.id], 'the second message, once unlocked');
    expect(receiver.attemptsOf(second.id).map((r) => r.answered)).toEqual([200]);
    expect(receiver.attemptsOf(second.id)[0].index).toBeGreaterThan(receiver.attemptsOf(first.id).find((r) => r.answered === 200)!.index);
    expect(await messageRows('id = $1', [second.id])).toEqual([expect.objectContaining({ attempts: 1 })]);
    expect(receiver.overlaps).toEqual([]);
    expect(receiver.invalid()).toEqual([]);

    expect(await Promise.all(relays.map((r) => r.process.stop()))).toEqual([0, 0]);
  });
});
