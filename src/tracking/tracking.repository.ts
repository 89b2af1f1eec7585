import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { DeliveryStatus } from '../deliveries/delivery.entity.js';

/** What a tracking link may show of its delivery, read in one statement. */
export interface TrackedDelivery {
  deliveryId: string;
  status: DeliveryStatus;
  pickupLat: number;
  pickupLon: number;
  dropoffLat: number | null;
  dropoffLon: number | null;
  driverName: string | null;
  vehicleType: string | null;
  lastLat: number | null;
  lastLon: number | null;
  lastLocationAt: Date | null;
  updatedAt: Date;
  /** When the delivery reached a final status; null while it is in progress. */
  endedAt: Date | null;
  /** The seq of its latest audit event: the id of the latest status event a stream sends. */
  lastSeq: number;
}

/** One status change, as streams send it. */
export interface TrackedChange {
  deliveryId: string;
  seq: number;
  status: DeliveryStatus;
  previousStatus: DeliveryStatus | null;
  at: Date;
}

const ENDED_AT = `coalesce(d.delivered_at, d.failed_at, d.cancelled_at, d.expired_at)`;
const VIEW = `d.id AS "deliveryId", d.status, d.pickup_lat AS "pickupLat", d.pickup_lon AS "pickupLon",
  d.dropoff_lat AS "dropoffLat", d.dropoff_lon AS "dropoffLon", dr.name AS "driverName", dr.vehicle_type AS "vehicleType",
  dr.last_lat AS "lastLat", dr.last_lon AS "lastLon", dr.last_location_at AS "lastLocationAt", d.updated_at AS "updatedAt",
  ${ENDED_AT} AS "endedAt",
  coalesce((SELECT max(e.seq) FROM delivery_events e WHERE e.delivery_id = d.id), 0) AS "lastSeq"`;

/** Tracking links (`tracking_links`, token hashes only) and the reads behind them. */
@Injectable()
export class TrackingRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Adds a link to a delivery (a link already there, a replayed request's, is
   * kept), unless the delivery ended more than `ttlSeconds` ago, when the link
   * would not work. Answers when the delivery ended (null while in progress),
   * or undefined when there is no such delivery.
   */
  async addLink(
    tokenHash: string,
    deliveryId: string,
    createdBy: string,
    ttlSeconds: number,
  ): Promise<{ endedAt: Date | null } | undefined> {
    const rows: Array<{ endedAt: Date | null }> = await this.dataSource.query(
      `WITH d AS (SELECT d.id, ${ENDED_AT} AS ended_at FROM deliveries d WHERE d.id = $2),
       added AS (
         INSERT INTO tracking_links (token_hash, delivery_id, created_by)
         SELECT $1, d.id, $3 FROM d WHERE d.ended_at IS NULL OR d.ended_at > now() - make_interval(secs => $4)
         ON CONFLICT (token_hash) DO NOTHING)
       SELECT ended_at AS "endedAt" FROM d`,
      [tokenHash, deliveryId, createdBy, ttlSeconds],
    );
    return rows[0];
  }

  /** The delivery a link reads, unless the link is unknown or expired (its delivery ended more than `ttlSeconds` ago). */
  async findByToken(tokenHash: string, ttlSeconds: number): Promise<TrackedDelivery | undefined> {
    const rows: TrackedDelivery[] = await this.dataSource.query(
      `SELECT ${VIEW}
       FROM tracking_links l JOIN deliveries d ON d.id = l.delivery_id LEFT JOIN drivers dr ON dr.id = d.driver_id
       WHERE l.token_hash = $1 AND (${ENDED_AT} IS NULL OR ${ENDED_AT} > now() - make_interval(secs => $2))`,
      [tokenHash, ttlSeconds],
    );
    return rows[0];
  }

  /** The deliveries open streams follow, in one statement. */
  views(deliveryIds: string[]): Promise<TrackedDelivery[]> {
    return this.dataSource.query(
      `SELECT ${VIEW} FROM deliveries d LEFT JOIN drivers dr ON dr.id = d.driver_id WHERE d.id = ANY($1::uuid[])`,
      [deliveryIds],
    );
  }

  /** Each delivery's status changes after its `after` seq, oldest first. */
  changesAfter(after: Map<string, number>): Promise<TrackedChange[]> {
    return this.dataSource.query(
      `SELECT e.delivery_id AS "deliveryId", e.seq, e.to_status AS status, e.from_status AS "previousStatus", e.at
       FROM unnest($1::uuid[], $2::int[]) AS w (delivery_id, after)
       JOIN delivery_events e ON e.delivery_id = w.delivery_id AND e.seq > w.after
       ORDER BY e.seq`,
      [[...after.keys()], [...after.values()]],
    );
  }
}
