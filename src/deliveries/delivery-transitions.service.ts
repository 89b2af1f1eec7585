import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { requestContext } from '../common/request-context.js';
import { isUniqueViolation } from '../common/unique-violation.js';
import { FleetService, FleetTransaction } from '../fleet/fleet.service.js';
import { ClaimResult, DeliveriesRepository, NewDelivery, OrderDispatch } from './deliveries.repository.js';
import { DeliveryOutbox } from './delivery-outbox.js';
import { DeliveryEntity, DeliveryStatus } from './delivery.entity.js';
import { EVENT_TYPES, isFinal, statusesLeadingTo } from './delivery-state-machine.js';

export type AssignOutcome =
  | { kind: 'assigned'; delivery: DeliveryEntity }
  /** The order already has a live delivery (a concurrent or earlier copy of the event): it is the answer. */
  | { kind: 'order-live'; delivery: DeliveryEntity }
  | { kind: 'order-delivered'; delivery: DeliveryEntity }
  /** Another request created the order's live delivery in a way the order's lock did not see. */
  | { kind: 'order-taken' }
  | { kind: 'driver-taken' };

export type ChangeOutcome = { delivery: DeliveryEntity; changed: boolean };

/**
 * Every delivery state change, each in one PostgreSQL transaction with its
 * audit event and its outbox message. The driver is claimed and released
 * through the fleet, which mirrors its new state to Redis after the commit,
 * before the caller answers.
 */
@Injectable()
export class DeliveryTransitions {
  constructor(
    private readonly repository: DeliveriesRepository,
    private readonly outbox: DeliveryOutbox,
    private readonly fleet: FleetService,
  ) {}

  /**
   * Claims `driverId` and creates the delivery (ASSIGNED, or OFFERED in
   * offer mode), atomically, in one
   * round trip (`DeliveriesRepository.assign`). Loses cleanly (nothing
   * written) when the driver was taken meanwhile, or when the order has a
   * live or delivered delivery by the time its lock is held.
   */
  async assign(delivery: NewDelivery, dispatch: OrderDispatch, actor: string): Promise<AssignOutcome> {
    let result: ClaimResult;
    try {
      result = await this.repository.assign({
        ...delivery,
        ...dispatch,
        heartbeatCutoff: this.fleet.heartbeatCutoff(),
        actor,
        requestId: requestContext.requestId() ?? null,
        firstAttemptAfterSeconds: this.outbox.firstAttemptAfterSeconds(),
      });
    } catch (error) {
      if (isUniqueViolation(error, 'deliveries_live_seller_order_key')) return { kind: 'order-taken' };
      if (isUniqueViolation(error, 'deliveries_live_driver_key')) return { kind: 'driver-taken' };
      throw error;
    }
    if (result.outcome === 'assigned') this.outbox.afterCommit();
    // The claimed driver is BUSY in Redis before the answer goes out.
    await result.mirrored;
    if (result.outcome === 'driver-taken') return { kind: 'driver-taken' };
    return { kind: result.outcome, delivery: result.delivery };
  }

  /**
   * Moves a delivery to `to`. The same move twice is a no-op (changed:
   * false, no new event); a move the state machine forbids is 409. Reaching
   * a final status makes the driver AVAILABLE again.
   */
  async change(deliveryId: string, to: DeliveryStatus, actor: string, reason?: string): Promise<ChangeOutcome> {
    return this.fleet.transaction((tx) => this.changeIn(tx, deliveryId, to, actor, reason), this.wakeOutbox);
  }

  /**
   * Cancels the order's latest delivery. Holds the order's lock, so it sees
   * an assignment of the same order that is committing right now.
   */
  async cancelOrder(sellerOrderId: string, actor: string, reason?: string): Promise<ChangeOutcome> {
    return this.fleet.transaction(async (tx) => {
      await this.repository.lockOrder(tx.manager, sellerOrderId);
      const latest = await this.repository.findLatestBySellerOrder(sellerOrderId, tx.manager);
      if (!latest) throw new DomainError('DELIVERY_NOT_FOUND', `No delivery for order ${sellerOrderId}`);
      if (latest.status === 'DELIVERED' || latest.status === 'FAILED' || latest.status === 'EXPIRED') {
        throw new DomainError('DELIVERY_ALREADY_FINISHED', `The delivery of order ${sellerOrderId} already ended ${latest.status}`);
      }
      return this.changeIn(tx, latest.id, 'CANCELLED', actor, reason);
    }, this.wakeOutbox);
  }

  /** A change that wrote an outbox message has the relay look for it at once. */
  private readonly wakeOutbox = (result: ChangeOutcome) => {
    if (result.changed) this.outbox.afterCommit();
  };

  private async changeIn(
    tx: FleetTransaction,
    deliveryId: string,
    to: DeliveryStatus,
    actor: string,
    reason: string | undefined,
  ): Promise<ChangeOutcome> {
    const { manager } = tx;
    // Locked, so the status read here is the one the move starts from.
    const before = await this.repository.findByIdForUpdate(manager, deliveryId);
    if (!before) throw new DomainError('DELIVERY_NOT_FOUND', `Delivery ${deliveryId} does not exist`);
    const moved = await this.repository.moveStatus(
      manager,
      deliveryId,
      statusesLeadingTo(to),
      to,
      to === 'FAILED' ? (reason ?? null) : null,
    );
    if (!moved) {
      if (before.status === to) return { delivery: before, changed: false };
      throw new DomainError('INVALID_DELIVERY_TRANSITION', `A delivery cannot move from ${before.status} to ${to}`);
    }
    await this.recordEvent(manager, moved, before.status, actor, reason ? { reason } : {});
    if (isFinal(to) && moved.driverId !== null) await tx.release(moved.driverId);
    return { delivery: moved, changed: true };
  }

  private async recordEvent(
    manager: FleetTransaction['manager'],
    delivery: DeliveryEntity,
    fromStatus: DeliveryStatus | null,
    actor: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    await this.repository.recordChange(manager, delivery.id, {
      type: EVENT_TYPES[delivery.status],
      fromStatus,
      actor,
      requestId: requestContext.requestId() ?? null,
      data,
      firstAttemptAfterSeconds: this.outbox.firstAttemptAfterSeconds(),
    });
  }
}
