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
 * arrived in one event-loop turn, each a single point or a batch of one
 * driver's points. Never changes the status: a driver enters or stays in
 * the GEO set only if Redis' copy of PostgreSQL's state says active and
 * AVAILABLE. A ping's points are taken in the order given (oldest first),
 * each judged against the last accepted one: a point older than it, one the
 * caller found too inaccurate (moves 0), or one implying a speed over maxKmh
 * from it (a GPS jump; maxKmh 0: no limit) does not move the driver;
 * location-filter.ts decides the same way without Redis. The newest accepted
 * point is stored once, the heartbeat refreshed once. Each ping's rate limit
 * is applied first, once for all its points: a refused ping changes nothing.
 * KEYS: geo, status, heartbeat, location, then per ping: online, rate limit current window, previous window
 * ARGV per ping: id, nowMs, ttlSeconds, limit (0: none), windowMs, msIntoWindow, maxKmh, count, then per point:
 * lon, lat, recordedAtMs, moves (1/0), accuracy, heading, speed ('-' when unknown; stored with the point, see redis-keys.ts)
 * Returns, per ping, three entries: state or false; the outcomes, a digit a point (1 moved, 0 older, 2 too fast,
 * 3 not moving: too inaccurate); ms to wait when refused else 0.
 */
export const RECORD_PINGS = `${RATE_LIMIT_FUNCTION}${CHOOSABLE}
local function metres(lat1, lon1, lat2, lon2)
  local dLat, dLon = math.rad(lat2 - lat1), math.rad(lon2 - lon1)
  local a = math.sin(dLat / 2) ^ 2 + math.cos(math.rad(lat1)) * math.cos(math.rad(lat2)) * math.sin(dLon / 2) ^ 2
  return 2 * 6371008.8 * math.asin(math.min(1, math.sqrt(a)))
end

-- The outcome of a point against the last accepted one (nil: none yet).
local function judge(lon, lat, at, moves, maxKmh, previous)
  if moves == '0' then return 3 end
  if not previous then return 1 end
  if at < previous.at then return 0 end
  if maxKmh > 0 then
    local distance = metres(previous.lat, previous.lon, lat, lon)
    local seconds = (at - previous.at) / 1000
    if distance > 0 and (seconds <= 0 or distance / seconds * 3.6 > maxKmh) then return 2 end
  end
  return 1
end

local function record(online, rateCurrent, ratePrevious, a)
  local id, now, ttl, limit = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local maxKmh, count = tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8])
  local state = redis.call('HGET', KEYS[2], id)
  -- An unknown driver writes nothing: the caller asks PostgreSQL, mirrors it, and pings again.
  if not state then return false, '', 0 end
  if limit ~= '0' then
    local wait = rate_limit(rateCurrent, ratePrevious, limit, ARGV[a + 5], ARGV[a + 6])
    if wait > 0 then return state, '', wait end
  end
  redis.call('SET', online, '1', 'EX', ttl)
  redis.call('ZADD', KEYS[3], 'GT', now, id)
  local previous = nil
  local stored = redis.call('HGET', KEYS[4], id)
  if stored then
    local lon, lat, at = string.match(stored, '([^ ]+) ([^ ]+) ([^ ]+)')
    if tonumber(at) then previous = { lon = tonumber(lon), lat = tonumber(lat), at = tonumber(at) } end
  end
  local outcomes, accepted = {}, nil
  for i = 0, count - 1 do
    local p = a + 8 + i * 7
    local lon, lat, at = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
    local outcome = judge(lon, lat, at, ARGV[p + 4], maxKmh, previous)
    outcomes[#outcomes + 1] = outcome
    if outcome == 1 then
      previous = { lon = lon, lat = lat, at = at }
      accepted = p
    end
  end
  if accepted then
    redis.call('HSET', KEYS[4], id, ARGV[accepted + 1] .. ' ' .. ARGV[accepted + 2] .. ' ' .. ARGV[accepted + 3] .. ' ' ..
      ARGV[accepted + 5] .. ' ' .. ARGV[accepted + 6] .. ' ' .. ARGV[accepted + 7])
  end
  local location = redis.call('HGET', KEYS[4], id)
  -- Heard from just now, so its heartbeat is fresh: the state and the location decide.
  if location and choosable(state, location, tonumber(now), tonumber(now)) then
    local storedLon, storedLat = string.match(location, '([^ ]+) ([^ ]+)')
    if geo_indexable(storedLat) then
      redis.call('GEOADD', KEYS[1], storedLon, storedLat, id)
    else
      redis.call('ZREM', KEYS[1], id)
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
  return state, table.concat(outcomes), 0
end

local results = {}
local a = 0
for p = 0, (#KEYS - 4) / 3 - 1 do
  local k = 4 + p * 3
  local state, outcomes, wait = record(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], a)
  results[#results + 1] = state
  results[#results + 1] = outcomes
  results[#results + 1] = wait
  a = a + 8 + tonumber(ARGV[a + 8]) * 7
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
