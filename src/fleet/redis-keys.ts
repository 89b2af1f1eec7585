/**
 * Redis keys of the availability model (before REDIS_KEY_PREFIX).
 *
 * - `drivers:geo`        GEO set: exactly the drivers that can be chosen now
 *                        (active, AVAILABLE, location known, heartbeat fresh).
 * - `drivers:status`     hash id → "STATUS:active(1|0):stateVersion", PostgreSQL's state.
 * - `driver:online:{id}` heartbeat key, expires after DRIVER_HEARTBEAT_TTL_SECONDS.
 * - `drivers:heartbeat`  sorted set id → last heartbeat (ms): lets the sweeper find
 *                        expired heartbeats without scanning every driver.
 * - `drivers:location`   hash id → "lon lat recordedAtMs accuracy heading speed" (the last three '-' when
 *                        unknown, or absent when seeded from PostgreSQL): the newest point of every driver.
 * - `drivers:profile`    hash id → "updatedAtMs {name, phone, vehicleType, createdAt}": the profile as
 *                        last committed, shown while PostgreSQL cannot be reached.
 * - `drivers:synced`     set by a complete reconciliation; without it (Redis new,
 *                        flushed or reconnected) searches use PostgreSQL.
 * - `drivers:reconciling` the token of the reconciliation under way: a lease that
 *                        lets one process of the cluster reconcile at a time.
 * - `drivers:swept`      set for a sweep period by the process that swept, so the
 *                        cluster sweeps once per period.
 */
export const KEYS = {
  geo: 'drivers:geo',
  status: 'drivers:status',
  heartbeat: 'drivers:heartbeat',
  location: 'drivers:location',
  profile: 'drivers:profile',
  synced: 'drivers:synced',
  reconciling: 'drivers:reconciling',
  swept: 'drivers:swept',
  online: (driverId: string) => `driver:online:${driverId}`,
} as const;
