-- Budget decisions for upstream calls (worker/src/upstream/budget.rs), atomic across workers. One
-- call takes the decisions of every call a worker asked for at one moment (a group of one when
-- idle): decision i is taken exactly as if it were alone, after decisions 1..i-1 of this call, all
-- at one Redis `TIME`. Each key is read at most once and written at most once per call, however
-- many decisions share it; the script is atomic, so no other client sees the state in between.
--
-- Decision i has three keys: KEYS[3i-2] the pause hash {until (µs, Redis clock), kind, code},
-- KEYS[3i-1] the GCRA TAT (µs), KEYS[3i] the quota counter; and seven arguments, ARGV[7i-6 .. 7i]:
-- cost, rate interval µs per unit (0 = no rate), rate tolerance µs, longest wait µs that may be
-- reserved, quota limit (-1 = none), quota window end (Unix ms), share per mille of the rate
-- budget's depth (tolerance + longest wait) the caller may fill (1000 = all; bulk work passes
-- less, keeping the rest for interactive calls).
-- Returns one reply per decision: {'ok', wait_us} | {'rate', retry_us} | {'quota', used} |
-- {'paused', remaining_us, kind, code}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local pauses = {}     -- pause key -> {until, kind, code} (never written here)
local tats = {}       -- rate key -> TAT (µs) as the decisions so far left it
local tat_px = {}     -- rate key -> PX of its last SET, when a decision moved it
local used = {}       -- quota key -> units used, counting this call's takes
local taken = {}      -- quota key -> units this call took
local window = {}     -- quota key -> PEXPIREAT of its last take
local written = {}    -- keys in the order they were first moved (written in that order)

local function decide(pk, rk, qk, a)
  local cost = tonumber(ARGV[a + 1])

  local p = pauses[pk]
  if p == nil then
    p = redis.call('HMGET', pk, 'until', 'kind', 'code')
    pauses[pk] = p
  end
  if p[1] then
    local untilv = tonumber(p[1])
    if untilv and untilv > now then
      return {'paused', untilv - now, p[2] or 'throttle', p[3] or ''}
    end
  end

  local qlimit = tonumber(ARGV[a + 5])
  if qlimit >= 0 then
    if used[qk] == nil then used[qk] = tonumber(redis.call('GET', qk) or '0') end
    if used[qk] + cost > qlimit then
      return {'quota', used[qk]}
    end
  end

  local interval = tonumber(ARGV[a + 2])
  local wait = 0
  if interval > 0 then
    if tats[rk] == nil then tats[rk] = tonumber(redis.call('GET', rk) or '0') end
    local tat = tats[rk]
    if tat < now then tat = now end
    local new_tat = tat + interval * cost
    wait = new_tat - tonumber(ARGV[a + 3]) - now
    if wait > tonumber(ARGV[a + 4]) then
      return {'rate', wait}
    end
    local share = tonumber(ARGV[a + 7] or '1000')
    if share < 1000 then
      local depth = math.floor((tonumber(ARGV[a + 3]) + tonumber(ARGV[a + 4])) * share / 1000)
      if new_tat - now > depth then
        return {'rate', new_tat - now - depth}
      end
    end
    if wait < 0 then wait = 0 end
    tats[rk] = new_tat
    if tat_px[rk] == nil then table.insert(written, rk) end
    tat_px[rk] = math.floor((new_tat - now) / 1000) + 1000
  end

  if qlimit >= 0 then
    used[qk] = used[qk] + cost
    if taken[qk] == nil then
      taken[qk] = 0
      table.insert(written, qk)
    end
    taken[qk] = taken[qk] + cost
    window[qk] = ARGV[a + 6]
  end
  return {'ok', wait}
end

local replies = {}
for i = 1, #KEYS / 3 do
  replies[i] = decide(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], 7 * (i - 1))
end

for _, k in ipairs(written) do
  if tat_px[k] ~= nil then
    redis.call('SET', k, string.format('%d', tats[k]), 'PX', tat_px[k])
  else
    redis.call('INCRBY', k, taken[k])
    redis.call('PEXPIREAT', k, window[k])
  end
end
return replies
