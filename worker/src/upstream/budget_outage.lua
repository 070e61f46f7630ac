-- Records a connection failure (refused, reset, timed out) of an upstream (worker/src/upstream/budget.rs)
-- as a short pause every worker honours, growing while the outage lasts. Never shortens a longer pause.
-- KEYS[1] pause hash (as budget_pause.lua); KEYS[2] outage hash {since (µs, Redis clock)}.
-- ARGV: shortest pause µs, longest pause µs, quiet µs (an outage is over after this long without a
-- failure), give-up µs (an outage older than this is no longer paused for).
-- Returns {outage age µs, pause µs recorded or 0 when the outage is older than give-up}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local minp, maxp = tonumber(ARGV[1]), tonumber(ARGV[2])
local quiet_ms = math.floor(tonumber(ARGV[3]) / 1000)
local since = tonumber(redis.call('HGET', KEYS[2], 'since') or '')
if not since then
  since = now
  redis.call('HSET', KEYS[2], 'since', string.format('%d', since))
end
redis.call('PEXPIRE', KEYS[2], quiet_ms)
local age = now - since
if age > tonumber(ARGV[4]) then
  return {age, 0}
end
-- 2 s at the first failure, + 1 s per 4 s of outage, up to the longest pause.
local pause = math.min(maxp, minp + math.floor(age / 4))
local untilv = now + pause
local cur = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') or 0
if untilv > cur then
  redis.call('HSET', KEYS[1], 'until', string.format('%d', untilv), 'kind', 'outage', 'code', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], math.floor(pause / 1000) + 1000)
end
return {age, pause}
