import { CHOOSABLE } from '../fleet/state-mirror.scripts.js';
import { RATE_LIMIT_FUNCTION } from '../rate-limit/rate-limit.script.js';

/**
 * Lua scripts of location pings and the nearest search. Each runs atomically
 * in one round trip. They only touch keys passed in KEYS, so
 * REDIS_KEY_PREFIX applies. The Redis copy of drivers' state is the fleet's
 * (src/fleet/state-mirror.scripts.ts).
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
export const RECORD_PINGS = `${RATE_LIMIT_FUNCTION}${CHOOSABLE}
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
  local location = redis.call('HGET', KEYS[4], id)
  local storedLon, storedLat = string.match(location, '([^ ]+) ([^ ]+)')
  -- Heard from just now, so its heartbeat is fresh: the state and the location decide.
  if choosable(state, location, tonumber(now), tonumber(now)) and geo_indexable(storedLat) then
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

