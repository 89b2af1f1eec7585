import { Injectable, Logger } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { DriverEntity, DriverStatus } from '../fleet/driver.entity.js';
import type { DriverState } from '../fleet/driver-state.js';
import { MAX_GEO_LAT } from '../fleet/state-mirror.scripts.js';
import { driverNotFound, FleetService } from '../fleet/fleet.service.js';
import { MetricsService, NearestSearchSource } from '../metrics/metrics.service.js';
import { rateLimited, RateLimiter, RateLimitWindow, waitSeconds } from '../rate-limit/rate-limiter.js';
import { AvailabilityRepository, DriverPosition, DriverShape } from './availability.repository.js';
import { AvailabilityStore, PingPoint } from './availability.store.js';
import { haversineMeters, INDEXED_POSITION_LAG_METERS, MAX_SEARCH_RADIUS_KM, searchRadiiKm, storableDegrees } from './geo.js';
import { FilterLimits, judgePoint, PointOutcome, StoredPoint, tooInaccurate } from './location-filter.js';
import { LocationWriter } from './location-writer.js';

export interface LocationPing {
  lat: number;
  lon: number;
  recordedAt?: Date;
  accuracy?: number;
  heading?: number;
  speed?: number;
}

/** A driver a search found, as its shape reads it, and how far it is from the point (metres). */
export interface Nearby<T extends DriverPosition> {
  driver: T;
  distanceMeters: number;
}

export type NearbyDriver = Nearby<DriverEntity>;

/** The driver's stored point, as PostgreSQL has it. */
function storedPoint(state: DriverState): StoredPoint | null {
  return state.lastLat !== null && state.lastLon !== null && state.lastLocationAt !== null
    ? { lat: state.lastLat, lon: state.lastLon, recordedAt: state.lastLocationAt }
    : null;
}

export interface NearestQuery {
  lat: number;
  lon: number;
  radiusKm?: number;
  limit: number;
}

/** One window of a search: `count` candidates nearest the point, within `maxKm`, heartbeats newer than `cutoff`. */
interface WindowQuery {
  lat: number;
  lon: number;
  count: number;
  cutoff: Date;
  maxKm: number;
}

/** Extra candidates asked of either path, so near-ties at the cut-off rank the same on both. */
const CANDIDATE_MARGIN = 5;
/** Distances closer than this may be ordered differently by Redis (geohash-rounded positions) and PostgreSQL. */
const TIE_METERS = 1;
/** Redis' window grows by this factor while it may miss a driver... */
const WINDOW_GROWTH = 4;
/** ...up to this many candidates; a search that would need more scans the circle in PostgreSQL. */
export const MAX_CANDIDATES = 2_000;
/**
 * PostgreSQL's window holds this many times the candidates of Redis': its index
 * holds positions up to INDEXED_POSITION_LAG_METERS behind, so where drivers are
 * dense, a window of the nearest few could not tell whether a nearer one lies
 * just beyond it, and a second query (a scan of the circle) would be needed.
 */
const POSTGRES_WINDOW_FACTOR = 4;

/**
 * Live availability: location pings (the heartbeat), AVAILABLE/OFFLINE (the
 * fleet's to write), and the nearest-driver search. PostgreSQL holds the
 * truth; Redis mirrors the choosable drivers for speed, and every path works
 * without it.
 */
@Injectable()
export class AvailabilityService {
  private readonly logger = new Logger(AvailabilityService.name);
  private readonly limits: FilterLimits;

  constructor(
    private readonly config: AppConfig,
    private readonly repository: AvailabilityRepository,
    private readonly store: AvailabilityStore,
    private readonly writer: LocationWriter,
    private readonly fleet: FleetService,
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: MetricsService,
  ) {
    this.limits = { maxAccuracyMeters: config.locationMaxAccuracyMeters, maxSpeedKmh: config.locationMaxSpeedKmh };
  }

  /**
   * Records a location ping. Never changes the status. A point that is older
   * than the stored one, too inaccurate, or a jump no vehicle makes is
   * acknowledged and only counts as a heartbeat (location-filter.ts). Answers
   * the driver's status from Redis when it knows the driver (no PostgreSQL
   * query on the hot path), from PostgreSQL otherwise.
   */
  async recordLocation(driverId: string, ping: LocationPing): Promise<{ status: DriverStatus; online: true }> {
    const { status } = await this.recordPoints(driverId, [ping]);
    return { status, online: true };
  }

  /**
   * Records a batch of points (what a phone buffered offline) as one update:
   * one rate-limit unit, the points taken oldest first, each judged against
   * the last accepted one, so the newest accepted point is where the driver is.
   */
  async recordLocations(
    driverId: string,
    pings: LocationPing[],
  ): Promise<{ accepted: number; ignored: number; status: DriverStatus; online: true }> {
    const { status, outcomes } = await this.recordPoints(driverId, pings);
    const accepted = outcomes.filter((outcome) => outcome === 'moved').length;
    return { accepted, ignored: outcomes.length - accepted, status, online: true };
  }

  private async recordPoints(driverId: string, pings: LocationPing[]): Promise<{ status: DriverStatus; outcomes: PointOutcome[] }> {
    const now = new Date();
    const points = pings
      .map((ping) => ({
        lat: storableDegrees(ping.lat),
        lon: storableDegrees(ping.lon),
        // A phone whose clock runs ahead must not make later, correct points look older.
        recordedAt: ping.recordedAt && ping.recordedAt < now ? ping.recordedAt : now,
        moves: !tooInaccurate(ping.accuracy, this.limits),
        accuracy: ping.accuracy,
        heading: ping.heading,
        speed: ping.speed,
      }))
      .sort((a, b) => a.recordedAt.getTime() - b.recordedAt.getTime());
    const limit = this.rateLimiter.window('location', driverId, now.getTime());
    let result = await this.pingRedis(driverId, points, now, limit);
    let state: DriverState | null = null;
    if (result === undefined) {
      // Redis is down or does not know this driver yet: PostgreSQL answers, Redis learns the state, then the ping.
      state = await this.fleet.mirrorCurrent(driverId);
      if (!state) throw driverNotFound(driverId);
      result = await this.pingRedis(driverId, points, now, limit);
    }
    const inRedis = result !== undefined;
    let outcomes: PointOutcome[];
    if (result !== undefined) {
      outcomes = result.outcomes;
    } else {
      let previous: StoredPoint | null = this.writer.latestPoint(driverId) ?? storedPoint(state!);
      outcomes = points.map((point) => {
        const outcome = judgePoint(point, previous, this.limits);
        if (outcome === 'moved') previous = point;
        return outcome;
      });
    }
    for (const outcome of outcomes) if (outcome !== 'moved') this.metrics.locationIgnored(outcome);
    // PostgreSQL needs one point of the update: the newest accepted one, or, when none was, the newest
    // older one (it keeps its own newest), or a heartbeat alone (a filtered point moves nothing).
    const last = (wanted: PointOutcome) => points.findLast((_, i) => outcomes[i] === wanted);
    const moving = last('moved') ?? last('older');
    const point = moving ?? points[points.length - 1];
    await this.writer.record({
      driverId,
      lat: point.lat,
      lon: point.lon,
      recordedAt: point.recordedAt,
      seenAt: now,
      moves: moving !== undefined,
      accuracy: point.accuracy ?? null,
      heading: point.heading ?? null,
      speed: point.speed ?? null,
    });
    // Read your writes: other processes see a point Redis holds; without Redis, only PostgreSQL can show it to them.
    if (!inRedis) await this.writer.flush();
    return { status: (result ?? state!).status, outcomes };
  }

  /**
   * The driver's status as Redis knows it after recording the points, and what each did; undefined when
   * Redis cannot say (then no rate limit applies). Throws 429 when the driver's allowance is spent: nothing was recorded.
   */
  private async pingRedis(driverId: string, points: PingPoint[], now: Date, limit: RateLimitWindow | null) {
    if (!this.store.isReady()) return undefined;
    let result;
    try {
      result = await this.store.recordPing({
        driverId,
        points,
        now,
        ttlSeconds: this.config.driverHeartbeatTtlSeconds,
        maxSpeedKmh: this.limits.maxSpeedKmh,
        limit,
      });
    } catch (error) {
      this.logger.debug(`Redis ping failed, PostgreSQL only: ${(error as Error).message}`);
      return undefined;
    }
    if (result.waitMs > 0) throw rateLimited(waitSeconds(result.waitMs));
    return result.state ? { status: result.state.status, outcomes: result.outcomes } : undefined;
  }

  /** AVAILABLE or OFFLINE, committed in PostgreSQL, then mirrored to Redis before answering (by the fleet). */
  async setStatus(driverId: string, status: 'AVAILABLE' | 'OFFLINE'): Promise<DriverEntity> {
    // Pings still in the write-behind buffer carry the newest location: write them first, so the answer shows it.
    await this.writer.flush();
    return this.fleet.setStatus(driverId, status);
  }

  /**
   * The nearest choosable drivers, nearest first, at most `limit`, within
   * `radiusKm` (capped by ASSIGNMENT_MAX_RADIUS_KM and 100 km). Redis finds
   * the candidates when it is up and reconciled, PostgreSQL otherwise; either
   * way PostgreSQL confirms each one, and distances are computed the same way,
   * so both paths give the same answer.
   */
  findNearest(asked: NearestQuery): Promise<NearbyDriver[]> {
    return this.nearest(asked, this.repository.wholeDrivers);
  }

  /**
   * The same search as findNearest, the same answer, but each driver read as
   * its position only: what a dispatch needs to rank and claim candidates,
   * at a fraction of the cost of reading whole drivers.
   */
  findNearestPositions(asked: NearestQuery): Promise<Nearby<DriverPosition>[]> {
    return this.nearest(asked, this.repository.positions);
  }

  private async nearest<T extends DriverPosition>(asked: NearestQuery, shape: DriverShape<T>): Promise<Nearby<T>[]> {
    const query = { ...asked, lat: storableDegrees(asked.lat), lon: storableDegrees(asked.lon) };
    if (query.radiusKm !== undefined && query.radiusKm > this.config.assignmentMaxRadiusKm) {
      throw new DomainError('VALIDATION_FAILED', [
        `radiusKm must not be greater than ${this.config.assignmentMaxRadiusKm} (ASSIGNMENT_MAX_RADIUS_KM)`,
      ]);
    }
    const maxKm = Math.min(query.radiusKm ?? this.config.assignmentMaxRadiusKm, MAX_SEARCH_RADIUS_KM);
    const cutoff = this.fleet.heartbeatCutoff();
    const rank = (drivers: T[]) =>
      drivers
        .map((driver) => ({ driver, distanceMeters: haversineMeters(query.lat, query.lon, driver.lastLat!, driver.lastLon!) }))
        .filter((hit) => hit.distanceMeters <= maxKm * 1000)
        .sort((a, b) => a.distanceMeters - b.distanceMeters || (a.driver.id < b.driver.id ? -1 : 1));
    for (let count = query.limit + CANDIDATE_MARGIN; ; count *= WINDOW_GROWTH) {
      const { drivers, full, unseenFrom } = await this.candidates({ lat: query.lat, lon: query.lon, count, cutoff, maxKm }, shape);
      const ranked = rank(drivers);
      // A driver beyond a full window is at least `beyond` away: on Redis' path, as far as the farthest one
      // kept; on PostgreSQL's, as far as the window's last indexed position less the lag it may have.
      // Such a driver could still be among the answer, or tied with its last one (same depot, say: the tie
      // is then broken by id on every path)?
      const last = ranked[query.limit - 1];
      let mayMiss = false;
      if (full && last !== undefined) {
        mayMiss = (unseenFrom ?? ranked[ranked.length - 1].distanceMeters) - last.distanceMeters < TIE_METERS;
      } else if (full) {
        // Fewer than asked from a full window: on PostgreSQL's path, a driver beyond it may still be in the
        // radius; on Redis', the window held drivers skipped as not choosable (claimed just now), unless the
        // radius cut it short (then Redis holds no nearer one).
        mayMiss = unseenFrom !== undefined ? unseenFrom <= maxKm * 1000 : ranked.length === drivers.length;
      }
      if (!mayMiss) return ranked.slice(0, query.limit);
      if (unseenFrom !== undefined || count * WINDOW_GROWTH > MAX_CANDIDATES) {
        // PostgreSQL's path, or Redis' at its cap: the answer lies within `reach` by location, so within
        // reach + the lag by indexed position. One scan of that circle gives it exactly, however many
        // drivers crowd it.
        const reach = Math.min(last === undefined ? Infinity : last.distanceMeters + TIE_METERS, maxKm * 1000);
        const within = await this.repository.findChoosableIndexedWithin(
          {
            lat: query.lat,
            lon: query.lon,
            cutoff,
            indexedWithinMeters: reach + INDEXED_POSITION_LAG_METERS,
            limit: count,
          },
          shape,
        );
        return rank(within).slice(0, query.limit);
      }
    }
  }

  /**
   * Candidates from Redis when it can answer, from PostgreSQL otherwise; `full` when the window was
   * filled, and on PostgreSQL's path `unseenFrom`: how near a driver beyond the window can be, metres.
   */
  private async candidates<T extends DriverPosition>(
    query: WindowQuery,
    shape: DriverShape<T>,
  ): Promise<{ drivers: T[]; full: boolean; unseenFrom?: number }> {
    const fromRedis = await this.redisCandidates(query, shape);
    this.metrics.nearestSearchWindow(typeof fromRedis === 'string' ? fromRedis : 'redis');
    if (typeof fromRedis !== 'string') return fromRedis;
    // A wider window than Redis': it must reach the lag further out, or a second query is needed.
    const window = query.count * POSTGRES_WINDOW_FACTOR;
    const { drivers, windowSize, windowMeters } = await this.repository.findNearestChoosable(
      {
        lat: query.lat,
        lon: query.lon,
        cutoff: query.cutoff,
        window,
        limit: query.count,
      },
      shape,
    );
    const full = windowSize === window;
    // The window is in order of indexed position; each driver is within the lag of its own (1 m for rounding).
    return { drivers, full, unseenFrom: full ? windowMeters - INDEXED_POSITION_LAG_METERS - 1 : undefined };
  }

  /**
   * Candidates from Redis, confirmed by PostgreSQL; when Redis cannot answer (or answered stale), why:
   * PostgreSQL's path then gives them.
   */
  private async redisCandidates<T extends DriverPosition>(
    query: WindowQuery,
    shape: DriverShape<T>,
  ): Promise<{ drivers: T[]; full: boolean } | Exclude<NearestSearchSource, 'redis'>> {
    // Near the poles Redis cannot index every driver the circle could hold.
    if (Math.abs(query.lat) + query.maxKm / 111 > MAX_GEO_LAT) return 'postgres_polar';
    if (!this.store.isReady()) return 'postgres_redis_unavailable';
    let hits;
    const mark = this.fleet.changeCount();
    try {
      hits = await this.store.searchNearest({ ...query, radiiKm: searchRadiiKm(query.maxKm) });
    } catch (error) {
      this.logger.debug(`Redis search failed, using PostgreSQL: ${(error as Error).message}`);
      return 'postgres_redis_unavailable';
    }
    if (hits === null) return 'postgres_redis_unreconciled';
    const drivers = await this.repository.findChoosable(
      hits.map((hit) => hit.driverId),
      query.cutoff,
      shape,
    );
    if (drivers.length < hits.length) {
      // Redis offered drivers PostgreSQL says are not choosable. Those whose state this process is changing,
      // or changed after Redis was read (claimed a moment ago, say), are the mirror's expected lag: skipped,
      // the rest of Redis' window stands. Any other is a Redis out of line (a mirror that failed, or a commit
      // of another process on its way): answer from PostgreSQL, and repair those drivers in Redis.
      const confirmed = new Set(drivers.map((d) => d.id));
      const unexplained = hits.map((hit) => hit.driverId).filter((id) => !confirmed.has(id) && !this.fleet.changedSince(id, mark));
      if (unexplained.length > 0) {
        void this.fleet.repair(unexplained);
        return 'postgres_redis_stale';
      }
    }
    return { drivers, full: hits.length === query.count };
  }
}
