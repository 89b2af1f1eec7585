import type { DriverEntity } from './driver.entity.js';

/**
 * What Redis mirrors of one driver: its state (status, isActive and the
 * stateVersion bumped on every change of them) and the rest of what decides
 * whether it can be chosen (location, last heartbeat).
 */
export type DriverState = Pick<
  DriverEntity,
  'id' | 'status' | 'isActive' | 'stateVersion' | 'lastLat' | 'lastLon' | 'lastLocationAt' | 'lastSeenAt'
>;

/** The columns of a DriverState, named as its fields. */
export const DRIVER_STATE_COLUMNS = `id, status, is_active AS "isActive", state_version AS "stateVersion", last_lat AS "lastLat",
  last_lon AS "lastLon", last_location_at AS "lastLocationAt", last_seen_at AS "lastSeenAt"`;

/**
 * What Redis keeps of a driver's profile (`drivers:profile`), so that the
 * driver can still be shown, with its state and newest point, while
 * PostgreSQL cannot be reached.
 */
export type DriverProfile = Pick<DriverEntity, 'id' | 'name' | 'phone' | 'vehicleType' | 'createdAt' | 'updatedAt'>;

/** The columns of a DriverProfile other than the id, named as its fields. */
export const DRIVER_PROFILE_COLUMNS = `name, phone, vehicle_type AS "vehicleType", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** The value stored in `drivers:status`: "STATUS:active:version". */
export function encodeState(driver: Pick<DriverState, 'status' | 'isActive' | 'stateVersion'>): string {
  return `${driver.status}:${driver.isActive ? 1 : 0}:${driver.stateVersion}`;
}

/** The oldest heartbeat that is still fresh: a driver last heard from before it cannot be chosen. */
export function heartbeatCutoff(ttlSeconds: number, now = new Date()): Date {
  return new Date(now.getTime() - ttlSeconds * 1000);
}
