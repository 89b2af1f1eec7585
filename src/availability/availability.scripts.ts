import { RATE_LIMIT_FUNCTION } from '../rate-limit/rate-limit.script.js';

/** Redis GEO indexes latitudes up to this (Web Mercator's limit), with a hair of margin. */
export const MAX_GEO_LAT = 85.05;

/**
 * Lua scripts of the availability model. Each runs atomically in one round
 * trip. They only touch keys passed in KEYS, so REDIS_KEY_PREFIX applies.
 */

/**
 * Location pings (each also the heartbeat), several in one call: those that
 * arrived in one event-loop turn. Never changes the status: a driver enters
 * or stays in the GEO set only if Redis' copy of PostgreSQL's state says
 * active and AVAILABLE. An older point than the stored one refreshes the
 * heartbeat but does not move the driver. Each ping's rate limit is applied
 * first: a refused ping changes nothing.
 * KEYS: geo, status, heartbeat, location, then per ping: online, rate limit current window, previous window
 * ARGV per ping: id, lon, lat, recordedAtMs, nowMs, ttlSeconds, limit (0: none), windowMs, msIntoWindow
 * Returns, per ping, three entries: state or false, 1 if the point was newest else 0, ms to wait when refused else 0.
 */
export const RECORD_PINGS = `${RATE_LIMIT_FUNCTION}
local function record(online, rateCurrent, ratePrevious, id, lon, lat, recordedAt, now, ttl, limit, windowMs, into)
  local state = redis.call('HGET', KEYS[2], id)
  -- An unknown driver writes nothing: the caller asks PostgreSQL, mirrors it, and pings again.
  if not state then return false, 0, 0 end
  if limit ~= '0' then
    local wait = rate_limit(rateCurrent, ratePrevious, limit, windowMs, into)
    if wait > 0 then return state, 0, wait end
  end
  redis.call('SET', online, '1', 'EX', ttl)
  redis.call('ZADD', KEYS[3], 'GT', now, id)
  local newest = 1
  local previous = redis.call('HGET', KEYS[4], id)
  if previous then
    local previousAt = tonumber(string.match(previous, '[^ ]+ [^ ]+ ([^ ]+)'))
    if previousAt and tonumber(recordedAt) < previousAt then newest = 0 end
  end
  if newest == 1 then redis.call('HSET', KEYS[4], id, lon .. ' ' .. lat .. ' ' .. recordedAt) end
  local storedLon, storedLat = string.match(redis.call('HGET', KEYS[4], id), '([^ ]+) ([^ ]+)')
  -- Redis cannot index beyond +-85.05 degrees; such drivers are found on the PostgreSQL path.
  if string.sub(state, 1, 12) == 'AVAILABLE:1:' and math.abs(tonumber(storedLat)) <= ${MAX_GEO_LAT} then
    redis.call('GEOADD', KEYS[1], storedLon, storedLat, id)
  else
    redis.call('ZREM', KEYS[1], id)
  end
  return state, newest, 0
end

local results = {}
for p = 0, (#KEYS - 4) / 3 - 1 do
  local k, a = 4 + p * 3, p * 9
  local state, newest, wait = record(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9])
  results[#results + 1] = state
  results[#results + 1] = newest
  results[#results + 1] = wait
end
return results
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
export const APPLY_STATE = `
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
local seen = tonumber(redis.call('ZSCORE', KEYS[3], id))
if string.sub(state, 1, 12) == 'AVAILABLE:1:' and location and seen and seen >= tonumber(ARGV[4]) then
  local lon, lat = string.match(location, '([^ ]+) ([^ ]+)')
  if math.abs(tonumber(lat)) <= ${MAX_GEO_LAT} then
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
 * Nearest search with a widening radius. Returns false when Redis has not
 * been reconciled (new or flushed): the caller then asks PostgreSQL. Drivers
 * whose heartbeat expired are skipped (and removed) even if the sweeper has
 * not run yet.
 * KEYS: geo, heartbeat, synced     ARGV: lon, lat, count, cutoffMs, radiusKm...
 * Returns a flat list: id1, distanceKm1, id2, distanceKm2, ...
 */
export const SEARCH_NEAREST = `
if redis.call('EXISTS', KEYS[3]) == 0 then return false end
local count = tonumber(ARGV[3])
local cutoff = tonumber(ARGV[4])
local found = {}
for i = 5, #ARGV do
  local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[i], 'km', 'ASC', 'COUNT', count, 'WITHDIST')
  found = {}
  for _, hit in ipairs(hits) do
    local seen = tonumber(redis.call('ZSCORE', KEYS[2], hit[1]))
    if seen and seen >= cutoff then
      table.insert(found, hit[1])
      table.insert(found, hit[2])
    else
      redis.call('ZREM', KEYS[1], hit[1])
    end
  end
  if #found / 2 >= count then return found end
end
return found
`;

/**
 * Removes GEO members that PostgreSQL does not list as choosable (after a
 * reconciliation pass has refreshed every state).
 * KEYS: geo, status     ARGV: member ids
 */
export const PRUNE_GEO = `
local removed = 0
for _, id in ipairs(ARGV) do
  local state = redis.call('HGET', KEYS[2], id)
  if not state or string.sub(state, 1, 12) ~= 'AVAILABLE:1:' then
    redis.call('ZREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
`;

/**
 * Marks Redis as synced, but only if the run's token survived the whole run:
 * a FLUSHALL or restart during a reconciliation must not leave a half-filled
 * Redis marked as complete.
 * KEYS: reconciling, synced     ARGV: token, timestamp
 */
export const MARK_SYNCED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2])
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
