import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { heartbeatCutoff } from './driver-state.js';
import { FleetRepository } from './fleet.repository.js';
import { DriverStateMirror } from './state-mirror.js';

const BATCH_SIZE = 1_000;
/** How often expired heartbeats are swept out of the GEO set. */
export const SWEEP_EVERY_MS = 1_000;
/** The cluster's sweep lock lasts a little less than a period, so timer jitter never skips a sweep. */
const SWEEP_LOCK_MS = SWEEP_EVERY_MS - 100;
/** Reconciliations asked for because Redis was found stale are at least this far apart. */
const REQUESTED_GAP_MS = 5_000;
/** A run holds the cluster's reconciliation lease this long, renewed after every batch. */
const LEASE_MS = 30_000;

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
 *
 * Every process of a cluster runs the timers, but the work is done once:
 * a run takes a lease in Redis (`drivers:reconciling`) and is skipped while
 * another process holds it, a periodic run is skipped when the cluster
 * reconciled less than half an interval ago, and a sweep is skipped when
 * another process swept within the second.
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
  private lastStartedAt = 0;
  private requested?: NodeJS.Timeout;
  /** The lease of a run that failed without giving it back (Redis stopped answering): given back on its return. */
  private abandonedLease?: string;

  constructor(
    private readonly config: AppConfig,
    private readonly repository: FleetRepository,
    private readonly store: DriverStateMirror,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {
    metrics.setDriverCountsSource(async () =>
      this.store.isReady() ? this.store.counts(heartbeatCutoff(this.config.driverHeartbeatTtlSeconds)) : null,
    );
  }

  onApplicationBootstrap(): void {
    if (!this.redis.client) return;
    // A Redis that came back (restarted, restored from an old snapshot, or silent while PostgreSQL moved on) is not
    // trusted until reconciled: no search may use it before drivers:synced is gone. A lease left by a run that
    // Redis stopped answering is given back, so that the run on return is not skipped for it.
    this.redis.onReset(async () => {
      await this.store.clearSynced();
      if (this.abandonedLease) await this.store.endSync(this.abandonedLease);
      this.abandonedLease = undefined;
    });
    // A run skipped for another process's lease, or cut short, is asked for again: the other may not have seen our writes.
    this.redis.onReady(() => {
      void this.reconcile().then((report) => {
        if (!report) this.requestReconcile();
      });
    });
    if (this.redis.isReady) void this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcileIfDue(), this.config.reconcileIntervalSeconds * 1000);
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.reconcileTimer.unref();
    this.sweepTimer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.requested);
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

  /**
   * Asks for a reconciliation soon, after Redis was found out of line with
   * PostgreSQL; at most one every REQUESTED_GAP_MS, however often asked.
   */
  requestReconcile(): void {
    if (this.requested || this.stopped || !this.redis.client) return;
    const wait = Math.max(0, this.lastStartedAt + REQUESTED_GAP_MS - Date.now());
    this.requested = setTimeout(() => {
      this.requested = undefined;
      void this.reconcile();
    }, wait);
    this.requested.unref();
  }

  /** Sweeps expired heartbeats out of the GEO set; null when skipped (Redis down, or swept elsewhere this second). */
  async sweep(): Promise<number | null> {
    if (!this.store.isReady()) return null;
    try {
      const removed = await this.store.sweepStale(this.cutoff(), SWEEP_LOCK_MS);
      this.metrics.backgroundRun('sweep', removed === null ? 'skipped' : 'ran');
      return removed;
    } catch (error) {
      this.logger.debug(`Sweep skipped: ${(error as Error).message}`);
      return null;
    }
  }

  private cutoff(): Date {
    return heartbeatCutoff(this.config.driverHeartbeatTtlSeconds);
  }

  /** The periodic run: skipped when a process of the cluster completed one less than half an interval ago. */
  private async reconcileIfDue(): Promise<void> {
    try {
      const syncedAt = await this.store.syncedAt();
      if (syncedAt && Date.now() - syncedAt.getTime() < (this.config.reconcileIntervalSeconds * 1000) / 2) {
        this.metrics.backgroundRun('reconcile', 'skipped');
        return;
      }
    } catch {
      return; // Redis is down; its return triggers a run.
    }
    await this.reconcile();
  }

  private async run(): Promise<ReconcileReport | null> {
    if (!this.store.isReady() || this.stopped) return null;
    const started = Date.now();
    this.lastStartedAt = started;
    const token = randomUUID();
    // A lapse during the run (Redis lost or silent) may have kept writes from Redis that the run had already passed.
    const lapses = this.redis.lapseCount;
    try {
      if (!(await this.store.beginSync(token, LEASE_MS))) {
        this.logger.debug('Reconciliation skipped: another process is reconciling');
        this.metrics.backgroundRun('reconcile', 'skipped');
        return null;
      }
      this.logger.debug('Reconciliation started');
      let drivers = 0;
      let failed = 0;
      let afterId: string | null = null;
      for (;;) {
        const batch = await this.repository.listStates(afterId, BATCH_SIZE);
        if (batch.length === 0) break;
        // The cutoff is taken per batch, so a long run does not judge late batches by an old clock.
        const errors = await this.store.applyStates(batch, this.cutoff(), 'with profiles');
        failed += errors.length;
        for (const { id, error } of errors.slice(0, 3)) this.logger.warn(`Could not mirror driver ${id}: ${error.message}`);
        drivers += batch.length;
        afterId = batch[batch.length - 1].id;
        if (batch.length < BATCH_SIZE) break;
        if (!(await this.store.renewSync(token, LEASE_MS)))
          throw new Error('the reconciliation lease was lost (Redis flushed, or the run stalled)');
      }
      const pruned = await this.store.pruneGeo(this.cutoff());
      this.metrics.backgroundRun('reconcile', 'ran');
      if (failed > 0 || this.redis.lapseCount !== lapses || !(await this.store.markSynced(token, new Date()))) {
        await this.store.endSync(token);
        this.logger.warn(
          `Reconciliation incomplete (${failed} drivers failed, or Redis was reset or lost meanwhile); searches stay on PostgreSQL`,
        );
        return null;
      }
      const message = `Reconciled ${drivers} drivers with Redis in ${Date.now() - started} ms (${pruned} stale GEO members removed)`;
      if (pruned > 0) this.logger.log(message);
      else this.logger.debug(message);
      // Reported while the lease is still held: the next run, in any process, starts after this one's end.
      // (Should Redis fail just now, the lease lapses by itself; the run did complete.)
      await this.store.endSync(token).catch(() => undefined);
      return { drivers, pruned };
    } catch (error) {
      this.logger.warn(`Reconciliation failed, will retry: ${(error as Error).message}`);
      await this.store.endSync(token).catch(() => (this.abandonedLease = token));
      return null;
    }
  }
}
