import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal.js';
import { DomainError } from '../common/domain-error.js';
import { DeliveriesRepository, DeliveryAnswer } from '../deliveries/deliveries.repository.js';
import { DeliveryEntity } from '../deliveries/delivery.entity.js';
import { DeliveryOutbox } from '../deliveries/delivery-outbox.js';
import { actorOf } from '../deliveries/actor.js';
import { DISPATCH_RETRY_SECONDS } from './dispatch-timers.js';
import { Dispatcher } from './dispatcher.service.js';

const deliveryNotFound = (id: string) => new DomainError('DELIVERY_NOT_FOUND', `Delivery ${id} does not exist`);

/**
 * A driver's answer to an offer (accept, decline) and an operator's
 * reassignment, each decided by PostgreSQL under the delivery's row lock
 * (`answer_delivery`), so an accept racing the offer's timeout, or a
 * reassignment, has exactly one winner. A delivery that went back to PENDING
 * goes on to the next driver before the answer is sent.
 */
@Injectable()
export class OffersService {
  constructor(
    private readonly deliveries: DeliveriesRepository,
    private readonly outbox: DeliveryOutbox,
    private readonly dispatcher: Dispatcher,
  ) {}

  /**
   * OFFERED → ASSIGNED, by the offered driver (or an operator, or the driver
   * backend, for it: naming `driverId`, the answer holds only while that
   * driver holds the offer).
   */
  accept(id: string, principal: Principal, driverId?: string | null): Promise<DeliveryEntity> {
    return this.answer(id, 'accept', principal, null, driverId);
  }

  /** OFFERED, or ASSIGNED before pickup → PENDING, and on to the next driver; never offered to this driver again. */
  decline(id: string, principal: Principal, reason: string | null, driverId?: string | null): Promise<DeliveryEntity> {
    return this.answer(id, 'decline', principal, reason, driverId);
  }

  /** An operator takes the driver off an OFFERED or ASSIGNED delivery; the order goes to the next driver. */
  reassign(id: string, principal: Principal, reason: string | null): Promise<DeliveryEntity> {
    return this.answer(id, 'reassign', principal, reason);
  }

  private async answer(
    id: string,
    action: DeliveryAnswer,
    principal: Principal,
    reason: string | null,
    named?: string | null,
  ): Promise<DeliveryEntity> {
    // driverId: null is "not given", as for every optional field.
    if (principal.kind === 'driver' && named != null && named !== principal.driverId) {
      if (!(await this.deliveries.findById(id))) throw deliveryNotFound(id);
      throw new DomainError('FORBIDDEN', 'A driver token answers only for its own driver');
    }
    const result = await this.deliveries.answer({
      deliveryId: id,
      action,
      // Whose answer it is: a driver token's own driver, or the driver a backend or an operator names (null: whoever holds it).
      driverId: principal.kind === 'driver' ? principal.driverId : (named ?? null),
      reason,
      retrySeconds: DISPATCH_RETRY_SECONDS,
      ...this.dispatcher.changeContext(actorOf(principal)),
    });
    if (result.outcome === 'changed') this.outbox.afterCommit();
    await result.mirrored;
    const delivery = result.delivery;
    switch (result.outcome) {
      case 'not-found':
        throw deliveryNotFound(id);
      case 'forbidden':
        throw new DomainError('FORBIDDEN', 'A driver token acts only on its own deliveries and offers');
      case 'offer-expired':
        throw new DomainError('OFFER_EXPIRED', 'The offer expired before it was accepted; the order has gone to another driver');
      case 'not-pending':
        if (action === 'accept')
          throw new DomainError('OFFER_NOT_PENDING', `Delivery ${id} has no offer to accept (it is ${delivery!.status})`);
        throw new DomainError('INVALID_DELIVERY_TRANSITION', `A delivery cannot go back to PENDING from ${delivery!.status}`);
      case 'unchanged':
        return this.asSeenBy(principal, delivery!);
      case 'changed': {
        if (delivery!.status !== 'PENDING') return delivery!;
        // Back in PENDING: on to the next driver before answering. A driver sees the delivery it left, not where it went.
        const next = await this.dispatcher.dispatchPending(id);
        return principal.kind === 'driver' ? delivery! : (next ?? delivery!);
      }
    }
  }

  /** A driver that left a delivery sees it without the driver it went to. */
  private asSeenBy(principal: Principal, delivery: DeliveryEntity): DeliveryEntity {
    if (principal.kind !== 'driver' || delivery.driverId === principal.driverId) return delivery;
    return Object.assign(Object.create(Object.getPrototypeOf(delivery) as object | null) as DeliveryEntity, delivery, {
      driverId: null,
      distanceMeters: null,
      offerExpiresAt: null,
    });
  }
}
