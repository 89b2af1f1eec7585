import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { isDatabaseUnavailable } from '../common/database-unavailable.js';
import { FleetService } from '../fleet/fleet.service.js';
import { AvailabilityRepository, LocationWrite } from './availability.repository.js';

/** Buffered points reach PostgreSQL within this time (the contract allows 1 s). */
export const FLUSH_EVERY_MS = 250;
/** A buffer this large is written at once instead of waiting for the timer. */
const FLUSH_AT_SIZE = 5_000;

/**
 * Write-behind for location pings: keeps the newest point per driver and
 * writes all of them in one statement every FLUSH_EVERY_MS, so a fleet
 * pinging every few seconds costs PostgreSQL a few batched updates a second
 * instead of one transaction per ping. A failed write keeps its points for
 * the next attempt. On shutdown the buffer is flushed, and points arriving
 * after that are written through.
 */
@Injectable()
export class LocationWriter implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(LocationWriter.name);
  private pending = new Map<string, LocationWrite>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private writeThrough = false;

  constructor(
    private readonly repository: AvailabilityRepository,
    private readonly fleet: FleetService,
  ) {
    fleet.setBufferedLocations((driverId) => this.latestPoint(driverId));
  }

  /** Buffers a point (or, during shutdown, writes it at once). */
  async record(point: LocationWrite): Promise<void> {
    if (this.writeThrough) return this.write([point]);
    this.merge(point);
    if (this.pending.size >= FLUSH_AT_SIZE) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  /** Writes everything buffered so far. Concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.writePending().finally(() => {
      this.flushing = undefined;
      if (this.pending.size > 0 && !this.writeThrough) this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
    });
    return this.flushing;
  }

  get bufferedCount(): number {
    return this.pending.size;
  }

  private async writePending(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.write(batch);
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        // Keep the points (newer ones that arrived meanwhile win) and try again on the next tick.
        for (const point of batch) this.merge(point);
        this.logger.warn(`Could not write ${batch.length} locations, will retry: ${(error as Error).message}`);
      } else {
        await this.writeOneByOne(batch);
      }
    }
  }

  /** A row PostgreSQL refuses must not hold back everyone else's: write singly, drop what is refused. */
  private async writeOneByOne(batch: LocationWrite[]): Promise<void> {
    for (const point of batch) {
      try {
        await this.write([point]);
      } catch (error) {
        if (isDatabaseUnavailable(error)) this.merge(point);
        else this.logger.warn(`Dropped a location of driver ${point.driverId} PostgreSQL refused: ${(error as Error).message}`);
      }
    }
  }

  /** Writes points; the fleet then tells dispatch where these drivers are now. */
  private async write(points: LocationWrite[]): Promise<void> {
    await this.repository.writeLocations(points);
    this.fleet.driversMoved(points.filter((p) => p.moves).map((p) => ({ id: p.driverId, lat: p.lat, lon: p.lon })));
  }

  /** The newest buffered point that moves the driver, if any: newer than what PostgreSQL has. */
  latestPoint(driverId: string): LocationWrite | null {
    const point = this.pending.get(driverId);
    return point?.moves ? point : null;
  }

  private merge(point: LocationWrite): void {
    const existing = this.pending.get(point.driverId);
    if (!existing) {
      this.pending.set(point.driverId, point);
      return;
    }
    // A heartbeat-only point never displaces a point that moves the driver.
    const newer = !point.moves ? existing : !existing.moves || point.recordedAt >= existing.recordedAt ? point : existing;
    const seenAt = point.seenAt > existing.seenAt ? point.seenAt : existing.seenAt;
    this.pending.set(point.driverId, { ...newer, seenAt });
  }

  /** Runs while requests may still be in flight: flush, then write through from here on. */
  async beforeApplicationShutdown(): Promise<void> {
    this.writeThrough = true;
    await this.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    // A last attempt for anything a failed flush put back.
    if (this.pending.size > 0) await this.writePending();
    if (this.pending.size > 0) this.logger.error(`${this.pending.size} buffered locations could not be written`);
  }
}
