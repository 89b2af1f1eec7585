import { Injectable } from '@nestjs/common';
import { Batcher } from '../common/batcher.js';
import type { Redis } from 'ioredis';
import { RedisService } from '../redis/redis.service.js';
import { KEYS } from './availability.keys.js';
import { APPLY_STATE, END_SYNC, MARK_SYNCED, PRUNE_GEO, RECORD_PINGS, RENEW_SYNC, SEARCH_NEAREST, SWEEP_STALE } from './availability.scripts.js';
import type { DriverState } from './availability.repository.js';
import { redisSearchRadiusKm } from './geo.js';
import type { RateLimitWindow } from '../rate-limit/rate-limiter.js';

type ScriptResult = Promise<unknown>;
interface AvailabilityCommands {
  recordPings(...args: Array<string | number>): ScriptResult;
  applyState(...args: Array<string | number>): ScriptResult;
  sweepStale(...args: Array<string | number>): ScriptResult;
  searchNearest(...args: Array<string | number>): ScriptResult;
  pruneGeo(...args: Array<string | number>): ScriptResult;
  markSynced(...args: Array<string | number>): ScriptResult;
  renewSync(...args: Array<string | number>): ScriptResult;
  endSync(...args: Array<string | number>): ScriptResult;
}
type ScriptedRedis = Redis & AvailabilityCommands;

export interface PingResult {
  /** Redis' copy of the driver's state, or null when Redis does not know the driver yet. */
  state: { status: DriverState['status']; isActive: boolean } | null;
  /** When the driver's rate limit refused the ping (nothing was recorded): the ms to wait; else 0. */
  waitMs: number;
}

interface Ping {
  driverId: string;
  point: { lat: number; lon: number; recordedAt: Date };
  now: Date;
  ttlSeconds: number;
  limit: RateLimitWindow | null;
}

export interface RedisCandidate {
  driverId: string;
  distanceMeters: number;
}

/** The value stored in `drivers:status`: "STATUS:active:version". */
export function encodeState(driver: Pick<DriverState, 'status' | 'isActive' | 'stateVersion'>): string {
  return `${driver.status}:${driver.isActive ? 1 : 0}:${driver.stateVersion}`;
}

function decodeState(value: string): PingResult['state'] {
  const [status, active] = value.split(':');
  return { status: status as DriverState['status'], isActive: active === '1' };
}

const at = (date: Date | null) => (date ? String(date.getTime()) : '');

/**
 * Redis side of the availability model: every operation is one script, one
 * round trip. Callers check `ready` and treat any error as "Redis is down".
 */
@Injectable()
export class AvailabilityStore {
  private readonly redis: ScriptedRedis | null;
  /**
   * One call per event-loop turn, not waiting for the calls still going, so a
   * slow Redis delays each ping by its own call only; a failed call fails all
   * its pings at once (each then falls back to PostgreSQL), instead of
   * running them again one by one, which would wait out the timeout once per
   * ping and count their rate limits twice.
   */
  private readonly pings = new Batcher<Ping, PingResult>((pings) => this.recordPings(pings), { maxRunning: Infinity, retryAlone: false });

  constructor(redisService: RedisService) {
    const client = redisService.client;
    if (client) {
      // The number of keys varies with the number of pings: it is the first argument.
      client.defineCommand('recordPings', { lua: RECORD_PINGS });
      client.defineCommand('applyState', { numberOfKeys: 5, lua: APPLY_STATE });
      client.defineCommand('sweepStale', { numberOfKeys: 3, lua: SWEEP_STALE });
      client.defineCommand('searchNearest', { numberOfKeys: 3, lua: SEARCH_NEAREST });
      client.defineCommand('pruneGeo', { numberOfKeys: 2, lua: PRUNE_GEO });
      client.defineCommand('markSynced', { numberOfKeys: 2, lua: MARK_SYNCED });
      client.defineCommand('renewSync', { numberOfKeys: 1, lua: RENEW_SYNC });
      client.defineCommand('endSync', { numberOfKeys: 1, lua: END_SYNC });
    }
    this.redis = client as ScriptedRedis | null;
    this.isReady = () => redisService.isReady;
  }

  readonly isReady: () => boolean;

  private get client(): ScriptedRedis {
    if (!this.redis || !this.isReady()) throw new Error('Redis is not connected');
    return this.redis;
  }

  private static stateKeys(driverId: string): string[] {
    return [KEYS.geo, KEYS.status, KEYS.heartbeat, KEYS.location, KEYS.online(driverId)];
  }

  /**
   * Records a location ping. The pings of one event-loop turn go to Redis
   * together, in one script call (`RECORD_PINGS`); each gets its own result.
   */
  recordPing(
    driverId: string,
    point: { lat: number; lon: number; recordedAt: Date },
    now: Date,
    ttlSeconds: number,
    limit: RateLimitWindow | null,
  ): Promise<PingResult> {
    return this.pings.add({ driverId, point, now, ttlSeconds, limit });
  }

  private async recordPings(pings: Ping[]): Promise<PingResult[]> {
    const keys: string[] = [KEYS.geo, KEYS.status, KEYS.heartbeat, KEYS.location];
    const args: Array<string | number> = [];
    for (const { driverId, point, now, ttlSeconds, limit } of pings) {
      keys.push(KEYS.online(driverId), ...(limit?.keys ?? ['', '']));
      args.push(driverId, point.lon, point.lat, point.recordedAt.getTime(), now.getTime(), ttlSeconds, ...(limit?.args ?? [0, 0, 0]));
    }
    const flat = (await this.client.recordPings(keys.length, ...keys, ...args)) as Array<string | number | null>;
    if (flat.length !== pings.length * 3) throw new Error(`RECORD_PINGS answered ${flat.length} entries for ${pings.length} pings`);
    return pings.map((_, i) => {
      const state = flat[i * 3] as string | null;
      return { state: state ? decodeState(state) : null, waitMs: Number(flat[i * 3 + 2]) };
    });
  }

  /** Mirrors PostgreSQL's state of a driver; returns true when it is now in the GEO set. */
  async applyState(driver: DriverState, cutoff: Date): Promise<boolean> {
    const result = await this.client.applyState(...this.applyStateArgs(driver, cutoff));
    return result === 1;
  }

  /**
   * The same for many drivers, pipelined: one round trip for the whole batch.
   * Returns the drivers whose script failed; the others are applied regardless.
   */
  async applyStates(drivers: DriverState[], cutoff: Date): Promise<Array<{ id: string; error: Error }>> {
    const pipeline = this.client.pipeline() as unknown as AvailabilityCommands & { exec(): Promise<Array<[Error | null, unknown]>> };
    for (const driver of drivers) void pipeline.applyState(...this.applyStateArgs(driver, cutoff));
    const results = await pipeline.exec();
    return results.flatMap(([error], i) => (error ? [{ id: drivers[i].id, error }] : []));
  }

  private applyStateArgs(driver: DriverState, cutoff: Date): Array<string | number> {
    // Same rule as PostgreSQL's: coordinates make the location known (a missing time counts as oldest).
    const hasLocation = driver.lastLat !== null && driver.lastLon !== null;
    return [
      ...AvailabilityStore.stateKeys(driver.id),
      driver.id,
      encodeState(driver),
      driver.stateVersion,
      cutoff.getTime(),
      hasLocation ? String(driver.lastLon) : '',
      hasLocation ? String(driver.lastLat) : '',
      hasLocation ? (at(driver.lastLocationAt) || '0') : '',
      at(driver.lastSeenAt),
    ];
  }

  /**
   * Removes drivers whose heartbeat is older than `cutoff` from the GEO set and
   * returns how many; null when a process of the cluster swept less than
   * `periodMs` ago.
   */
  async sweepStale(cutoff: Date, periodMs: number, limit = 1_000): Promise<number | null> {
    const removed = Number(await this.client.sweepStale(KEYS.heartbeat, KEYS.geo, KEYS.swept, cutoff.getTime(), limit, periodMs));
    return removed < 0 ? null : removed;
  }

  /** Nearest choosable drivers by Redis, or null when Redis has not been reconciled. */
  async searchNearest(query: { lat: number; lon: number; count: number; cutoff: Date; radiiKm: number[] }): Promise<RedisCandidate[] | null> {
    const flat = (await this.client.searchNearest(
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

  /** Removes GEO members that are not choosable according to `drivers:status`. */
  async pruneGeo(): Promise<number> {
    let cursor = '0';
    let removed = 0;
    do {
      const [next, entries] = await this.client.zscan(KEYS.geo, cursor, 'COUNT', 1_000);
      cursor = next;
      const members = entries.filter((_, i) => i % 2 === 0);
      if (members.length > 0) removed += Number(await this.client.pruneGeo(KEYS.geo, KEYS.status, ...members));
    } while (cursor !== '0');
    return removed;
  }

  /**
   * Starts a reconciliation run by taking the cluster's lease for `leaseMs`;
   * false when another run holds it. The token must survive until `markSynced`.
   */
  async beginSync(token: string, leaseMs: number): Promise<boolean> {
    return (await this.client.set(KEYS.reconciling, token, 'PX', leaseMs, 'NX')) === 'OK';
  }

  /** Extends the run's lease; false when it was lost (expired, or Redis flushed). */
  async renewSync(token: string, leaseMs: number): Promise<boolean> {
    return Number(await this.client.renewSync(KEYS.reconciling, token, leaseMs)) === 1;
  }

  /** Gives up the run's lease (after a failed run), so another can start at once. */
  async endSync(token: string): Promise<void> {
    await this.client.endSync(KEYS.reconciling, token);
  }

  /** When the last complete reconciliation finished, or null if Redis is not synced. */
  async syncedAt(): Promise<Date | null> {
    const value = await this.client.get(KEYS.synced);
    return value ? new Date(value) : null;
  }

  /** Marks Redis synced if the run's token survived; false when Redis was flushed or restarted meanwhile. */
  async markSynced(token: string, at: Date): Promise<boolean> {
    return Number(await this.client.markSynced(KEYS.reconciling, KEYS.synced, token, at.toISOString())) === 1;
  }

  /** Searches use PostgreSQL until the next complete reconciliation. */
  async clearSynced(): Promise<void> {
    await this.client.del(KEYS.synced);
  }
}
