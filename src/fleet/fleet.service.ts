import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { hydrate } from '../database/hydrate.js';
import { AvailabilityReconciler } from './availability-reconciler.js';
import { DriverEntity } from './driver.entity.js';
import { DriverState, heartbeatCutoff } from './driver-state.js';
import { FleetRepository } from './fleet.repository.js';
import { DriverStateMirror, NewestPoint } from './state-mirror.js';

/** The answer for a driver id no driver has. */
export const driverNotFound = (id: string) => new DomainError('DRIVER_NOT_FOUND', `Driver ${id} does not exist`);

/** How long a finished state change is remembered for changedSince. */
const RECENT_CHANGE_MS = 10_000;

/** A driver at a place, that may have just become choosable there. */
export interface DriverAt {
  id: string;
  lat: number;
  lon: number;
}

/** A row of a statement that claims drivers: the claimed driver's new row (as JSON), or null. */
export interface ClaimingRow {
  driver: Record<string, unknown> | null;
}

/**
 * The driver state changes a transaction makes through the fleet; each is
 * mirrored to Redis once the transaction has committed.
 */
export class FleetTransaction {
  constructor(
    /** For the caller's own statements in the same transaction. */
    readonly manager: EntityManager,
    private readonly repository: FleetRepository,
    private readonly changed: DriverState[],
  ) {}

  /** Activates or deactivates a driver; null when there is no such driver. */
  async setActive(driverId: string, isActive: boolean): Promise<DriverEntity | null> {
    return this.record(await this.repository.setActive(this.manager, driverId, isActive));
  }

  /** A driver whose delivery ended is AVAILABLE again (if it was BUSY). */
  async release(driverId: string): Promise<DriverEntity | null> {
    return this.record(await this.repository.release(this.manager, driverId));
  }

  private record(driver: DriverEntity | null): DriverEntity | null {
    if (driver) this.changed.push(driver);
    return driver;
  }
}

/**
 * The one owner of a driver's state: the only code that changes `status`,
 * `isActive` and `stateVersion` (here, in FleetRepository and in the
 * `claim_driver` routine), and the one after-commit path that mirrors every
 * committed change to Redis before the caller answers. Other modules ask it:
 * a status change, a transaction of theirs that activates or releases a
 * driver, a statement that claims drivers.
 */
@Injectable()
export class FleetService {
  private readonly logger = new Logger(FleetService.name);
  private readonly choosableListeners: Array<(drivers: DriverAt[]) => void> = [];
  private bufferedLocation?: (driverId: string) => NewestPoint | null;
  /** Drivers this process is claiming, or whose committed state it is writing to Redis: id → changes in flight. */
  private readonly changing = new Map<string, number>();
  /** Changes finished so far; for the last RECENT_CHANGE_MS, the number of each driver's last one, in order. */
  private changes = 0;
  private readonly finished = new Map<string, number>();
  private readonly finishedInOrder: Array<{ id: string; change: number; at: number }> = [];

  constructor(
    private readonly config: AppConfig,
    private readonly repository: FleetRepository,
    private readonly mirror: DriverStateMirror,
    private readonly reconciler: AvailabilityReconciler,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Where points not yet written to PostgreSQL are kept (the location module's write-behind buffer):
   * the fleet asks it, so that it does not depend on that module.
   */
  setBufferedLocations(source: (driverId: string) => NewestPoint | null): void {
    this.bufferedLocation = source;
  }

  /**
   * The driver with its newest location: a point this process has buffered, or
   * one Redis holds (from any process), can be newer than PostgreSQL's row.
   * Read your writes: once a ping is answered, every process shows it.
   */
  async withNewestLocation(driver: DriverEntity): Promise<DriverEntity> {
    let newest = this.bufferedLocation?.(driver.id) ?? null;
    if (this.mirror.isReady()) {
      const held = await this.mirror.location(driver.id).catch((error: Error) => {
        this.logger.debug(`Redis location read failed, PostgreSQL's stands: ${error.message}`);
        return null;
      });
      if (held && (!newest || held.recordedAt > newest.recordedAt)) newest = held;
    }
    if (!newest || (driver.lastLocationAt && newest.recordedAt <= driver.lastLocationAt)) return driver;
    return Object.assign(Object.create(Object.getPrototypeOf(driver) as object) as DriverEntity, driver, {
      lastLat: newest.lat,
      lastLon: newest.lon,
      lastLocationAt: newest.recordedAt,
      lastAccuracy: newest.accuracy,
      lastHeading: newest.heading,
      lastSpeed: newest.speed,
    });
  }

  /**
   * Keeps the driver's profile, as just committed, in Redis (best effort: a
   * copy Redis misses is written again by the next reconciliation).
   */
  async saveProfile(driver: DriverEntity): Promise<void> {
    if (!this.mirror.isReady()) return;
    await this.mirror.saveProfile(driver).catch((error: Error) => this.logger.debug(`Redis profile copy not saved: ${error.message}`));
  }

  /**
   * The driver as Redis knows it (profile as last committed, state as last
   * mirrored), for when PostgreSQL cannot be reached; null when Redis is
   * down or lacks the driver. Its location is for withNewestLocation to add.
   */
  async lastKnown(driverId: string): Promise<DriverEntity | null> {
    if (!this.mirror.isReady()) return null;
    return this.mirror.knownDriver(driverId).catch((error: Error) => {
      this.logger.debug(`Redis driver read failed: ${error.message}`);
      return null;
    });
  }

  /** Heartbeats older than this are stale: such a driver cannot be chosen. */
  heartbeatCutoff(now = new Date()): Date {
    return heartbeatCutoff(this.config.driverHeartbeatTtlSeconds, now);
  }

  /** AVAILABLE or OFFLINE, committed in PostgreSQL, then mirrored to Redis. 409 while the driver is BUSY. */
  async setStatus(driverId: string, status: 'AVAILABLE' | 'OFFLINE'): Promise<DriverEntity> {
    const driver = await this.repository.setStatusUnlessBusy(driverId, status);
    if (!driver) {
      if (!(await this.repository.findState(driverId))) throw driverNotFound(driverId);
      throw new DomainError(
        'DRIVER_HAS_ACTIVE_DELIVERY',
        'The driver is on a delivery (BUSY); it becomes AVAILABLE again when the delivery ends',
      );
    }
    await this.publish([driver]);
    return driver;
  }

  /**
   * Runs `work` in one transaction; the driver state changes it makes
   * through `tx` reach Redis after the commit, before this resolves.
   * `committed` runs first, at once after the commit (the caller's own
   * after-commit step: waking the outbox relay, say).
   */
  async transaction<T>(work: (tx: FleetTransaction) => Promise<T>, committed?: (result: T) => void): Promise<T> {
    const changed: DriverState[] = [];
    const result = await this.dataSource.transaction((manager) => work(new FleetTransaction(manager, this.repository, changed)));
    committed?.(result);
    await this.publish(changed);
    return result;
  }

  /**
   * Runs a statement that claims drivers through `claim_driver` and commits
   * on its own (a batch of delivery claims, say); each row carries the
   * claimed driver's new row, or null. Resolves once the statement has
   * committed, each row with `mirrored`: the claimed drivers on their way to
   * Redis, which the caller awaits before answering. It is not awaited here,
   * so the next statement need not wait for Redis. `claiming`: the drivers
   * the statement may claim, when known, counted as changing (changedSince)
   * from before it runs until their new states are in Redis.
   */
  async claim<R extends ClaimingRow>(
    statement: () => Promise<R[]>,
    claiming: string[] = [],
  ): Promise<Array<R & { mirrored: Promise<void> }>> {
    const done = this.markChanging(claiming);
    let rows: R[];
    try {
      rows = await statement();
    } catch (error) {
      done();
      throw error;
    }
    const manager = this.dataSource.manager;
    const mirrored = this.publish(rows.flatMap((row) => (row.driver ? [hydrate(manager, DriverEntity, row.driver)] : []))).finally(done);
    return rows.map((row) => ({ ...row, mirrored }));
  }

  /** Whether there is a driver with this id. */
  async exists(driverId: string): Promise<boolean> {
    return (await this.repository.findState(driverId)) !== null;
  }

  /** PostgreSQL's state of a driver Redis does not know yet, mirrored; null for an unknown driver. */
  async mirrorCurrent(driverId: string): Promise<DriverState | null> {
    const state = await this.repository.findState(driverId);
    if (state) await this.publish([state]);
    return state;
  }

  /** A mark of this moment for changedSince: the number of driver state changes this process has finished. */
  changeCount(): number {
    return this.changes;
  }

  /**
   * Whether this process is changing the driver's state (claiming it, or
   * writing a committed state of it to Redis), or has finished a change of
   * it since `mark` (from changeCount; marks older than RECENT_CHANGE_MS
   * are forgotten: false). A search that read Redis at `mark` may then have
   * met the state before a commit (a driver just claimed, still in the GEO
   * set): the mirror's expected lag, not a Redis out of line.
   */
  changedSince(driverId: string, mark: number): boolean {
    return this.changing.has(driverId) || (this.finished.get(driverId) ?? -1) > mark;
  }

  /** Mirrors drivers again whose Redis copy was found out of line with PostgreSQL. */
  async repair(driverIds: string[]): Promise<void> {
    try {
      await this.mirror.applyStates(await this.repository.findStates(driverIds), this.heartbeatCutoff());
    } catch (error) {
      this.logger.warn(`Could not repair ${driverIds.length} drivers in Redis: ${(error as Error).message}`);
      this.reconciler.requestReconcile();
    }
  }

  /**
   * Calls `listener`, after the commit and after Redis has the new state, with
   * the drivers that may have just become choosable: made AVAILABLE, freed
   * from a delivery or an offer, or moved (their pings reached PostgreSQL).
   * Whether each is choosable is for the listener to check.
   */
  onMaybeChoosable(listener: (drivers: DriverAt[]) => void): void {
    this.choosableListeners.push(listener);
  }

  /** Pings of these drivers have reached PostgreSQL. */
  driversMoved(drivers: DriverAt[]): void {
    this.signal(drivers);
  }

  private signal(drivers: DriverAt[]): void {
    if (drivers.length === 0) return;
    for (const listener of this.choosableListeners) listener(drivers);
  }

  /** Mirrors the committed states, then tells the listeners about the drivers that may now be chosen. */
  private async publish(states: DriverState[]): Promise<void> {
    await this.mirrorStates(states);
    this.signal(
      states.flatMap((s) =>
        s.status === 'AVAILABLE' && s.isActive && s.lastLat !== null && s.lastLon !== null
          ? [{ id: s.id, lat: s.lastLat, lon: s.lastLon }]
          : [],
      ),
    );
  }

  /**
   * The after-commit path: committed states into Redis. Never fails: Redis
   * being down is not an error (searches use PostgreSQL until it is
   * reconciled); a failed write asks for a reconciliation, and searches
   * double-check PostgreSQL meanwhile.
   */
  private async mirrorStates(states: DriverState[]): Promise<void> {
    if (states.length === 0 || !this.mirror.isReady()) return;
    const done = this.markChanging(states.map((s) => s.id));
    try {
      const failed = await this.mirror.applyStates(states, this.heartbeatCutoff());
      if (failed.length > 0) throw failed[0].error;
    } catch (error) {
      this.logger.warn(`Could not mirror ${states.map((s) => s.id).join(', ')} to Redis: ${(error as Error).message}`);
      this.reconciler.requestReconcile();
    } finally {
      done();
    }
  }

  /** Counts the drivers as changing (see changedSince) until the returned function is called, then as changed. */
  private markChanging(driverIds: string[]): () => void {
    for (const id of driverIds) this.changing.set(id, (this.changing.get(id) ?? 0) + 1);
    return () => {
      const at = Date.now();
      for (const id of driverIds) {
        const left = this.changing.get(id)! - 1;
        if (left === 0) this.changing.delete(id);
        else this.changing.set(id, left);
        this.finished.set(id, ++this.changes);
        this.finishedInOrder.push({ id, change: this.changes, at });
      }
      while (this.finishedInOrder.length > 0 && this.finishedInOrder[0].at < at - RECENT_CHANGE_MS) {
        const { id, change } = this.finishedInOrder.shift()!;
        if (this.finished.get(id) === change) this.finished.delete(id);
      }
    };
  }
}
