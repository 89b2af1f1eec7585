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
 * decides each claim (conditional UPDATE plus the delivery row in one
 * transaction), and unique indexes make a second live delivery for an order,
 * or for a driver, impossible whatever the application does.
 */
@Injectable()
export class AssignmentService {
  constructor(
    private readonly availability: AvailabilityService,
    private readonly deliveries: DeliveriesRepository,
    private readonly transitions: DeliveryTransitions,
  ) {}

  async assign(order: ReadyOrder, actor: string): Promise<ReadyAnswer> {
    // A live delivery is always the order's latest one (at most one is live, and it is the newest).
    const latest = await this.deliveries.findLatestBySellerOrder(order.sellerOrderId);
    if (latest && LIVE_STATUSES.includes(latest.status)) return assignedAnswer(latest);
    if (latest?.status === 'DELIVERED') {
      throw new DomainError('DELIVERY_ALREADY_FINISHED', `Order ${order.sellerOrderId} was already delivered`);
    }

    const tried = new Set<string>();
    for (;;) {
      // Drivers lost to other requests are BUSY now, so a new search no longer offers them.
      const candidates = (
        await this.availability.findNearest({ lat: order.pickupLat, lon: order.pickupLon, limit: CANDIDATES_PER_ROUND + tried.size })
      ).filter((candidate) => !tried.has(candidate.driver.id));
      if (candidates.length === 0) {
        // A concurrent copy of this event may have taken the last driver for this very order.
        const winner = await this.deliveries.findLiveBySellerOrder(order.sellerOrderId);
        if (winner) return assignedAnswer(winner);
        return { assigned: false, sellerOrderId: order.sellerOrderId, reason: 'NO_DRIVER_AVAILABLE' };
      }

      for (const candidate of candidates) {
        tried.add(candidate.driver.id);
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
        if (outcome.kind === 'assigned') return assignedAnswer(outcome.delivery);
        if (outcome.kind === 'order-taken') {
          // A concurrent copy of this event won: answer what it answered.
          const winner = await this.deliveries.findLiveBySellerOrder(order.sellerOrderId);
          if (winner) return assignedAnswer(winner);
        }
      }
    }
  }

  /** Cancels the order's live delivery and frees its driver; repeats are harmless. */
  async cancel(sellerOrderId: string, reason: string | undefined, actor: string): Promise<{ cancelled: true; deliveryId: string }> {
    const { delivery } = await this.transitions.cancelOrder(sellerOrderId, actor, reason);
    return { cancelled: true, deliveryId: delivery.id };
  }
}
