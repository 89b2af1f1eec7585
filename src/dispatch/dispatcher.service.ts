import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AvailabilityService } from '../availability/availability.service.js';
import { MAX_SEARCH_RADIUS_KM, roundMeters } from '../availability/geo.js';
import { isDatabaseUnavailable } from '../common/database-unavailable.js';
import { requestContext } from '../common/request-context.js';
import { AppConfig } from '../config/app-config.js';
import { ChangeContext, DeliveriesRepository } from '../deliveries/deliveries.repository.js';
import { DeliveryEntity } from '../deliveries/delivery.entity.js';
import { DeliveryOutbox } from '../deliveries/delivery-outbox.js';
import { DriverAt, FleetService } from '../fleet/fleet.service.js';
import { WaitingGrid } from './waiting-grid.js';

/** Candidates tried per search round; a lost claim moves on to the next one. */
export const CANDIDATES_PER_ROUND = 5;
/** Rounds of matching drivers against waiting orders after one signal: each round dispatches at least one order. */
const MAX_MATCH_ROUNDS = 50;
/** How the audit trail names the dispatcher's own changes (timers, re-dispatch). */
export const DISPATCHER_ACTOR = 'dispatcher';

/**
 * Dispatches waiting (PENDING) orders: to the nearest choosable driver who
 * has not refused the order, offered or assigned as the order says. It runs
 * when an order goes back to PENDING, and when a driver may have just become
 * choosable (the fleet's signal: AVAILABLE, freed, or moved into reach), for
 * the oldest waiting orders in that driver's reach, found on the waiting-order
 * grid with a few index probes however many orders wait. PostgreSQL decides
 * every claim under the delivery's row lock (`dispatch_delivery`).
 */
@Injectable()
export class Dispatcher implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(Dispatcher.name);
  readonly grid: WaitingGrid;
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly availability: AvailabilityService,
    private readonly deliveries: DeliveriesRepository,
    private readonly outbox: DeliveryOutbox,
    private readonly fleet: FleetService,
  ) {
    this.grid = new WaitingGrid(this.reachKm());
  }

  onModuleInit(): void {
    this.fleet.onMaybeChoosable((drivers) => this.track(this.matchDrivers(drivers)));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.running]);
  }

  /** Who makes a change and when its webhook is first sent: the request's caller, or the dispatcher. */
  changeContext(actor = DISPATCHER_ACTOR): ChangeContext {
    return { actor, requestId: requestContext.requestId() ?? null, firstAttemptAfterSeconds: this.outbox.firstAttemptAfterSeconds() };
  }

  /**
   * Offers or assigns a PENDING delivery to the nearest choosable driver who
   * has not refused it. Returns the delivery as it now is; a delivery still
   * PENDING found no driver and waits for one (its timer: the end of its wait).
   */
  async dispatchPending(deliveryId: string, actor = DISPATCHER_ACTOR): Promise<DeliveryEntity | null> {
    const delivery = await this.deliveries.findById(deliveryId);
    if (!delivery || delivery.status !== 'PENDING') return delivery;
    const tried = await this.deliveries.refusedDrivers(deliveryId);
    for (;;) {
      const candidates = (
        await this.availability.findNearestPositions({
          lat: delivery.pickupLat,
          lon: delivery.pickupLon,
          limit: CANDIDATES_PER_ROUND + tried.size,
        })
      ).filter((candidate) => !tried.has(candidate.driver.id));
      if (candidates.length === 0) {
        await this.deliveries.park(deliveryId);
        return delivery;
      }
      for (const candidate of candidates) {
        tried.add(candidate.driver.id);
        const result = await this.deliveries.dispatch({
          deliveryId,
          driverId: candidate.driver.id,
          distanceMeters: roundMeters(candidate.distanceMeters),
          heartbeatCutoff: this.fleet.heartbeatCutoff(),
          offerSeconds: this.config.offerTimeoutSeconds,
          ...this.changeContext(actor),
        });
        if (result.outcome === 'dispatched') this.outbox.afterCommit();
        await result.mirrored;
        if (result.outcome === 'dispatched' || result.outcome === 'not-pending') return result.delivery;
      }
    }
  }

  /**
   * Matches drivers that may have just become choosable against the waiting
   * orders in their reach, oldest first, until none of them is left choosable
   * or no order in their reach can be dispatched.
   */
  async matchDrivers(drivers: DriverAt[]): Promise<void> {
    // Most batches of pings find no order waiting: one cheap probe, before the cells of thousands of drivers.
    if (!(await this.deliveries.anyWaiting())) return;
    // The search's own reach and measure (haversine), so every order matched here is one it can serve.
    const radius = this.reachKm() * 1000;
    const points = drivers.map((d) => ({ driverId: d.id, cells: this.grid.cellsAround(d.lat, d.lon) }));
    for (let round = 0; round < MAX_MATCH_ROUNDS && !this.stopped; round++) {
      const waiting = await this.deliveries.waitingNear(points, radius, this.fleet.heartbeatCutoff());
      let progress = false;
      for (const deliveryId of waiting) {
        const now = await this.dispatchPending(deliveryId);
        if (now?.status !== 'PENDING') progress = true;
      }
      if (!progress) return;
    }
  }

  /** Background work is awaited on shutdown, and its failure logged, never thrown at a caller. */
  track(work: Promise<void>): void {
    const tracked = work
      .catch((error) => {
        const message = `Dispatch failed, the timers will retry: ${(error as Error).message}`;
        if (isDatabaseUnavailable(error)) this.logger.warn(message);
        else this.logger.error(message);
      })
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  private reachKm(): number {
    return Math.min(this.config.assignmentMaxRadiusKm, MAX_SEARCH_RADIUS_KM);
  }
}
