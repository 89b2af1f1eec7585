/**
 * Sliding-window counter over two fixed one-minute windows, as a Lua function
 * other scripts embed: the previous window's count weighs as much as it still
 * overlaps the last minute. A request that fits is counted; one that does not
 * is not, and the function answers how long until one would fit.
 * Arguments: current window key, previous window key, limit, windowMs, msIntoWindow.
 * Returns 0 when allowed, else the wait in ms (at least 1).
 */
export const RATE_LIMIT_FUNCTION = `
local function rate_limit(currentKey, previousKey, limit, window, into)
  limit = tonumber(limit)
  window = tonumber(window)
  into = tonumber(into)
  local current = tonumber(redis.call('GET', currentKey) or '0')
  local previous = tonumber(redis.call('GET', previousKey) or '0')
  if previous * (window - into) / window + current + 1 <= limit then
    redis.call('INCR', currentKey)
    redis.call('PEXPIRE', currentKey, window * 2)
    return 0
  end
  if current + 1 > limit then
    -- Into the next window, until this window's count weighs little enough.
    return math.max(1, math.ceil(window - into + window * (1 - (limit - 1) / current)))
  end
  -- Later in this window, once the previous one weighs little enough.
  return math.max(1, math.ceil(window * (1 - (limit - 1 - current) / previous) - into))
end
`;
