import { Injectable } from '@nestjs/common';
import { AvailabilityService } from '../availability/availability.service.js';
import { DomainError } from '../common/domain-error.js';
import { DeliveriesRepository } from '../deliveries/deliveries.repository.js';
import { DeliveryEntity } from '../deliveries/delivery.entity.js';
import { DeliveryTransitions } from '../deliveries/delivery-transitions.service.js';
import { LIVE_STATUSES } from '../deliveries/delivery-state-machine.js';
import { roundMeters } from '../availability/geo.js';

export interface ReadyOrder {
  sellerOrderId: string;
  pickupLat: number;
  pickupLon: number;
  dropoffLat?: number;
  dropoffLon?: number;
  channelId?: string;
}

export type ReadyAnswer =
  | { assigned: true; sellerOrderId: string; deliveryId: string; driverId: string; distanceMeters: number }
  | { assigned: false; sellerOrderId: string; reason: 'NO_DRIVER_AVAILABLE' };

/** Candidates tried per search round; a lost claim moves on to the next one. */
const CANDIDATES_PER_ROUND = 5;

const alreadyDelivered = (sellerOrderId: string) =>
  new DomainError('DELIVERY_ALREADY_FINISHED', `Order ${sellerOrderId} was already delivered`);

const assignedAnswer = (d: DeliveryEntity): ReadyAnswer => ({
  assigned: true,
  sellerOrderId: d.sellerOrderId,
  deliveryId: d.id,
  driverId: d.driverId,
  distanceMeters: d.distanceMeters,
});

/**
 * Assigns the nearest available driver to a ready order, exactly once.
 * Candidates come nearest first from the availability search; PostgreSQL
 * decides each claim in one statement (`claim_delivery`: the order's lock,
 * its latest delivery, the conditional UPDATE of the driver, the delivery,
 * its event and its message; concurrent claims share one statement), and
 * unique indexes make a second live delivery for an order, or for a driver,
 * impossible whatever the application does.
 */
@Injectable()
export class AssignmentService {
  constructor(
    private readonly availability: AvailabilityService,
    private readonly deliveries: DeliveriesRepository,
    private readonly transitions: DeliveryTransitions,
  ) {}

  async assign(order: ReadyOrder, actor: string): Promise<ReadyAnswer> {
    const tried = new Set<string>();
    for (;;) {
      // Drivers lost to other requests are BUSY now, so a new search no longer offers them.
      const candidates = (
        await this.availability.findNearest({ lat: order.pickupLat, lon: order.pickupLon, limit: CANDIDATES_PER_ROUND + tried.size })
      ).filter((candidate) => !tried.has(candidate.driver.id));
      if (candidates.length === 0) return this.answerWithoutCandidates(order.sellerOrderId);

      for (const candidate of candidates) {
        tried.add(candidate.driver.id);
        // The claim itself looks at the order's latest delivery first, under the order's lock:
        // a repeat of the event, or a concurrent copy that won, is answered with that delivery.
        const outcome = await this.transitions.assign(
          {
            sellerOrderId: order.sellerOrderId,
            channelId: order.channelId ?? null,
            driverId: candidate.driver.id,
            pickupLat: order.pickupLat,
            pickupLon: order.pickupLon,
            dropoffLat: order.dropoffLat ?? null,
            dropoffLon: order.dropoffLon ?? null,
            // Stored as answered: to a tenth of a metre.
            distanceMeters: roundMeters(candidate.distanceMeters),
          },
          actor,
        );
        if (outcome.kind === 'assigned' || outcome.kind === 'order-live') return assignedAnswer(outcome.delivery);
        if (outcome.kind === 'order-delivered') throw alreadyDelivered(order.sellerOrderId);
        if (outcome.kind === 'order-taken') {
          const winner = await this.deliveries.findLiveBySellerOrder(order.sellerOrderId);
          if (winner) return assignedAnswer(winner);
        }
      }
    }
  }

  /** No candidate left: the order's own live delivery (a repeat, or a concurrent copy that took the last driver) answers, if any. */
  private async answerWithoutCandidates(sellerOrderId: string): Promise<ReadyAnswer> {
    // A live delivery is always the order's latest one (at most one is live, and it is the newest).
    const latest = await this.deliveries.findLatestBySellerOrder(sellerOrderId);
    if (latest && LIVE_STATUSES.includes(latest.status)) return assignedAnswer(latest);
    if (latest?.status === 'DELIVERED') throw alreadyDelivered(sellerOrderId);
    return { assigned: false, sellerOrderId, reason: 'NO_DRIVER_AVAILABLE' };
  }

  /** Cancels the order's live delivery and frees its driver; repeats are harmless. */
  async cancel(sellerOrderId: string, reason: string | undefined, actor: string): Promise<{ cancelled: true; deliveryId: string }> {
    const { delivery } = await this.transitions.cancelOrder(sellerOrderId, actor, reason);
    return { cancelled: true, deliveryId: delivery.id };
  }
}
