import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { isDatabaseUnavailable } from '../common/database-unavailable.js';
import { AppConfig } from '../config/app-config.js';
import { DeliveriesRepository } from '../deliveries/deliveries.repository.js';
import { DeliveryOutbox } from '../deliveries/delivery-outbox.js';
import { DISPATCHER_ACTOR, Dispatcher } from './dispatcher.service.js';

/** Timers fired per statement; a full batch is followed at once by the next. */
const FIRE_BATCH = 100;
/**
 * A delivery back in PENDING is due again this long after, in case the process
 * that dispatches it at once dies first; the dispatch that finds no driver
 * moves its timer to the end of its wait.
 */
export const DISPATCH_RETRY_SECONDS = 10;
/** The longest time between two lost-driver checks of a process. */
const LOST_CHECK_MAX_MS = 10_000;

/**
 * The dispatch timers: offer timeouts, the end of an order's wait, dispatch
 * attempts to retry and lost drivers. Each is a row in PostgreSQL with a due
 * time (`deliveries.due_at`; a lost driver's is its last heartbeat plus
 * DRIVER_LOST_SECONDS, checked less often), so a restart loses none. Every process looks every
 * DISPATCH_TIMER_INTERVAL_MS; `fire_due_deliveries` claims the due rows with
 * SKIP LOCKED, so each timer fires once however many processes look.
 */
@Injectable()
export class DispatchTimers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DispatchTimers.name);
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private stopped = false;
  private lostCheckedAt = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly deliveries: DeliveriesRepository,
    private readonly outbox: DeliveryOutbox,
    private readonly dispatcher: Dispatcher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Orders that started waiting under another reach (ASSIGNMENT_MAX_RADIUS_KM) move to this grid's cells.
    try {
      const moved = await this.deliveries.recell((lat, lon) => this.dispatcher.grid.cellOf(lat, lon));
      if (moved > 0) this.logger.log(`${moved} waiting orders moved to the cells of a ${this.dispatcher.grid.reachKm} km reach`);
    } catch (error) {
      // A database without the schema (DB_MIGRATIONS_RUN=false), or down: the service starts, and says so.
      this.logger.error(`Could not look at the waiting orders: ${(error as Error).message}`);
    }
    this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sweeping;
  }

  /** Fires every timer that is due now (the interval does this; tests may call it to not wait for it). */
  sweep(): Promise<void> {
    this.sweeping ??= this.fireAll().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sweep()
        .catch((error) => {
          const message = `Dispatch timers failed, retrying: ${(error as Error).message}`;
          if (isDatabaseUnavailable(error)) this.logger.warn(message);
          else this.logger.error(message);
        })
        .finally(() => this.schedule());
    }, this.config.dispatchTimerIntervalMs);
    this.timer.unref();
  }

  /**
   * The lost-driver check reads every ASSIGNED delivery's driver, so it runs a
   * twelfth of DRIVER_LOST_SECONDS apart (10 s at most, and never more often
   * than the timers): a lost driver is found at most that much late.
   */
  private lostCheckDue(now: number): boolean {
    const every = Math.max(this.config.dispatchTimerIntervalMs, Math.min(LOST_CHECK_MAX_MS, (this.config.driverLostSeconds * 1000) / 12));
    if (now - this.lostCheckedAt < every) return false;
    this.lostCheckedAt = now;
    return true;
  }

  private async fireAll(): Promise<void> {
    const lostSeconds = this.lostCheckDue(Date.now()) ? this.config.driverLostSeconds : null;
    for (;;) {
      const fired = await this.deliveries.fireDue({
        limit: FIRE_BATCH,
        retrySeconds: DISPATCH_RETRY_SECONDS,
        lostSeconds,
        timeoutsBeforeOffline: this.config.offerTimeoutsBeforeOffline,
        actor: DISPATCHER_ACTOR,
        firstAttemptAfterSeconds: this.outbox.firstAttemptAfterSeconds(),
      });
      if (fired.some((timer) => timer.outcome !== 'retry')) this.outbox.afterCommit();
      await Promise.all(fired.map((timer) => timer.mirrored));
      // An order back in PENDING, or one whose dispatch is to be retried, goes to the next driver now.
      for (const timer of fired) {
        if (timer.outcome !== 'expired' && timer.delivery && !this.stopped) await this.dispatcher.dispatchPending(timer.delivery.id);
      }
      if (fired.length < FIRE_BATCH || this.stopped) return;
    }
  }
}
