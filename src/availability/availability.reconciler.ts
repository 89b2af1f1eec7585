import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisService } from '../redis/redis.service.js';
import { AvailabilityRepository } from './availability.repository.js';
import { AvailabilityStore } from './availability.store.js';

const BATCH_SIZE = 1_000;
/** How often expired heartbeats are swept out of the GEO set. */
export const SWEEP_EVERY_MS = 1_000;

export interface ReconcileReport {
  drivers: number;
  pruned: number;
}

/**
 * Keeps Redis equal to PostgreSQL. Reconciliation replays every driver's
 * state from PostgreSQL in batches of 1,000 (never the whole fleet in
 * memory) at start-up, after every Redis (re)connection and every
 * RECONCILE_INTERVAL_SECONDS; then removes GEO members PostgreSQL does not
 * list as choosable, and marks Redis as synced. The sweeper takes drivers
 * whose heartbeat expired out of the GEO set every second.
 */
@Injectable()
export class AvailabilityReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AvailabilityReconciler.name);
  private reconcileTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  /** The run waiting to start, which new callers join; a run already under way is not joined. */
  private queued?: Promise<ReconcileReport | null>;
  private previous: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly repository: AvailabilityRepository,
    private readonly store: AvailabilityStore,
    private readonly redis: RedisService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.redis.client) return;
    this.redis.onReady(() => void this.reconcile());
    if (this.redis.isReady) void this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.config.reconcileIntervalSeconds * 1000);
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.reconcileTimer.unref();
    this.sweepTimer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.reconcileTimer);
    clearInterval(this.sweepTimer);
  }

  /**
   * Runs a reconciliation that starts after this call, so it sees every change
   * committed before it. Callers arriving while a run is under way share the
   * next one. Resolves to null when Redis is unavailable.
   */
  reconcile(): Promise<ReconcileReport | null> {
    if (this.queued) return this.queued;
    const next = this.previous.then(() => {
      this.queued = undefined;
      return this.run();
    });
    this.queued = next;
    this.previous = next.catch(() => undefined);
    return next;
  }

  async sweep(): Promise<number> {
    if (!this.store.isReady()) return 0;
    try {
      const cutoff = new Date(Date.now() - this.config.driverHeartbeatTtlSeconds * 1000);
      return await this.store.sweepStale(cutoff);
    } catch (error) {
      this.logger.debug(`Sweep skipped: ${(error as Error).message}`);
      return 0;
    }
  }

  private async run(): Promise<ReconcileReport | null> {
    if (!this.store.isReady() || this.stopped) return null;
    const started = Date.now();
    try {
      let drivers = 0;
      let afterId: string | null = null;
      for (;;) {
        const batch = await this.repository.listStates(afterId, BATCH_SIZE);
        if (batch.length === 0) break;
        // The cutoff is taken per batch, so a long run does not judge late batches by an old clock.
        await this.store.applyStates(batch, new Date(Date.now() - this.config.driverHeartbeatTtlSeconds * 1000));
        drivers += batch.length;
        afterId = batch[batch.length - 1].id;
        if (batch.length < BATCH_SIZE) break;
      }
      const pruned = await this.store.pruneGeo();
      await this.store.markSynced(new Date());
      const message = `Reconciled ${drivers} drivers with Redis in ${Date.now() - started} ms (${pruned} stale GEO members removed)`;
      if (pruned > 0) this.logger.log(message);
      else this.logger.debug(message);
      return { drivers, pruned };
    } catch (error) {
      this.logger.warn(`Reconciliation failed, will retry: ${(error as Error).message}`);
      return null;
    }
  }
}
