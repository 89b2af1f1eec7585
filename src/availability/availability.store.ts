import { Injectable } from '@nestjs/common';
import { Batcher } from '../common/batcher.js';
import type { DriverState } from '../fleet/driver-state.js';
import { KEYS } from '../fleet/redis-keys.js';
import type { RateLimitWindow } from '../rate-limit/rate-limiter.js';
import { type RedisClient, RedisService } from '../redis/redis.service.js';
import { RECORD_PINGS, SEARCH_NEAREST } from './availability.scripts.js';
import { redisSearchRadiusKm } from './geo.js';
import type { PointOutcome } from './location-filter.js';

type ScriptResult = Promise<unknown>;
interface AvailabilityCommands {
  recordPings(...args: Array<string | number>): ScriptResult;
  searchNearest(...args: Array<string | number>): ScriptResult;
}

export interface PingResult {
  /** Redis' copy of the driver's state, or null when Redis does not know the driver yet. */
  state: { status: DriverState['status']; isActive: boolean } | null;
  /** What each point did, in the order given (empty when `state` is null or the ping was refused). */
  outcomes: PointOutcome[];
  /** When the driver's rate limit refused the ping (nothing was recorded): the ms to wait; else 0. */
  waitMs: number;
}

export interface PingPoint {
  lat: number;
  lon: number;
  recordedAt: Date;
  /** False for a point already judged too inaccurate: only a heartbeat. */
  moves: boolean;
  accuracy?: number;
  heading?: number;
  speed?: number;
}

/** One location update: a point, or a batch of one driver's points, oldest first. */
export interface Ping {
  driverId: string;
  points: PingPoint[];
  now: Date;
  ttlSeconds: number;
  maxSpeedKmh: number;
  limit: RateLimitWindow | null;
}

const OUTCOMES: Record<string, PointOutcome> = { 0: 'older', 1: 'moved', 2: 'speed', 3: 'accuracy' };
const known = (value: number | undefined) => value ?? '-';

export interface RedisCandidate {
  driverId: string;
  distanceMeters: number;
}

function decodeState(value: string): PingResult['state'] {
  const [status, active] = value.split(':');
  return { status: status as DriverState['status'], isActive: active === '1' };
}

/**
 * Redis side of location pings and the nearest search: every operation is
 * one script, one round trip. Callers check `isReady` and treat any error as
 * "Redis is down".
 */
@Injectable()
export class AvailabilityStore {
  /**
   * One call per event-loop turn, not waiting for the calls still going, so a
   * slow Redis delays each ping by its own call only; a failed call fails all
   * its pings at once (each then falls back to PostgreSQL), instead of
   * running them again one by one, which would wait out the timeout once per
   * ping and count their rate limits twice.
   */
  private readonly pings = new Batcher<Ping, PingResult>((pings) => this.recordPings(pings), { maxRunning: Infinity, retryAlone: false });

  readonly isReady: () => boolean;
  private readonly redis: () => RedisClient & AvailabilityCommands;

  constructor(redisService: RedisService) {
    this.redis = redisService.withScripts<AvailabilityCommands>({
      // The number of keys varies with the number of pings: it is the first argument.
      recordPings: { lua: RECORD_PINGS },
      searchNearest: { numberOfKeys: 3, lua: SEARCH_NEAREST },
    });
    this.isReady = () => redisService.isReady;
  }

  /**
   * Records a location update (a point or a batch). The updates of one
   * event-loop turn go to Redis together, in one script call
   * (`RECORD_PINGS`); each gets its own result.
   */
  recordPing(ping: Ping): Promise<PingResult> {
    // A batch is its own call: merged with others, one script call could carry tens of thousands of points.
    return ping.points.length > 1 ? this.recordPings([ping]).then(([result]) => result) : this.pings.add(ping);
  }

  private async recordPings(pings: Ping[]): Promise<PingResult[]> {
    const keys: string[] = [KEYS.geo, KEYS.status, KEYS.heartbeat, KEYS.location];
    const args: Array<string | number> = [];
    for (const { driverId, points, now, ttlSeconds, maxSpeedKmh, limit } of pings) {
      keys.push(KEYS.online(driverId), ...(limit?.keys ?? ['', '']));
      args.push(driverId, now.getTime(), ttlSeconds, ...(limit?.args ?? [0, 0, 0]), maxSpeedKmh, points.length);
      for (const p of points)
        args.push(p.lon, p.lat, p.recordedAt.getTime(), p.moves ? 1 : 0, known(p.accuracy), known(p.heading), known(p.speed));
    }
    const flat = (await this.redis().recordPings(keys.length, ...keys, ...args)) as Array<string | number | null>;
    if (flat.length !== pings.length * 3) throw new Error(`RECORD_PINGS answered ${flat.length} entries for ${pings.length} pings`);
    return pings.map((_, i) => {
      const state = flat[i * 3] as string | null;
      const outcomes = [...String(flat[i * 3 + 1] ?? '')].map((digit) => OUTCOMES[digit]);
      return { state: state ? decodeState(state) : null, outcomes, waitMs: Number(flat[i * 3 + 2]) };
    });
  }

  /** Nearest choosable drivers by Redis, or null when Redis has not been reconciled. */
  async searchNearest(query: {
    lat: number;
    lon: number;
    count: number;
    cutoff: Date;
    radiiKm: number[];
  }): Promise<RedisCandidate[] | null> {
    const flat = (await this.redis().searchNearest(
      KEYS.geo,
      KEYS.heartbeat,
      KEYS.synced,
      query.lon,
      query.lat,
      query.count,
      query.cutoff.getTime(),
      ...query.radiiKm.map(redisSearchRadiusKm),
    )) as string[] | null;
    if (flat === null) return null;
    const candidates: RedisCandidate[] = [];
    for (let i = 0; i < flat.length; i += 2) candidates.push({ driverId: flat[i], distanceMeters: Number(flat[i + 1]) * 1000 });
    return candidates;
  }
}
