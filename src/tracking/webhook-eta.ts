import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { EtaEstimator, etasOf, EtaTrip, nextTrip, pointOf } from '../eta/eta.js';
import type { WebhookMessage } from '../outbox/webhook-messages.repository.js';
import { WebhookRelay } from '../outbox/webhook-relay.service.js';

/** The webhooks whose data carries `etaSeconds`: the driver is on the way to the pickup, then to the drop-off. */
const WITH_ETA: ReadonlySet<string> = new Set(['delivery.assigned', 'delivery.picked_up']);

interface TripRow {
  messageId: string;
  pickupLat: number;
  pickupLon: number;
  dropoffLat: number | null;
  dropoffLon: number | null;
  lastLat: number | null;
  lastLon: number | null;
  vehicleType: string | null;
}

type Data = Record<string, unknown>;
const dataOf = (message: WebhookMessage) => message.payload.data as Data;

/**
 * Adds `etaSeconds` to `delivery.assigned` and `delivery.picked_up` before
 * their first send (WebhookRelay.usePreparer): from the position of the
 * driver the message names, through EtaEstimator, as tracking answers do.
 * The value is written into the stored body in the same step (null when the
 * driver has no position or the delivery no drop-off), so every retry sends
 * the same bytes. Messages that have it already go out as they are.
 */
@Injectable()
export class WebhookEta implements OnModuleInit {
  private readonly logger = new Logger(WebhookEta.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly relay: WebhookRelay,
    private readonly eta: EtaEstimator,
  ) {}

  /** The estimator's answers; if it fails or is slow (a routing engine that is down), no ETA rather than no webhook. */
  private async estimate(trips: Array<EtaTrip | null>): Promise<Array<number | null>> {
    try {
      return await etasOf(this.eta, trips);
    } catch (error) {
      this.logger.warn(`ETA for webhooks: ${(error as Error).message}; sending etaSeconds null`);
      return trips.map(() => null);
    }
  }

  onModuleInit(): void {
    this.relay.usePreparer((messages) => this.prepare(messages));
  }

  async prepare(messages: WebhookMessage[]): Promise<WebhookMessage[]> {
    // Only before a message's first attempt (the claim counted it): one attempted already, by a release without this
    // step say, keeps the body it was sent with.
    const wanting = messages.filter(
      (message) => WITH_ETA.has(message.type) && message.attempts === 1 && !Object.hasOwn(dataOf(message), 'etaSeconds'),
    );
    if (wanting.length === 0) return messages;
    const rows: TripRow[] = await this.dataSource.query(
      `SELECT m.id AS "messageId", d.pickup_lat AS "pickupLat", d.pickup_lon AS "pickupLon", d.dropoff_lat AS "dropoffLat",
              d.dropoff_lon AS "dropoffLon", dr.last_lat AS "lastLat", dr.last_lon AS "lastLon", dr.vehicle_type AS "vehicleType"
       FROM webhook_messages m JOIN deliveries d ON d.id = m.delivery_id
       LEFT JOIN drivers dr ON dr.id = (m.payload->'data'->>'driverId')::uuid
       WHERE m.id = ANY($1::varchar[])`,
      [wanting.map((message) => message.id)],
    );
    const byId = new Map(rows.map((row) => [row.messageId, row]));
    const trips = wanting.map((message) => {
      const row = byId.get(message.id);
      if (!row) return null;
      const { pickupLat, pickupLon, dropoffLat, dropoffLon, lastLat, lastLon, vehicleType } = row;
      const status = String(dataOf(message).status);
      return nextTrip(status, pointOf(lastLat, lastLon), { lat: pickupLat, lon: pickupLon }, pointOf(dropoffLat, dropoffLon), vehicleType);
    });
    const answers = await this.estimate(trips);
    const etas = new Map(wanting.map((message, i) => [message.id, answers[i]]));
    // The body sent is the one stored, as PostgreSQL gives it back (updated here, or as it was if another process got
    // there first): a retry, read from the table, sends the same bytes.
    const stored: Array<{ id: string; payload: Record<string, unknown> }> = await this.dataSource.query(
      `WITH updated AS (
         UPDATE webhook_messages m SET payload = jsonb_set(m.payload, '{data,etaSeconds}', coalesce(to_jsonb(e.eta), 'null'::jsonb))
         FROM unnest($1::varchar[], $2::int[]) AS e (id, eta)
         WHERE m.id = e.id AND NOT (m.payload->'data' ? 'etaSeconds')
         RETURNING m.id, m.payload)
       SELECT id, payload FROM updated
       UNION ALL
       SELECT id, payload FROM webhook_messages WHERE id = ANY($1::varchar[]) AND id NOT IN (SELECT id FROM updated)`,
      [[...etas.keys()], [...etas.values()]],
    );
    const payloads = new Map(stored.map((row) => [row.id, row.payload]));
    return messages.map((message) => (payloads.has(message.id) ? { ...message, payload: payloads.get(message.id)! } : message));
  }
}
