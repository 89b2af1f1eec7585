import { Injectable } from '@nestjs/common';
import { AvailabilityService } from '../availability/availability.service.js';
import { roundMeters } from '../availability/geo.js';
import { DomainError } from '../common/domain-error.js';
import { AppConfig, DispatchMode } from '../config/app-config.js';
import { DeliveriesRepository, OrderDispatch } from '../deliveries/deliveries.repository.js';
import { DeliveryEntity } from '../deliveries/delivery.entity.js';
import { DeliveryOutbox } from '../deliveries/delivery-outbox.js';
import { DeliveryTransitions } from '../deliveries/delivery-transitions.service.js';
import { LIVE_STATUSES } from '../deliveries/delivery-state-machine.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { CANDIDATES_PER_ROUND, Dispatcher } from './dispatcher.service.js';

export interface ReadyOrder {
  sellerOrderId: string;
  pickupLat: number;
  pickupLon: number;
  dropoffLat?: number;
  dropoffLon?: number;
  channelId?: string;
  dispatchMode?: DispatchMode;
  maxWaitSeconds?: number;
}

export type ReadyAnswer =
  | {
      assigned: true;
      status?: 'ASSIGNED' | 'PICKED_UP';
      sellerOrderId: string;
      deliveryId: string;
      driverId: string;
      distanceMeters: number;
    }
  | {
      assigned: false;
      status: 'OFFERED';
      sellerOrderId: string;
      deliveryId: string;
      driverId: string;
      distanceMeters: number;
      offerExpiresAt: string;
    }
  | { assigned: false; status: 'PENDING'; sellerOrderId: string; deliveryId: string; reason: 'NO_DRIVER_AVAILABLE'; waitUntil: string }
  | { assigned: false; sellerOrderId: string; reason: 'NO_DRIVER_AVAILABLE' };

const alreadyDelivered = (sellerOrderId: string) =>
  new DomainError('DELIVERY_ALREADY_FINISHED', `Order ${sellerOrderId} was already delivered`);

/**
 * The answer for the order's live delivery. An assigned one is v1's answer;
 * it names its `status` too when the order is dispatched with v2 settings
 * (`withStatus`), so a v1 client sees exactly what it always did.
 */
function answerFor(d: DeliveryEntity, withStatus: boolean): ReadyAnswer {
  const base = { sellerOrderId: d.sellerOrderId, deliveryId: d.id };
  switch (d.status) {
    case 'PENDING':
      return { assigned: false, status: 'PENDING', ...base, reason: 'NO_DRIVER_AVAILABLE', waitUntil: d.waitUntil!.toISOString() };
    case 'OFFERED':
      return {
        assigned: false,
        status: 'OFFERED',
        ...base,
        driverId: d.driverId!,
        distanceMeters: d.distanceMeters!,
        offerExpiresAt: d.offerExpiresAt!.toISOString(),
      };
    case 'ASSIGNED':
    case 'PICKED_UP':
      return {
        assigned: true,
        ...(withStatus ? { status: d.status } : {}),
        ...base,
        driverId: d.driverId!,
        distanceMeters: d.distanceMeters!,
      };
    default:
      throw new Error(`Delivery ${d.id} is ${d.status}, not live`);
  }
}

/**
 * Dispatches a ready order, exactly once: to the nearest available driver
 * (assigned at once, or offered in offer mode), or, when none is in reach and
 * the order may wait, as a PENDING delivery the dispatcher gives to the first
 * driver that comes into reach. Candidates come nearest first from the
 * availability search; PostgreSQL decides each claim in one statement
 * (`claim_delivery`: the order's lock, its latest delivery, the conditional
 * UPDATE of the driver, the delivery, its event and its message; concurrent
 * claims share one statement), and unique indexes make a second live
 * delivery for an order, or for a driver, impossible whatever the application
 * does.
 */
@Injectable()
export class AssignmentService {
  constructor(
    private readonly config: AppConfig,
    private readonly availability: AvailabilityService,
    private readonly deliveries: DeliveriesRepository,
    private readonly transitions: DeliveryTransitions,
    private readonly outbox: DeliveryOutbox,
    private readonly dispatcher: Dispatcher,
    private readonly metrics: MetricsService,
  ) {}

  /** Answers a ready order, counted in `assignments_total` and timed in `assignment_duration_seconds` by outcome. */
  async assign(order: ReadyOrder, actor: string): Promise<ReadyAnswer> {
    const started = performance.now();
    let outcome: Parameters<MetricsService['assignment']>[0] = 'error';
    try {
      const answer = await this.assignOrder(order, actor);
      const status = 'status' in answer ? answer.status : undefined;
      outcome = answer.assigned ? 'assigned' : status === 'OFFERED' ? 'offered' : status === 'PENDING' ? 'pending' : 'no_driver';
      return answer;
    } finally {
      this.metrics.assignment(outcome, (performance.now() - started) / 1000);
    }
  }

  private async assignOrder(order: ReadyOrder, actor: string): Promise<ReadyAnswer> {
    const dispatch = this.dispatchOf(order);
    const withStatus = this.usesDispatch(order);
    const tried = new Set<string>();
    for (;;) {
      // Drivers lost to other requests are BUSY now, so a new search no longer offers them.
      const candidates = (
        await this.availability.findNearestPositions({
          lat: order.pickupLat,
          lon: order.pickupLon,
          limit: CANDIDATES_PER_ROUND + tried.size,
        })
      ).filter((candidate) => !tried.has(candidate.driver.id));
      if (candidates.length === 0) return this.answerWithoutCandidates(order, dispatch, actor, withStatus);

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
          dispatch,
          actor,
        );
        this.metrics.assignmentClaim(outcome.kind);
        if (outcome.kind === 'assigned' || outcome.kind === 'order-live') return answerFor(outcome.delivery, withStatus);
        if (outcome.kind === 'order-delivered') throw alreadyDelivered(order.sellerOrderId);
        if (outcome.kind === 'order-taken') {
          const winner = await this.deliveries.findLiveBySellerOrder(order.sellerOrderId);
          if (winner) return answerFor(winner, withStatus);
        }
      }
    }
  }

  /**
   * No candidate left: the order's own live delivery (a repeat, or a
   * concurrent copy that took the last driver) answers, if any; otherwise the
   * order waits for a driver, or, with no wait, v1's NO_DRIVER_AVAILABLE.
   */
  private async answerWithoutCandidates(
    order: ReadyOrder,
    dispatch: OrderDispatch,
    actor: string,
    withStatus: boolean,
  ): Promise<ReadyAnswer> {
    // A live delivery is always the order's latest one (at most one is live, and it is the newest).
    const latest = await this.deliveries.findLatestBySellerOrder(order.sellerOrderId);
    if (latest && LIVE_STATUSES.includes(latest.status)) return answerFor(latest, withStatus);
    if (latest?.status === 'DELIVERED') throw alreadyDelivered(order.sellerOrderId);
    if (dispatch.maxWaitSeconds === 0) return { assigned: false, sellerOrderId: order.sellerOrderId, reason: 'NO_DRIVER_AVAILABLE' };

    const waiting = await this.deliveries.createPending({
      sellerOrderId: order.sellerOrderId,
      channelId: order.channelId ?? null,
      pickupLat: order.pickupLat,
      pickupLon: order.pickupLon,
      dropoffLat: order.dropoffLat ?? null,
      dropoffLon: order.dropoffLon ?? null,
      ...dispatch,
      ...this.dispatcher.changeContext(actor),
    });
    if (waiting.outcome === 'order-delivered') throw alreadyDelivered(order.sellerOrderId);
    if (waiting.outcome === 'order-live') return answerFor(waiting.delivery, withStatus);
    this.outbox.afterCommit();
    // A driver that became choosable while this order was being written did not see it waiting:
    // one more search, now that it is, so that no driver in reach is left idle beside it.
    const now = await this.dispatcher.dispatchPending(waiting.delivery.id);
    // Cancelled (or expired) meanwhile: the answer is the waiting delivery this request made.
    return answerFor(now && LIVE_STATUSES.includes(now.status) ? now : waiting.delivery, withStatus);
  }

  /** Cancels the order's live delivery and frees its driver; repeats are harmless. */
  async cancel(sellerOrderId: string, reason: string | undefined, actor: string): Promise<{ cancelled: true; deliveryId: string }> {
    const { delivery } = await this.transitions.cancelOrder(sellerOrderId, actor, reason);
    return { cancelled: true, deliveryId: delivery.id };
  }

  /** The order's dispatch: its own settings, or the service's. */
  private dispatchOf(order: ReadyOrder): OrderDispatch {
    const dispatchMode = order.dispatchMode ?? this.config.dispatchMode;
    return {
      dispatchMode,
      offerSeconds: dispatchMode === 'offer' ? this.config.offerTimeoutSeconds : null,
      maxWaitSeconds: order.maxWaitSeconds ?? this.config.dispatchMaxWaitSeconds,
      waitCell: this.dispatcher.grid.cellOf(order.pickupLat, order.pickupLon),
    };
  }

  /** Whether the order is dispatched with anything v1 did not have (then every answer names its status). */
  private usesDispatch(order: ReadyOrder): boolean {
    return (
      order.dispatchMode !== undefined ||
      order.maxWaitSeconds !== undefined ||
      this.config.dispatchMode !== 'auto' ||
      this.config.dispatchMaxWaitSeconds > 0
    );
  }
}
