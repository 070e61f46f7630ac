-- One budget decision for one upstream call (worker/src/upstream/budget.rs), atomic across workers.
-- KEYS[1] pause hash {until (µs, Redis clock), kind, code}; KEYS[2] GCRA TAT (µs); KEYS[3] quota counter.
-- ARGV: cost, rate interval µs per unit (0 = no rate), rate tolerance µs, longest wait µs that may be
-- reserved, quota limit (-1 = none), quota window end (Unix ms), share per mille of the rate
-- budget's depth (tolerance + longest wait) the caller may fill (1000 = all; bulk work passes less,
-- keeping the rest for interactive calls).
-- Returns {'ok', wait_us} | {'rate', retry_us} | {'quota', used} | {'paused', remaining_us, kind, code}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])

local p = redis.call('HMGET', KEYS[1], 'until', 'kind', 'code')
if p[1] then
  local untilv = tonumber(p[1])
  if untilv and untilv > now then
    return {'paused', untilv - now, p[2] or 'throttle', p[3] or ''}
  end
end

local qlimit = tonumber(ARGV[5])
if qlimit >= 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used + cost > qlimit then
    return {'quota', used}
  end
end

local interval = tonumber(ARGV[2])
local wait = 0
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  wait = new_tat - tonumber(ARGV[3]) - now
  if wait > tonumber(ARGV[4]) then
    return {'rate', wait}
  end
  local share = tonumber(ARGV[7] or '1000')
  if share < 1000 then
    local depth = math.floor((tonumber(ARGV[3]) + tonumber(ARGV[4])) * share / 1000)
    if new_tat - now > depth then
      return {'rate', new_tat - now - depth}
    end
  end
  if wait < 0 then wait = 0 end
  redis.call('SET', KEYS[2], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
end

if qlimit >= 0 then
  redis.call('INCRBY', KEYS[3], cost)
  redis.call('PEXPIREAT', KEYS[3], ARGV[6])
end
return {'ok', wait}
