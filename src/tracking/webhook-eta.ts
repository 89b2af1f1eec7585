import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ChangedRows } from '../database/query-results.js';
import { EtaEstimator, etaDestination, EtaTrip } from '../eta/eta.js';
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

  /** The estimator's answers; if it fails (a routing engine that is down), no ETA rather than no webhook. */
  private async estimate(trips: EtaTrip[]): Promise<Array<number | null>> {
    try {
      return await this.eta.etaSeconds(trips);
    } catch (error) {
      this.logger.warn(`ETA for webhooks: the estimator failed, sending etaSeconds null: ${(error as Error).message}`);
      return trips.map(() => null);
    }
  }

  onModuleInit(): void {
    this.relay.usePreparer((messages) => this.prepare(messages));
  }

  async prepare(messages: WebhookMessage[]): Promise<WebhookMessage[]> {
    const wanting = messages.filter((message) => WITH_ETA.has(message.type) && !Object.hasOwn(dataOf(message), 'etaSeconds'));
    if (wanting.length === 0) return messages;
    const trips: TripRow[] = await this.dataSource.query(
      `SELECT m.id AS "messageId", d.pickup_lat AS "pickupLat", d.pickup_lon AS "pickupLon", d.dropoff_lat AS "dropoffLat",
              d.dropoff_lon AS "dropoffLon", dr.last_lat AS "lastLat", dr.last_lon AS "lastLon", dr.vehicle_type AS "vehicleType"
       FROM webhook_messages m JOIN deliveries d ON d.id = m.delivery_id
       LEFT JOIN drivers dr ON dr.id = (m.payload->'data'->>'driverId')::uuid
       WHERE m.id = ANY($1::varchar[])`,
      [wanting.map((message) => message.id)],
    );
    const byId = new Map(trips.map((trip) => [trip.messageId, trip]));
    const asked = wanting.map((message) => {
      const trip = byId.get(message.id);
      if (!trip || trip.lastLat === null || trip.lastLon === null) return null;
      const dropoff = trip.dropoffLat === null || trip.dropoffLon === null ? null : { lat: trip.dropoffLat, lon: trip.dropoffLon };
      const to = etaDestination(String(dataOf(message).status), { lat: trip.pickupLat, lon: trip.pickupLon }, dropoff);
      return to ? { from: { lat: trip.lastLat, lon: trip.lastLon }, to, vehicleType: trip.vehicleType } : null;
    });
    const known = asked.filter((trip) => trip !== null);
    const answers = known.length > 0 ? await this.estimate(known) : [];
    let next = 0;
    const etas = new Map(wanting.map((message, i) => [message.id, asked[i] ? (answers[next++] ?? null) : null]));
    // The body sent is the one stored, as PostgreSQL gives it back: a retry, read from the table, sends the same bytes.
    const [stored]: ChangedRows<{ id: string; payload: Record<string, unknown> }> = await this.dataSource.query(
      `UPDATE webhook_messages m SET payload = jsonb_set(m.payload, '{data,etaSeconds}', coalesce(to_jsonb(e.eta), 'null'::jsonb))
       FROM unnest($1::varchar[], $2::int[]) AS e (id, eta)
       WHERE m.id = e.id AND NOT (m.payload->'data' ? 'etaSeconds')
       RETURNING m.id, m.payload`,
      [[...etas.keys()], [...etas.values()]],
    );
    const payloads = new Map(stored.map((row) => [row.id, row.payload]));
    return messages.map((message) => (payloads.has(message.id) ? { ...message, payload: payloads.get(message.id)! } : message));
  }
}
