import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { Batcher } from '../common/batcher.js';
import { hydrate } from '../database/hydrate.js';
import type { ChangedRows, RawRow } from '../database/query-results.js';
import { FleetService } from '../fleet/fleet.service.js';
import { DeliveryEventEntity } from './delivery-event.entity.js';
import { DeliveryEntity, DeliveryStatus } from './delivery.entity.js';
import { REACHED_AT_COLUMNS } from './delivery-state-machine.js';
import type { DispatchMode } from '../config/app-config.js';

export interface NewDelivery {
  sellerOrderId: string;
  channelId: string | null;
  driverId: string;
  pickupLat: number;
  pickupLon: number;
  dropoffLat: number | null;
  dropoffLon: number | null;
  distanceMeters: number;
}

/** A state change's audit event; its outbox message is written with it. */
export interface DeliveryChange {
  type: string;
  fromStatus: DeliveryStatus | null;
  actor: string;
  requestId: string | null;
  data: Record<string, unknown>;
  /** When the webhook reporting the change is first sent. */
  firstAttemptAfterSeconds: number;
}

/** Who makes a change, and when its webhook is first sent. */
export interface ChangeContext {
  actor: string;
  requestId: string | null;
  firstAttemptAfterSeconds: number;
}

/** How an order is dispatched: offered or assigned, how long it may wait, where it waits. */
export interface OrderDispatch {
  dispatchMode: DispatchMode;
  /** In offer mode, how long the driver has to accept. */
  offerSeconds: number | null;
  maxWaitSeconds: number;
  /** The pickup's cell on the waiting-order grid. */
  waitCell: number;
}

/** A claim of one candidate driver for an order (`claim_delivery`); without a dispatch, v1's: assigned at once. */
export interface DeliveryClaim extends NewDelivery, ChangeContext, Partial<OrderDispatch> {
  heartbeatCutoff: Date;
}

/** An order with no driver in reach that waits for one (`create_pending_delivery`). */
export type WaitingOrder = Omit<NewDelivery, 'driverId' | 'distanceMeters'> & OrderDispatch & ChangeContext;

/** Drivers answering deliveries: accept or decline an offer; an operator's reassignment. */
export type DeliveryAnswer = 'accept' | 'decline' | 'reassign';

/** A row of a dispatch routine: an outcome (or the kind of timer fired), the delivery and the driver it claimed or freed. */
interface DispatchRow {
  outcome: string;
  delivery: Record<string, unknown> | null;
  driver: Record<string, unknown> | null;
}

/** The outcome of a dispatch routine, with the delivery as an entity; `mirrored` as in ClaimResult. */
export interface DispatchResult<O extends string = string> {
  outcome: O;
  delivery: DeliveryEntity | null;
  mirrored: Promise<void>;
}

/** A claim's outcome; `mirrored` settles once a driver it claimed is BUSY in Redis too (see FleetService.claim). */
export type ClaimResult = (
  { outcome: 'assigned' | 'order-live' | 'order-delivered'; delivery: DeliveryEntity } | { outcome: 'driver-taken' }
) & { mirrored: Promise<void> };

export interface DeliveryFilters {
  sellerOrderId?: string;
  driverId?: string;
  status?: DeliveryStatus;
}

const LIVE = `status IN ('PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP')`;

/** A row of `claim_delivery` or `assign_deliveries`: the delivery and the driver as JSON. */
type ClaimRow =
  | { outcome: 'assigned'; delivery: Record<string, unknown>; driver: Record<string, unknown> }
  | { outcome: 'order-live' | 'order-delivered'; delivery: Record<string, unknown>; driver: null }
  | { outcome: 'driver-taken' | 'driver-refused' | 'busy'; delivery: null; driver: null };

/**
 * A claim as `claim_delivery`'s arguments after p_wait, in their order, each
 * under the name `assign_deliveries` reads it by: one list for both calls.
 */
const claimArguments = (claim: DeliveryClaim): Array<[name: string, value: string | number | null]> => [
  ['seller_order_id', claim.sellerOrderId],
  ['channel_id', claim.channelId],
  ['driver_id', claim.driverId],
  ['pickup_lat', claim.pickupLat],
  ['pickup_lon', claim.pickupLon],
  ['dropoff_lat', claim.dropoffLat],
  ['dropoff_lon', claim.dropoffLon],
  ['distance_meters', claim.distanceMeters],
  ['heartbeat_cutoff', claim.heartbeatCutoff.toISOString()],
  ['actor', claim.actor],
  ['request_id', claim.requestId],
  ['first_attempt_after_seconds', claim.firstAttemptAfterSeconds],
  ['dispatch_mode', claim.dispatchMode ?? 'auto'],
  ['offer_seconds', claim.offerSeconds ?? null],
  ['max_wait_seconds', claim.maxWaitSeconds ?? 0],
  ['wait_cell', claim.waitCell ?? null],
];

/** Queries on deliveries and their audit trail. Methods taking an EntityManager run inside the caller's transaction. */
@Injectable()
export class DeliveriesRepository {
  /** The fleet mirrors the drivers a batch claimed once it has committed. */
  private readonly claims = new Batcher<DeliveryClaim, ClaimRow & { mirrored: Promise<void> }>((claims) =>
    this.fleet.claim(
      () => this.assignMany(claims),
      claims.map((claim) => claim.driverId),
    ),
  );

  constructor(
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(DeliveryEventEntity) private readonly events: Repository<DeliveryEventEntity>,
    @InjectDataSource() readonly dataSource: DataSource,
    private readonly fleet: FleetService,
  ) {}

  findById(id: string, manager?: EntityManager): Promise<DeliveryEntity | null> {
    return (manager ?? this.dataSource.manager).findOneBy(DeliveryEntity, { id });
  }

  /**
   * Serialises everything that creates or ends a delivery of one order, until
   * the caller's transaction ends: concurrent copies of an event then see
   * each other's committed result instead of racing for drivers.
   */
  async lockOrder(manager: EntityManager, sellerOrderId: string): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtext('seller-order:' || $1))`, [sellerOrderId]);
  }

  /** Reads and locks a delivery until the end of the caller's transaction. */
  findByIdForUpdate(manager: EntityManager, id: string): Promise<DeliveryEntity | null> {
    return manager.findOne(DeliveryEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  findLiveBySellerOrder(sellerOrderId: string, manager?: EntityManager): Promise<DeliveryEntity | null> {
    return (manager ?? this.dataSource.manager)
      .createQueryBuilder(DeliveryEntity, 'd')
      .where(`d.seller_order_id = :sellerOrderId AND d.${LIVE}`, { sellerOrderId })
      .getOne();
  }

  findLatestBySellerOrder(sellerOrderId: string, manager?: EntityManager): Promise<DeliveryEntity | null> {
    return (manager ?? this.dataSource.manager)
      .createQueryBuilder(DeliveryEntity, 'd')
      .where('d.seller_order_id = :sellerOrderId', { sellerOrderId })
      .orderBy('d.createdAt', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .getOne();
  }

  /** Keyset page in creation order; `limit + 1` rows at most. */
  listPage(filters: DeliveryFilters & { afterId?: string; limit: number }): Promise<DeliveryEntity[]> {
    const query = this.deliveries
      .createQueryBuilder('d')
      .orderBy('d.createdAt', 'ASC')
      .addOrderBy('d.id', 'ASC')
      .limit(filters.limit + 1);
    if (filters.sellerOrderId) query.andWhere('d.seller_order_id = :sellerOrderId', { sellerOrderId: filters.sellerOrderId });
    if (filters.driverId) query.andWhere('d.driver_id = :driverId', { driverId: filters.driverId });
    if (filters.status) query.andWhere('d.status = :status', { status: filters.status });
    if (filters.afterId) {
      query.andWhere('(d.created_at, d.id) > (SELECT c.created_at, c.id FROM deliveries c WHERE c.id = :afterId)', {
        afterId: filters.afterId,
      });
    }
    return query.getMany();
  }

  listEvents(deliveryId: string): Promise<DeliveryEventEntity[]> {
    return this.events.find({ where: { deliveryId }, order: { seq: 'ASC' } });
  }

  /**
   * Claims `claim.driverId` for the order and creates its ASSIGNED delivery,
   * audit event and outbox message, atomically: the order's lock, its latest
   * delivery, the conditional claim, then the rows (`claim_delivery`).
   * Claims go to PostgreSQL together with the others made at the same time,
   * one statement and one transaction for all (`assign_deliveries`, a batch
   * of one for a lone claim); a claim in such a batch never waits for a
   * lock, and one that would (its order or its driver held by another
   * transaction right now) is made again alone with `claim_delivery(true,
   * ...)`, which waits. A unique-index violation (a live delivery the lock
   * did not see coming) is thrown as is.
   */
  async assign(claim: DeliveryClaim): Promise<ClaimResult> {
    let row = await this.claims.add(claim);
    if (row.outcome === 'busy') {
      [row] = await this.fleet.claim<ClaimRow>(
        () =>
          this.dataSource.query(
            `SELECT outcome, delivery, driver FROM claim_delivery(true, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
            claimArguments(claim).map(([, value]) => value),
          ),
        [claim.driverId],
      );
    }
    const { mirrored } = row;
    return row.delivery === null
      ? { outcome: 'driver-taken', mirrored }
      : { outcome: row.outcome, delivery: hydrate(this.dataSource.manager, DeliveryEntity, row.delivery), mirrored };
  }

  /** Claims in one statement, one answer row each, in order; 'busy' where a claim would have waited. */
  private async assignMany(claims: DeliveryClaim[]): Promise<ClaimRow[]> {
    const rows: ClaimRow[] = await this.dataSource.query(
      `SELECT r.outcome, r.delivery, r.driver FROM assign_deliveries($1) WITH ORDINALITY AS r (outcome, delivery, driver, n) ORDER BY r.n`,
      [JSON.stringify(claims.map((claim) => Object.fromEntries(claimArguments(claim))))],
    );
    if (rows.length !== claims.length) throw new Error(`assign_deliveries answered ${rows.length} rows for ${claims.length} claims`);
    return rows;
  }

  /** The order's PENDING delivery, unless it has a live or delivered one already (`create_pending_delivery`). */
  async createPending(order: WaitingOrder): Promise<{ outcome: 'pending' | 'order-live' | 'order-delivered'; delivery: DeliveryEntity }> {
    const [row]: Array<{ outcome: 'pending' | 'order-live' | 'order-delivered'; delivery: RawRow }> = await this.dataSource.query(
      `SELECT outcome, delivery FROM create_pending_delivery($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        order.sellerOrderId,
        order.channelId,
        order.pickupLat,
        order.pickupLon,
        order.dropoffLat,
        order.dropoffLon,
        order.dispatchMode,
        order.maxWaitSeconds,
        order.waitCell,
        order.actor,
        order.requestId,
        order.firstAttemptAfterSeconds,
      ],
    );
    return { outcome: row.outcome, delivery: hydrate(this.dataSource.manager, DeliveryEntity, row.delivery) };
  }

  /** A PENDING delivery to one candidate driver, offered or assigned (`dispatch_delivery`). */
  dispatch(
    claim: { deliveryId: string; driverId: string; distanceMeters: number; heartbeatCutoff: Date; offerSeconds: number } & ChangeContext,
  ): Promise<DispatchResult<'dispatched' | 'not-pending' | 'driver-refused' | 'driver-taken'>> {
    return this.runDispatch(`SELECT outcome, delivery, driver FROM dispatch_delivery($1, $2, $3, $4, $5, $6, $7, $8)`, [
      claim.deliveryId,
      claim.driverId,
      claim.distanceMeters,
      claim.heartbeatCutoff.toISOString(),
      claim.offerSeconds,
      claim.actor,
      claim.requestId,
      claim.firstAttemptAfterSeconds,
    ]);
  }

  /** A driver's accept or decline, or an operator's reassignment (`answer_delivery`); `driverId` null acts for the delivery's driver. */
  answer(
    change: {
      deliveryId: string;
      action: DeliveryAnswer;
      driverId: string | null;
      reason: string | null;
      retrySeconds: number;
    } & ChangeContext,
  ): Promise<DispatchResult<'changed' | 'unchanged' | 'not-found' | 'forbidden' | 'offer-expired' | 'not-pending'>> {
    return this.runDispatch(`SELECT outcome, delivery, driver FROM answer_delivery($1, $2, $3, $4, $5, $6, $7, $8)`, [
      change.deliveryId,
      change.action,
      change.driverId,
      change.reason,
      change.retrySeconds,
      change.actor,
      change.requestId,
      change.firstAttemptAfterSeconds,
    ]);
  }

  /** Fires the dispatch timers that are due, each once across processes (`fire_due_deliveries`). */
  async fireDue(timers: {
    limit: number;
    retrySeconds: number;
    /** null: no lost-driver check this time. */
    lostSeconds: number | null;
    timeoutsBeforeOffline: number;
    actor: string;
    firstAttemptAfterSeconds: number;
  }): Promise<Array<DispatchResult<'offer-timed-out' | 'expired' | 'retry' | 'driver-lost'>>> {
    const rows = await this.fleet.claim<DispatchRow>(() =>
      this.dataSource.query(`SELECT kind AS outcome, delivery, driver FROM fire_due_deliveries($1, $2, $3, $4, $5, $6)`, [
        timers.limit,
        timers.retrySeconds,
        timers.lostSeconds,
        timers.timeoutsBeforeOffline,
        timers.actor,
        timers.firstAttemptAfterSeconds,
      ]),
    );
    return rows.map((row) => this.dispatchResult(row));
  }

  /** A PENDING delivery no driver was found for waits until a driver comes into reach, or its wait ends. */
  async park(deliveryId: string): Promise<void> {
    await this.dataSource.query(`SELECT park_pending_delivery($1)`, [deliveryId]);
  }

  /** The drivers that must not be offered the delivery's order again (refusals of any of its deliveries). */
  async refusedDrivers(deliveryId: string): Promise<Set<string>> {
    const rows: Array<{ driver_id: string }> = await this.dataSource.query(
      `SELECT DISTINCT f.driver_id FROM deliveries d JOIN deliveries o ON o.seller_order_id = d.seller_order_id
       JOIN delivery_refusals f ON f.delivery_id = o.id WHERE d.id = $1`,
      [deliveryId],
    );
    return new Set(rows.map((row) => row.driver_id));
  }

  /** Whether the driver was once on the delivery (and was taken off it, or left it). */
  async wasDriverOf(deliveryId: string, driverId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM delivery_refusals WHERE delivery_id = $1 AND driver_id = $2`, [
      deliveryId,
      driverId,
    ]);
    return rows.length > 0;
  }

  /** Whether any order waits for a driver (one probe of the waiting orders' partial index). */
  async anyWaiting(): Promise<boolean> {
    const [row]: Array<{ waiting: boolean }> = await this.dataSource.query(
      `SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = 'PENDING') AS waiting`,
    );
    return row.waiting === true;
  }

  /** The oldest waiting order in reach of each given driver that is choosable (`waiting_orders_near`), oldest first. */
  async waitingNear(drivers: Array<{ driverId: string; cells: number[] }>, radiusMeters: number, heartbeatCutoff: Date): Promise<string[]> {
    const rows: Array<{ delivery_id: string }> = await this.dataSource.query(
      `SELECT delivery_id FROM waiting_orders_near($1, $2, $3) GROUP BY delivery_id ORDER BY min(ready_at), 1`,
      [JSON.stringify(drivers), radiusMeters, heartbeatCutoff.toISOString()],
    );
    return rows.map((row) => row.delivery_id);
  }

  /** Waiting orders whose grid cell is not `cell(lat, lon)` (made under another grid): their cell again. */
  async recell(cellOf: (lat: number, lon: number) => number): Promise<number> {
    const rows: Array<{ id: string; pickup_lat: number; pickup_lon: number; wait_cell: string | null }> = await this.dataSource.query(
      `SELECT id, pickup_lat, pickup_lon, wait_cell FROM deliveries WHERE status = 'PENDING'`,
    );
    const moved = rows.filter((row) => row.wait_cell !== String(cellOf(row.pickup_lat, row.pickup_lon)));
    if (moved.length > 0) {
      await this.dataSource.query(
        `UPDATE deliveries d SET wait_cell = m.cell FROM jsonb_to_recordset($1) AS m(id uuid, cell bigint) WHERE d.id = m.id`,
        [JSON.stringify(moved.map((row) => ({ id: row.id, cell: cellOf(row.pickup_lat, row.pickup_lon) })))],
      );
    }
    return moved.length;
  }

  private async runDispatch<O extends string>(sql: string, params: unknown[]): Promise<DispatchResult<O>> {
    const [row] = await this.fleet.claim<DispatchRow>(() => this.dataSource.query(sql, params));
    return this.dispatchResult(row);
  }

  private dispatchResult(row: DispatchRow & { mirrored: Promise<void> }): DispatchResult<never> {
    return {
      outcome: row.outcome as never,
      delivery: row.delivery === null ? null : hydrate(this.dataSource.manager, DeliveryEntity, row.delivery),
      mirrored: row.mirrored,
    };
  }

  /** Records a change the delivery has just made: its audit event and its outbox message, in the caller's transaction. */
  async recordChange(manager: EntityManager, deliveryId: string, change: DeliveryChange): Promise<void> {
    await manager.query(`SELECT 1 FROM deliveries d, record_delivery_change(d, $2, $3, $4, $5, $6, $7) WHERE d.id = $1`, [
      deliveryId,
      change.fromStatus,
      change.type,
      change.actor,
      change.requestId,
      JSON.stringify(change.data),
      change.firstAttemptAfterSeconds,
    ]);
  }

  /**
   * Moves a delivery to `to` if it is in one of `from`; records when. Returns
   * the updated delivery, or null when it was not in one of those statuses.
   */
  async moveStatus(
    manager: EntityManager,
    id: string,
    from: DeliveryStatus[],
    to: DeliveryStatus,
    failureReason: string | null,
  ): Promise<DeliveryEntity | null> {
    const [rows]: ChangedRows = await manager.query(
      `UPDATE deliveries SET status = $3, ${REACHED_AT_COLUMNS[to]} = now(), updated_at = now(),
              failure_reason = COALESCE($4, failure_reason)
       WHERE id = $1 AND status = ANY($2::varchar[]) RETURNING *`,
      [id, from, to, failureReason],
    );
    return rows.length === 1 ? hydrate(manager, DeliveryEntity, rows[0]) : null;
  }
}
