/** Redis GEO indexes latitudes up to this (Web Mercator's limit), with a hair of margin. */
export const MAX_GEO_LAT = 85.05;

/**
 * Lua scripts of the Redis copy of drivers' state. Each runs atomically in
 * one round trip. They only touch keys passed in KEYS, so REDIS_KEY_PREFIX
 * applies.
 */

/**
 * The choosable rule in Lua, for the scripts that decide GEO membership:
 * the same rule as `driver_is_choosable` in fleet.sql (PostgreSQL's, the
 * truth), which test/choosable-rule.e2e-spec.ts checks it against.
 * `state` is the `drivers:status` entry ("STATUS:active:version"),
 * `location` the `drivers:location` entry, `seen` the last heartbeat and
 * `cutoff` the oldest fresh one (ms); Redis answers false for a missing
 * entry. `geo_indexable` is Redis' own limit, not part of the rule: drivers
 * beyond it are found on the PostgreSQL path.
 */
export const CHOOSABLE = `
local function choosable(state, location, seen, cutoff)
  return type(state) == 'string' and string.sub(state, 1, 12) == 'AVAILABLE:1:' and type(location) == 'string'
    and type(seen) == 'number' and seen >= cutoff
end
local function geo_indexable(lat)
  return math.abs(tonumber(lat)) <= ${MAX_GEO_LAT}
end
`;

/**
 * Applies PostgreSQL's state of one driver (after a status change, a
 * deactivation, or during reconciliation), unless Redis already holds a newer
 * state version. Seeds location and heartbeat from PostgreSQL when those are
 * newer than Redis' own, then puts the driver in or out of the GEO set.
 * KEYS: geo, status, heartbeat, location, online
 * ARGV: id, state ("STATUS:active:version"), version, cutoffMs (now - heartbeat TTL),
 *       lon, lat, recordedAtMs, lastSeenMs (the last four may be empty strings)
 */
export const APPLY_STATE = `${CHOOSABLE}
local id = ARGV[1]
local current = redis.call('HGET', KEYS[2], id)
local state = ARGV[2]
if current and tonumber(string.match(current, ':(%d+)$')) > tonumber(ARGV[3]) then
  state = current
else
  redis.call('HSET', KEYS[2], id, state)
end
if ARGV[7] ~= '' then
  local stored = redis.call('HGET', KEYS[4], id)
  local storedAt = stored and tonumber(string.match(stored, '[^ ]+ [^ ]+ ([^ ]+)'))
  if not storedAt or tonumber(ARGV[7]) > storedAt then
    redis.call('HSET', KEYS[4], id, ARGV[5] .. ' ' .. ARGV[6] .. ' ' .. ARGV[7])
  end
end
if ARGV[8] ~= '' then
  local seen = tonumber(redis.call('ZSCORE', KEYS[3], id))
  local pgSeen = tonumber(ARGV[8])
  if (not seen or pgSeen > seen) and pgSeen >= tonumber(ARGV[4]) then
    redis.call('ZADD', KEYS[3], pgSeen, id)
    -- The heartbeat key lives as long as the heartbeat stays fresh: until pgSeen + ttl, i.e. pgSeen - cutoff from now.
    redis.call('SET', KEYS[5], '1', 'PX', math.max(1, math.floor(pgSeen - tonumber(ARGV[4]))))
  end
end
local location = redis.call('HGET', KEYS[4], id)
if choosable(state, location, tonumber(redis.call('ZSCORE', KEYS[3], id)), tonumber(ARGV[4])) then
  local lon, lat = string.match(location, '([^ ]+) ([^ ]+)')
  if geo_indexable(lat) then
    redis.call('GEOADD', KEYS[1], lon, lat, id)
    return 1
  end
end
redis.call('ZREM', KEYS[1], id)
return 0
`;

/**
 * Takes drivers whose heartbeat expired out of the GEO set, once per period
 * for the whole cluster: returns -1 (and does nothing) when a process has
 * already swept within the period, however many processes run the timer.
 * KEYS: heartbeat, geo, sweepLock     ARGV: cutoffMs, limit, periodMs
 */
export const SWEEP_STALE = `
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then return -1 end
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #stale > 0 then
  redis.call('ZREM', KEYS[2], unpack(stale))
  redis.call('ZREM', KEYS[1], unpack(stale))
end
return #stale
`;

/**
 * Removes GEO members that are not choosable by Redis' copy of PostgreSQL's
 * state (run after a reconciliation pass has refreshed every state).
 * KEYS: geo, status, heartbeat, location     ARGV: cutoffMs, then member ids
 */
export const PRUNE_GEO = `${CHOOSABLE}
local removed = 0
local cutoff = tonumber(ARGV[1])
for i = 2, #ARGV do
  local id = ARGV[i]
  local state = redis.call('HGET', KEYS[2], id)
  if not choosable(state, redis.call('HGET', KEYS[4], id), tonumber(redis.call('ZSCORE', KEYS[3], id)), cutoff) then
    redis.call('ZREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
`;

/**
 * Marks Redis as synced, but only if the run's token survived the whole run:
 * a FLUSHALL or restart during a reconciliation must not leave a half-filled
 * Redis marked as complete. The lease is kept: the run ends it (END_SYNC)
 * once it has reported, so no other run starts before this one is over.
 * KEYS: reconciling, synced     ARGV: token, timestamp
 */
export const MARK_SYNCED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

/**
 * Stores a driver's profile unless Redis holds one updated later (a
 * reconciliation that read the row before a change must not undo the copy
 * the change wrote after its commit).
 * KEYS: profile     ARGV: driverId, updatedAtMs, profile JSON
 */
export const SAVE_PROFILE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local at = tonumber(string.match(current, '^(%d+) '))
  if at and at > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1
`;

/**
 * Extends the reconciliation lease if this run still holds it.
 * KEYS: reconciling     ARGV: token, leaseMs
 */
export const RENEW_SYNC = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

/**
 * Gives the reconciliation lease up if this run still holds it.
 * KEYS: reconciling     ARGV: token
 */
export const END_SYNC = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;
