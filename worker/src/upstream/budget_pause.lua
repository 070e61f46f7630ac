-- Records an upstream-reported throttle or quota exhaustion (worker/src/upstream/budget.rs) so that
-- every worker stops calling until it ends. Never shortens a longer pause already recorded.
-- KEYS[1] pause hash; ARGV: pause length µs (from now, Redis clock), kind ('throttle'|'quota'), code.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilv = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') or 0
if untilv <= cur then
  return 0
end
redis.call('HSET', KEYS[1], 'until', string.format('%d', untilv), 'kind', ARGV[2], 'code', ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[1]) / 1000) + 1000)
return 1
