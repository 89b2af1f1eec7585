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
 * active and AVAILABLE. A point older than the stored one, one the caller
 * found too inaccurate (moves 0), and one implying a speed over maxKmh from
 * the stored point (a GPS jump; maxKmh 0: no limit) refresh the heartbeat but
 * do not move the driver; location-filter.ts decides the same way without
 * Redis. Each ping's rate limit is applied first: a refused ping changes nothing.
 * KEYS: geo, status, heartbeat, location, then per ping: online, rate limit current window, previous window
 * ARGV per ping: id, lon, lat, recordedAtMs, nowMs, ttlSeconds, limit (0: none), windowMs, msIntoWindow, moves (1/0), maxKmh,
 * accuracy, heading, speed ('-' when unknown; stored with the point, see redis-keys.ts)
 * Returns, per ping, three entries: state or false; the outcome: 1 moved, 0 older, 2 too fast, 3 not moving (too
 * inaccurate); ms to wait when refused else 0.
 */
export const RECORD_PINGS = `${RATE_LIMIT_FUNCTION}${CHOOSABLE}
local function metres(lat1, lon1, lat2, lon2)
  local dLat, dLon = math.rad(lat2 - lat1), math.rad(lon2 - lon1)
  local a = math.sin(dLat / 2) ^ 2 + math.cos(math.rad(lat1)) * math.cos(math.rad(lat2)) * math.sin(dLon / 2) ^ 2
  return 2 * 6371008.8 * math.asin(math.min(1, math.sqrt(a)))
end

local function record(online, rateCurrent, ratePrevious, id, lon, lat, recordedAt, now, ttl, limit, windowMs, into, moves, maxKmh,
    accuracy, heading, speed)
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
  if moves == '0' then newest = 3 end
  local previous = redis.call('HGET', KEYS[4], id)
  if previous and newest == 1 then
    local previousLon, previousLat, previousAt = string.match(previous, '([^ ]+) ([^ ]+) ([^ ]+)')
    previousAt = tonumber(previousAt)
    local at = tonumber(recordedAt)
    if previousAt and at < previousAt then
      newest = 0
    elseif previousAt and tonumber(maxKmh) > 0 then
      local distance = metres(tonumber(previousLat), tonumber(previousLon), tonumber(lat), tonumber(lon))
      local seconds = (at - previousAt) / 1000
      if distance > 0 and (seconds <= 0 or distance / seconds * 3.6 > tonumber(maxKmh)) then newest = 2 end
    end
  end
  if newest == 1 then
    redis.call('HSET', KEYS[4], id, lon .. ' ' .. lat .. ' ' .. recordedAt .. ' ' .. accuracy .. ' ' .. heading .. ' ' .. speed)
  end
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
  local k, a = 4 + p * 3, p * 14
  local state, newest, wait = record(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9],
    ARGV[a + 10], ARGV[a + 11], ARGV[a + 12], ARGV[a + 13], ARGV[a + 14])
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

