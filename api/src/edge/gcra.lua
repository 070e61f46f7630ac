-- GCRA over several buckets (see rate_limit.rs): all are checked, and only when every one allows
-- is each advanced. KEYS[i] = bucket; ARGV[3i-2..3i] = interval us, tolerance us, TTL ms.
-- Returns {allowed, then per bucket: ok, remaining, retry_after_ms, reset_ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local out = {0}
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[i * 3 - 2])
  local tolerance = tonumber(ARGV[i * 3 - 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - tolerance
  if now < allow_at then
    allowed = 0
    tats[i] = tat
    table.insert(out, 0)
    table.insert(out, 0)
    table.insert(out, math.ceil((allow_at - now) / 1000))
    table.insert(out, math.ceil((tat - now) / 1000))
  else
    tats[i] = new_tat
    table.insert(out, 1)
    table.insert(out, math.floor((tolerance - (new_tat - now)) / interval))
    table.insert(out, 0)
    table.insert(out, math.ceil((new_tat - now) / 1000))
  end
end
out[1] = allowed
if allowed == 1 then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ARGV[i * 3])
  end
end
return out
