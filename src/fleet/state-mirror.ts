import { Injectable } from '@nestjs/common';
import { type RedisClient, RedisService } from '../redis/redis.service.js';
import { DriverEntity, DriverStatus } from './driver.entity.js';
import { DriverProfile, DriverState, encodeState } from './driver-state.js';
import { KEYS } from './redis-keys.js';
import { APPLY_STATE, END_SYNC, MARK_SYNCED, PRUNE_GEO, RENEW_SYNC, SAVE_PROFILE, SWEEP_STALE } from './state-mirror.scripts.js';

type ScriptResult = Promise<unknown>;
interface MirrorCommands {
  applyState(...args: Array<string | number>): ScriptResult;
  sweepStale(...args: Array<string | number>): ScriptResult;
  pruneGeo(...args: Array<string | number>): ScriptResult;
  markSynced(...args: Array<string | number>): ScriptResult;
  renewSync(...args: Array<string | number>): ScriptResult;
  endSync(...args: Array<string | number>): ScriptResult;
  saveProfile(...args: Array<string | number>): ScriptResult;
}

const at = (date: Date | null) => (date ? String(date.getTime()) : '');

const isProfile = (driver: Partial<DriverProfile>): driver is DriverProfile => driver.name !== undefined;

/** The arguments of SAVE_PROFILE: what the copy holds, and the time of the change that made it. */
function profileArgs(driver: DriverProfile): [string, string, string, string] {
  const { name, phone, vehicleType, createdAt } = driver;
  return [KEYS.profile, driver.id, at(driver.updatedAt), JSON.stringify({ name, phone, vehicleType, createdAt: createdAt.getTime() })];
}

/** A driver's newest point with what the phone said of it (null: not said). */
export interface NewestPoint {
  lat: number;
  lon: number;
  recordedAt: Date;
  accuracy: number | null;
  heading: number | null;
  speed: number | null;
}

/**
 * The Redis copy of drivers' state: `drivers:status`, the GEO set's
 * membership, and the markers of reconciliation. Every operation is one
 * script, one round trip. Callers check `isReady` and treat any error as
 * "Redis is down".
 */
@Injectable()
export class DriverStateMirror {
  readonly isReady: () => boolean;
  private readonly redis: () => RedisClient & MirrorCommands;

  constructor(redisService: RedisService) {
    this.redis = redisService.withScripts<MirrorCommands>({
      applyState: { numberOfKeys: 5, lua: APPLY_STATE },
      sweepStale: { numberOfKeys: 3, lua: SWEEP_STALE },
      pruneGeo: { numberOfKeys: 4, lua: PRUNE_GEO },
      markSynced: { numberOfKeys: 2, lua: MARK_SYNCED },
      renewSync: { numberOfKeys: 1, lua: RENEW_SYNC },
      endSync: { numberOfKeys: 1, lua: END_SYNC },
      saveProfile: { numberOfKeys: 1, lua: SAVE_PROFILE },
    });
    this.isReady = () => redisService.isReady;
  }

  /** Drivers heard from since `cutoff`, and drivers in the GEO set (choosable). */
  async counts(cutoff: Date): Promise<{ online: number; choosable: number }> {
    const [online, choosable] = await Promise.all([
      this.redis().zcount(KEYS.heartbeat, cutoff.getTime(), '+inf'),
      this.redis().zcard(KEYS.geo),
    ]);
    return { online, choosable };
  }

  /** The newest point Redis holds for the driver (`drivers:location`), or null. */
  async location(driverId: string): Promise<NewestPoint | null> {
    const value = await this.redis().hget(KEYS.location, driverId);
    if (!value) return null;
    const [lon, lat, at, accuracy, heading, speed] = value.split(' ');
    const optional = (field: string | undefined) => (field === undefined || field === '-' ? null : Number(field));
    if (!at || !Number(at)) return null;
    return {
      lat: Number(lat),
      lon: Number(lon),
      recordedAt: new Date(Number(at)),
      accuracy: optional(accuracy),
      heading: optional(heading),
      speed: optional(speed),
    };
  }

  /**
   * Mirrors PostgreSQL's state of drivers (each unless Redis holds a newer
   * state version) and, given `profiles` (reconciliation, whose rows carry
   * them), their profiles, pipelined: one round trip for the whole batch.
   * Returns the drivers whose scripts failed; the others are applied
   * regardless. (After-commit mirroring passes no profiles: a state change
   * made while a profile change was under way must not save the old one.)
   */
  async applyStates(
    drivers: Array<DriverState & Partial<DriverProfile>>,
    cutoff: Date,
    profiles: 'with profiles' | 'states only' = 'states only',
  ): Promise<Array<{ id: string; error: Error }>> {
    const pipeline = this.redis().pipeline() as unknown as MirrorCommands & { exec(): Promise<Array<[Error | null, unknown]>> };
    const of: DriverState[] = [];
    for (const driver of drivers) {
      void pipeline.applyState(...this.applyStateArgs(driver, cutoff));
      of.push(driver);
      if (profiles === 'with profiles' && isProfile(driver)) {
        void pipeline.saveProfile(...profileArgs(driver));
        of.push(driver);
      }
    }
    const results = await pipeline.exec();
    return results.flatMap(([error], i) => (error ? [{ id: of[i].id, error }] : []));
  }

  /** Keeps the profile as committed (unless Redis holds a later one). */
  async saveProfile(driver: DriverProfile): Promise<void> {
    await this.redis().saveProfile(...profileArgs(driver));
  }

  /**
   * The driver as Redis knows it, without its location: the profile last
   * saved and the state last mirrored. Null when Redis lacks either.
   */
  async knownDriver(driverId: string): Promise<DriverEntity | null> {
    const [[, state], [, profile]] = (await this.redis()
      .pipeline()
      .hget(KEYS.status, driverId)
      .hget(KEYS.profile, driverId)
      .exec()) as Array<[Error | null, string | null]>;
    if (!state || !profile) return null;
    const [status, active, version] = state.split(':');
    const space = profile.indexOf(' ');
    const saved = JSON.parse(profile.slice(space + 1)) as { name: string; phone: string; vehicleType: string | null; createdAt: number };
    return Object.assign(new DriverEntity(), {
      id: driverId,
      name: saved.name,
      phone: saved.phone,
      vehicleType: saved.vehicleType,
      status: status as DriverStatus,
      isActive: active === '1',
      stateVersion: Number(version),
      lastLat: null,
      lastLon: null,
      lastLocationAt: null,
      lastAccuracy: null,
      lastHeading: null,
      lastSpeed: null,
      lastSeenAt: null,
      createdAt: new Date(saved.createdAt),
      updatedAt: new Date(Number(profile.slice(0, space))),
    });
  }

  private applyStateArgs(driver: DriverState, cutoff: Date): Array<string | number> {
    // Same rule as PostgreSQL's: coordinates make the location known (a missing time counts as oldest).
    const hasLocation = driver.lastLat !== null && driver.lastLon !== null;
    return [
      KEYS.geo,
      KEYS.status,
      KEYS.heartbeat,
      KEYS.location,
      KEYS.online(driver.id),
      driver.id,
      encodeState(driver),
      driver.stateVersion,
      cutoff.getTime(),
      hasLocation ? String(driver.lastLon) : '',
      hasLocation ? String(driver.lastLat) : '',
      hasLocation ? at(driver.lastLocationAt) || '0' : '',
      at(driver.lastSeenAt),
    ];
  }

  /**
   * Removes drivers whose heartbeat is older than `cutoff` from the GEO set and
   * returns how many; null when a process of the cluster swept less than
   * `periodMs` ago.
   */
  async sweepStale(cutoff: Date, periodMs: number, limit = 1_000): Promise<number | null> {
    const removed = Number(await this.redis().sweepStale(KEYS.heartbeat, KEYS.geo, KEYS.swept, cutoff.getTime(), limit, periodMs));
    return removed < 0 ? null : removed;
  }

  /** Removes GEO members that are not choosable according to Redis' copy of the state. */
  async pruneGeo(cutoff: Date): Promise<number> {
    let cursor = '0';
    let removed = 0;
    do {
      const [next, entries] = await this.redis().zscan(KEYS.geo, cursor, 'COUNT', 1_000);
      cursor = next;
      const members = entries.filter((_, i) => i % 2 === 0);
      if (members.length > 0) {
        removed += Number(await this.redis().pruneGeo(KEYS.geo, KEYS.status, KEYS.heartbeat, KEYS.location, cutoff.getTime(), ...members));
      }
    } while (cursor !== '0');
    return removed;
  }

  /**
   * Starts a reconciliation run by taking the cluster's lease for `leaseMs`;
   * false when another run holds it. The token must survive until `markSynced`.
   */
  async beginSync(token: string, leaseMs: number): Promise<boolean> {
    return (await this.redis().set(KEYS.reconciling, token, 'PX', leaseMs, 'NX')) === 'OK';
  }

  /** Extends the run's lease; false when it was lost (expired, or Redis flushed). */
  async renewSync(token: string, leaseMs: number): Promise<boolean> {
    return Number(await this.redis().renewSync(KEYS.reconciling, token, leaseMs)) === 1;
  }

  /** Gives up the run's lease (after a failed run), so another can start at once. */
  async endSync(token: string): Promise<void> {
    await this.redis().endSync(KEYS.reconciling, token);
  }

  /** When the last complete reconciliation finished, or null if Redis is not synced. */
  async syncedAt(): Promise<Date | null> {
    const value = await this.redis().get(KEYS.synced);
    return value ? new Date(value) : null;
  }

  /** Marks Redis synced if the run's token survived; false when Redis was flushed or restarted meanwhile. */
  async markSynced(token: string, at: Date): Promise<boolean> {
    return Number(await this.redis().markSynced(KEYS.reconciling, KEYS.synced, token, at.toISOString())) === 1;
  }

  /** Searches use PostgreSQL until the next complete reconciliation. */
  async clearSynced(): Promise<void> {
    await this.redis().del(KEYS.synced);
  }
}
