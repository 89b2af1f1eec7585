import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AvailabilityService } from '../availability/availability.service.js';
import { DomainError } from '../common/domain-error.js';
import { requestContext } from '../common/request-context.js';
import { isUniqueViolation } from '../common/unique-violation.js';
import { DriverEntity } from '../drivers/driver.entity.js';
import { DeliveriesRepository, NewDelivery } from './deliveries.repository.js';
import { DeliveryOutbox } from './delivery-outbox.js';
import { DeliveryEntity, DeliveryStatus } from './delivery.entity.js';
import { EVENT_TYPES, isFinal, statusesLeadingTo } from './delivery-state-machine.js';

export type AssignOutcome =
  | { kind: 'assigned'; delivery: DeliveryEntity }
  | { kind: 'driver-taken' }
  | { kind: 'order-taken' };

export type ChangeOutcome = { delivery: DeliveryEntity; changed: boolean };

/** Thrown inside a transaction to roll it back with a known outcome. */
class Rollback extends Error {
  constructor(readonly outcome: AssignOutcome) {
    super(outcome.kind);
  }
}

/**
 * Every delivery state change, each in one PostgreSQL transaction with its
 * audit event and its outbox message; the driver's new state is mirrored to
 * Redis only after commit, and before the caller answers.
 */
@Injectable()
export class DeliveryTransitions {
  constructor(
    private readonly repository: DeliveriesRepository,
    private readonly outbox: DeliveryOutbox,
    private readonly availability: AvailabilityService,
  ) {}

  /**
   * Claims `driverId` and creates the ASSIGNED delivery, atomically. Loses
   * cleanly (nothing written) when the driver was taken meanwhile, or when
   * another request created the live delivery of this order first.
   */
  async assign(delivery: NewDelivery, actor: string): Promise<AssignOutcome> {
    let driver: DriverEntity | undefined;
    let outcome: AssignOutcome;
    try {
      outcome = await this.repository.dataSource.transaction(async (manager) => {
        await this.repository.lockOrder(manager, delivery.sellerOrderId);
        if (await this.repository.findLiveBySellerOrder(delivery.sellerOrderId, manager)) throw new Rollback({ kind: 'order-taken' });
        const claimed = await this.repository.claimDriver(manager, delivery.driverId, this.availability.heartbeatCutoff());
        if (!claimed) throw new Rollback({ kind: 'driver-taken' });
        let created: DeliveryEntity;
        try {
          created = await this.repository.insert(manager, delivery);
        } catch (error) {
          if (isUniqueViolation(error, 'deliveries_live_seller_order_key')) throw new Rollback({ kind: 'order-taken' });
          if (isUniqueViolation(error, 'deliveries_live_driver_key')) throw new Rollback({ kind: 'driver-taken' });
          throw error;
        }
        await this.recordEvent(manager, created, null, actor, { driverId: created.driverId, distanceMeters: created.distanceMeters });
        driver = claimed;
        return { kind: 'assigned', delivery: created } as const;
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
    this.outbox.afterCommit();
    await this.availability.mirror(driver!);
    return outcome;
  }

  /**
   * Moves a delivery to `to`. The same move twice is a no-op (changed:
   * false, no new event); a move the state machine forbids is 409. Reaching
   * a final status makes the driver AVAILABLE again.
   */
  async change(deliveryId: string, to: DeliveryStatus, actor: string, reason?: string): Promise<ChangeOutcome> {
    const released: DriverEntity[] = [];
    const result = await this.repository.dataSource.transaction((manager) =>
      this.changeIn(manager, deliveryId, to, actor, reason, released),
    );
    if (result.changed) this.outbox.afterCommit();
    for (const driver of released) await this.availability.mirror(driver);
    return result;
  }

  /**
   * Cancels the order's latest delivery. Holds the order's lock, so it sees
   * an assignment of the same order that is committing right now.
   */
  async cancelOrder(sellerOrderId: string, actor: string, reason?: string): Promise<ChangeOutcome> {
    const released: DriverEntity[] = [];
    const result = await this.repository.dataSource.transaction(async (manager) => {
      await this.repository.lockOrder(manager, sellerOrderId);
      const latest = await this.repository.findLatestBySellerOrder(sellerOrderId, manager);
      if (!latest) throw new DomainError('DELIVERY_NOT_FOUND', `No delivery for order ${sellerOrderId}`);
      if (latest.status === 'DELIVERED' || latest.status === 'FAILED') {
        throw new DomainError('DELIVERY_ALREADY_FINISHED', `The delivery of order ${sellerOrderId} already ended ${latest.status}`);
      }
      return this.changeIn(manager, latest.id, 'CANCELLED', actor, reason, released);
    });
    if (result.changed) this.outbox.afterCommit();
    for (const driver of released) await this.availability.mirror(driver);
    return result;
  }

  private async changeIn(
    manager: EntityManager,
    deliveryId: string,
    to: DeliveryStatus,
    actor: string,
    reason: string | undefined,
    released: DriverEntity[],
  ): Promise<ChangeOutcome> {
    // Locked, so the status read here is the one the move starts from.
    const before = await this.repository.findByIdForUpdate(manager, deliveryId);
    if (!before) throw new DomainError('DELIVERY_NOT_FOUND', `Delivery ${deliveryId} does not exist`);
    const moved = await this.repository.moveStatus(manager, deliveryId, statusesLeadingTo(to), to, to === 'FAILED' ? (reason ?? null) : null);
    if (!moved) {
      if (before.status === to) return { delivery: before, changed: false };
      throw new DomainError('INVALID_DELIVERY_TRANSITION', `A delivery cannot move from ${before.status} to ${to}`);
    }
    await this.recordEvent(manager, moved, before.status, actor, reason ? { reason } : {});
    if (isFinal(to)) {
      const driver = await this.repository.releaseDriver(manager, moved.driverId);
      if (driver) released.push(driver);
    }
    return { delivery: moved, changed: true };
  }

  private async recordEvent(
    manager: EntityManager,
    delivery: DeliveryEntity,
    fromStatus: DeliveryStatus | null,
    actor: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    const event = await this.repository.insertEvent(manager, {
      deliveryId: delivery.id,
      type: EVENT_TYPES[delivery.status],
      fromStatus,
      toStatus: delivery.status,
      actor,
      requestId: requestContext.requestId() ?? null,
      data,
    });
    await this.outbox.record(manager, delivery, event);
  }
}
