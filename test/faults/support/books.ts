import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import { eventually } from '../../support/eventually.js';
import type { WebhookReceiver } from '../../support/webhook-receiver.js';
import type { AssignedAnswer } from './load-stream.js';

/**
 * The books of the service, checked straight in PostgreSQL and against the
 * webhook receiver, after (or between) faults: what must hold whatever
 * happened to the processes, PostgreSQL, Redis or Vendure. Reusable by any
 * suite that drives the service hard (the fault suite, the soak).
 */

const LIVE = ['ASSIGNED', 'PICKED_UP'];
const FINAL = ['DELIVERED', 'FAILED', 'CANCELLED'];
const EVENT_TYPE: Record<string, string> = {
  ASSIGNED: 'delivery.assigned',
  PICKED_UP: 'delivery.picked_up',
  DELIVERED: 'delivery.delivered',
  FAILED: 'delivery.failed',
  CANCELLED: 'delivery.cancelled',
};
/** The state machine (api-contract.md, "Deliveries"): to → the statuses it may come from. */
const ALLOWED_FROM: Record<string, string[]> = {
  PICKED_UP: ['ASSIGNED'],
  DELIVERED: ['PICKED_UP'],
  FAILED: ['ASSIGNED', 'PICKED_UP'],
  CANCELLED: ['ASSIGNED', 'PICKED_UP'],
};
/** The column each status stamps on the delivery. */
const STAMP: Record<string, 'picked_up_at' | 'delivered_at' | 'failed_at' | 'cancelled_at'> = {
  PICKED_UP: 'picked_up_at',
  DELIVERED: 'delivered_at',
  FAILED: 'failed_at',
  CANCELLED: 'cancelled_at',
};

type Sql = Pick<pg.Pool, 'query'>;

export interface BooksReport {
  deliveries: number;
  live: number;
  busyDrivers: number;
  events: number;
  messages: number;
  /** Requests the receiver got (every attempt). */
  received: number;
  /** Requests it answered 2xx. */
  accepted: number;
  /** Distinct messages processed after de-duplication by webhook-id. */
  processed: number;
  /** Accepted requests beyond the first of their webhook-id (at least once: allowed, counted). */
  duplicates: number;
  /** Everything that does not add up; empty when the books are right. */
  problems: string[];
}

export interface BooksOptions {
  /** Answers the load got: each must be a delivery PostgreSQL holds, as answered. */
  assignments?: AssignedAnswer[];
  /** Drivers that can never be chosen (offline, inactive, stale): none may have a delivery. */
  neverChosen?: string[];
}

/** Until every outbox message is delivered and the receiver has processed each one (or `timeoutMs`). */
export async function waitForOutboxDrained(sql: Sql, receiver: WebhookReceiver, timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      const { rows } = await sql.query(`SELECT id, status FROM webhook_messages WHERE status <> 'delivered' LIMIT 1`);
      if (rows.length > 0) return false;
      const processed = new Set(receiver.processed().map((r) => r.id));
      const { rows: all } = await sql.query(`SELECT id FROM webhook_messages`);
      return all.every((r: { id: string }) => processed.has(r.id));
    },
    { timeoutMs, everyMs: 200, what: 'every outbox message to be delivered and processed by the receiver' },
  ).catch(async (error: Error) => {
    const { rows } = await sql.query(
      `SELECT status, count(*)::int AS n, max(attempts) AS max_attempts, min(last_error) AS an_error FROM webhook_messages GROUP BY status`,
    );
    throw new Error(`${error.message}; outbox: ${JSON.stringify(rows)}`);
  });
}

/** The drivers PostgreSQL says can be chosen now (the availability invariant), and those in `drivers:geo`. */
export async function choosableSets(sql: Sql, redis: Redis | Cluster, heartbeatTtlSeconds: number, geoKey = 'drivers:geo') {
  const { rows } = await sql.query(
    `SELECT id FROM drivers
     WHERE is_active AND status = 'AVAILABLE' AND last_lat IS NOT NULL AND abs(last_lat) <= 85.05
       AND last_seen_at >= now() - make_interval(secs => $1)`,
    [heartbeatTtlSeconds],
  );
  const postgres = rows.map((r: { id: string }) => r.id).sort();
  const geo = (await redis.zrange(geoKey, 0, -1)).sort();
  const inGeo = new Set(geo);
  const inPostgres = new Set(postgres);
  return {
    postgres,
    geo,
    missing: postgres.filter((id: string) => !inGeo.has(id)),
    extra: geo.filter((id) => !inPostgres.has(id)),
  };
}

/** Polls until `drivers:geo` holds exactly PostgreSQL's choosable drivers; returns the last comparison. */
export async function waitForGeoToMatch(sql: Sql, redis: Redis | Cluster, heartbeatTtlSeconds: number, timeoutMs = 15_000) {
  let last: Awaited<ReturnType<typeof choosableSets>> | undefined;
  try {
    return await eventually(
      async () => {
        last = await choosableSets(sql, redis, heartbeatTtlSeconds);
        return last.missing.length === 0 && last.extra.length === 0 && last;
      },
      { timeoutMs, everyMs: 100, what: 'drivers:geo to equal the choosable drivers in PostgreSQL' },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: missing ${JSON.stringify(last?.missing)}, extra ${JSON.stringify(last?.extra)}`, {
      cause: error,
    });
  }
}

interface DeliveryRow {
  id: string;
  seller_order_id: string;
  driver_id: string;
  status: string;
  picked_up_at: Date | null;
  delivered_at: Date | null;
  failed_at: Date | null;
  cancelled_at: Date | null;
}
interface EventRow {
  id: string;
  seq: number;
  delivery_id: string;
  type: string;
  from_status: string | null;
  to_status: string;
}
interface MessageRow {
  id: string;
  delivery_id: string;
  delivery_seq: number;
  type: string;
  status: string;
}

/**
 * Checks the books. Call it while nothing changes them (the load paused or
 * stopped) and, for the webhook checks, after `waitForOutboxDrained`:
 *
 * - every sellerOrderId and every driver has at most one live (ASSIGNED,
 *   PICKED_UP) delivery; every BUSY driver has exactly one, and every live
 *   delivery's driver is BUSY;
 * - in the order of the audit trail (`delivery_events.seq`), no driver and no
 *   order ever had a second live delivery before the first ended;
 * - each delivery's audit trail is whole: it starts with its assignment, each
 *   change starts where the previous one ended and is allowed by the state
 *   machine, it ends in the delivery's status, and the status stamps match;
 * - every audit event has exactly one outbox message of its type, and every
 *   message its event; every message is delivered;
 * - the receiver got only messages that verify, and after de-duplication by
 *   webhook-id processed each message exactly once, with its body; within a
 *   delivery, no message arrived before the one before it had been accepted;
 * - every assigned answer names a delivery PostgreSQL holds, as answered, and
 *   no driver that could never be chosen has a delivery.
 */
export async function checkBooks(sql: Sql, receiver: WebhookReceiver, options: BooksOptions = {}): Promise<BooksReport> {
  const problems: string[] = [];
  const note = (problem: string) => problems.length < 50 && problems.push(problem);

  const deliveries: DeliveryRow[] = (
    await sql.query(`SELECT id, seller_order_id, driver_id, status, picked_up_at, delivered_at, failed_at, cancelled_at FROM deliveries`)
  ).rows;
  const events: EventRow[] = (
    await sql.query(`SELECT id, seq, delivery_id, type, from_status, to_status FROM delivery_events ORDER BY seq`)
  ).rows;
  const messages: MessageRow[] = (await sql.query(`SELECT id, delivery_id, delivery_seq, type, status FROM webhook_messages`)).rows;
  const drivers: Array<{ id: string; status: string }> = (await sql.query(`SELECT id, status FROM drivers`)).rows;
  const byId = new Map(deliveries.map((d) => [d.id, d]));

  // ---- live deliveries, per order and per driver, against the drivers' status
  const liveOf = (key: 'seller_order_id' | 'driver_id') => {
    const map = new Map<string, DeliveryRow[]>();
    for (const d of deliveries.filter((x) => LIVE.includes(x.status))) map.set(d[key], [...(map.get(d[key]) ?? []), d]);
    return map;
  };
  const livePerOrder = liveOf('seller_order_id');
  const livePerDriver = liveOf('driver_id');
  for (const [order, list] of livePerOrder) if (list.length > 1) note(`order ${order} has ${list.length} live deliveries`);
  for (const [driver, list] of livePerDriver) if (list.length > 1) note(`driver ${driver} has ${list.length} live deliveries`);
  const driverStatus = new Map(drivers.map((d) => [d.id, d.status]));
  for (const d of drivers.filter((x) => x.status === 'BUSY')) {
    const n = livePerDriver.get(d.id)?.length ?? 0;
    if (n !== 1) note(`BUSY driver ${d.id} has ${n} live deliveries`);
  }
  for (const [driver, list] of livePerDriver) {
    if (driverStatus.get(driver) !== 'BUSY')
      note(`driver ${driver} of live delivery ${list[0].id} is ${driverStatus.get(driver)}, not BUSY`);
  }

  // ---- the audit trail, in commit order: never two live deliveries of one driver or one order
  const liveDriver = new Map<string, string>();
  const liveOrder = new Map<string, string>();
  for (const e of events) {
    const d = byId.get(e.delivery_id);
    if (!d) {
      note(`event ${e.id} names a delivery that does not exist`);
      continue;
    }
    if (e.to_status === 'ASSIGNED') {
      const busyWith = liveDriver.get(d.driver_id);
      if (busyWith) note(`driver ${d.driver_id} assigned to ${d.id} (event ${e.seq}) while delivery ${busyWith} was live`);
      const orderWith = liveOrder.get(d.seller_order_id);
      if (orderWith) note(`order ${d.seller_order_id} got delivery ${d.id} (event ${e.seq}) while ${orderWith} was live`);
      liveDriver.set(d.driver_id, d.id);
      liveOrder.set(d.seller_order_id, d.id);
    } else if (FINAL.includes(e.to_status)) {
      if (liveDriver.get(d.driver_id) === d.id) liveDriver.delete(d.driver_id);
      if (liveOrder.get(d.seller_order_id) === d.id) liveOrder.delete(d.seller_order_id);
    }
  }

  // ---- each delivery's trail is whole and matches the row
  const trails = new Map<string, EventRow[]>();
  for (const e of events) trails.set(e.delivery_id, [...(trails.get(e.delivery_id) ?? []), e]);
  for (const d of deliveries) {
    const trail = trails.get(d.id) ?? [];
    if (trail.length === 0) {
      note(`delivery ${d.id} (${d.status}) has no audit event`);
      continue;
    }
    let at: string | null = null;
    for (const [i, e] of trail.entries()) {
      if (EVENT_TYPE[e.to_status] !== e.type) note(`event ${e.seq} of ${d.id}: type ${e.type} for status ${e.to_status}`);
      if (i === 0) {
        if (e.from_status !== null || e.to_status !== 'ASSIGNED') note(`delivery ${d.id} starts with ${e.from_status} → ${e.to_status}`);
      } else if (e.from_status !== at || !(ALLOWED_FROM[e.to_status] ?? []).includes(e.from_status ?? '')) {
        note(`delivery ${d.id}: event ${e.seq} ${e.from_status} → ${e.to_status} after ${at}`);
      }
      at = e.to_status;
    }
    if (at !== d.status) note(`delivery ${d.id} is ${d.status} but its trail ends in ${at}`);
    const reached = new Set(trail.map((e) => e.to_status));
    for (const [status, column] of Object.entries(STAMP)) {
      if (reached.has(status) !== (d[column] !== null))
        note(
          `delivery ${d.id}: ${column} is ${String(d[column])} though it ${reached.has(status) ? 'reached' : 'never reached'} ${status}`,
        );
    }
  }

  // ---- one outbox message per audit event, all delivered
  const messageOf = new Map<string, MessageRow[]>();
  for (const m of messages)
    messageOf.set(`${m.delivery_id}/${m.delivery_seq}`, [...(messageOf.get(`${m.delivery_id}/${m.delivery_seq}`) ?? []), m]);
  const eventKeys = new Set(events.map((e) => `${e.delivery_id}/${e.seq}`));
  for (const e of events) {
    const ms = messageOf.get(`${e.delivery_id}/${e.seq}`) ?? [];
    if (ms.length !== 1) note(`event ${e.seq} (${e.type} of ${e.delivery_id}) has ${ms.length} outbox messages`);
    else if (ms[0].type !== e.type) note(`event ${e.seq} is ${e.type} but its message ${ms[0].id} is ${ms[0].type}`);
  }
  for (const m of messages) {
    if (!eventKeys.has(`${m.delivery_id}/${m.delivery_seq}`)) note(`message ${m.id} has no audit event`);
    if (m.status !== 'delivered') note(`message ${m.id} (${m.type} of ${m.delivery_id}) is ${m.status}`);
  }

  // ---- what the receiver got: verified, each message processed once, in order per delivery
  for (const bad of receiver.invalid().slice(0, 5)) note(`receiver got a message that does not verify: ${bad.error}`);
  const processed = receiver.processed();
  const processedIds = new Map(processed.map((r) => [r.id, r]));
  const messageIds = new Set(messages.map((m) => m.id));
  for (const m of messages) {
    const got = processedIds.get(m.id);
    if (!got) {
      note(`message ${m.id} (${m.type} of ${m.delivery_id}) never reached the receiver`);
      continue;
    }
    const data = got.body?.data;
    if (got.body?.type !== m.type || data?.deliveryId !== m.delivery_id) {
      note(`message ${m.id} arrived as ${got.body?.type} of ${data?.deliveryId}, not ${m.type} of ${m.delivery_id}`);
    }
    const d = byId.get(m.delivery_id);
    if (d && (data?.sellerOrderId !== d.seller_order_id || data?.driverId !== d.driver_id)) {
      note(`message ${m.id} names order ${data?.sellerOrderId} and driver ${data?.driverId}, not ${d.seller_order_id} / ${d.driver_id}`);
    }
  }
  for (const r of processed) if (!messageIds.has(r.id)) note(`the receiver processed ${r.id}, which is not in the outbox`);
  // First arrival and first acceptance of each webhook-id, in the receiver's order of arrival.
  const firstArrival = new Map<string, number>();
  const firstAccepted = new Map<string, number>();
  for (const r of receiver.requests) if (!firstArrival.has(r.id)) firstArrival.set(r.id, r.index);
  for (const r of receiver.accepted()) if (!firstAccepted.has(r.id)) firstAccepted.set(r.id, r.index);
  const perDelivery = new Map<string, MessageRow[]>();
  for (const m of messages) perDelivery.set(m.delivery_id, [...(perDelivery.get(m.delivery_id) ?? []), m]);
  for (const [deliveryId, list] of perDelivery) {
    list.sort((a, b) => a.delivery_seq - b.delivery_seq);
    for (let i = 1; i < list.length; i++) {
      const earlierAccepted = firstAccepted.get(list[i - 1].id);
      const laterArrived = firstArrival.get(list[i].id);
      if (laterArrived !== undefined && (earlierAccepted === undefined || laterArrived < earlierAccepted)) {
        note(
          `delivery ${deliveryId}: ${list[i].type} arrived (#${laterArrived}) before ${list[i - 1].type} was accepted (#${earlierAccepted})`,
        );
      }
    }
  }

  // ---- the answers the load got
  for (const a of options.assignments ?? []) {
    const d = byId.get(a.deliveryId);
    if (!d) note(`answer for ${a.sellerOrderId} names delivery ${a.deliveryId}, which does not exist`);
    else if (d.seller_order_id !== a.sellerOrderId || d.driver_id !== a.driverId) {
      note(`answer ${a.sellerOrderId}/${a.driverId} for delivery ${a.deliveryId}, which is ${d.seller_order_id}/${d.driver_id}`);
    }
  }
  const never = new Set(options.neverChosen ?? []);
  for (const d of deliveries) if (never.has(d.driver_id)) note(`delivery ${d.id} went to driver ${d.driver_id}, who could not be chosen`);

  const accepted = receiver.accepted().length;
  return {
    deliveries: deliveries.length,
    live: deliveries.filter((d) => LIVE.includes(d.status)).length,
    busyDrivers: drivers.filter((d) => d.status === 'BUSY').length,
    events: events.length,
    messages: messages.length,
    received: receiver.requests.length,
    accepted,
    processed: processed.length,
    duplicates: accepted - processed.length,
    problems,
  };
}
