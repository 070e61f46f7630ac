-- GCRA decisions for a group of requests in arrival order, in one call (see decisions.rs).
-- KEYS = the distinct buckets of the group; ARGV[3i-2..3i] = interval us, tolerance us, TTL ms of
-- KEYS[i]; then per request: m, followed by the m indexes (into KEYS) of its buckets.
-- Per request, as one call of the single-request script would: all of its buckets are checked,
-- and only when every one allows is each advanced. Every bucket is read once and written once.
-- Returns, per request: allowed, then per bucket: ok, remaining, retry_after_ms, reset_ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nk = #KEYS
local tat = {}
local dirty = {}
for i = 1, nk do
  local v = tonumber(redis.call('GET', KEYS[i]) or now)
  if v < now then v = now end
  tat[i] = v
end
local out = {}
local p = nk * 3 + 1
while p <= #ARGV do
  local m = tonumber(ARGV[p])
  p = p + 1
  local allowed = 1
  local part = {}
  local advanced = {}
  for j = 1, m do
    local i = tonumber(ARGV[p + j - 1])
    local interval = tonumber(ARGV[i * 3 - 2])
    local tolerance = tonumber(ARGV[i * 3 - 1])
    local cur = tat[i]
    local new_tat = cur + interval
    local allow_at = new_tat - tolerance
    if now < allow_at then
      allowed = 0
      table.insert(part, 0)
      table.insert(part, 0)
      table.insert(part, math.ceil((allow_at - now) / 1000))
      table.insert(part, math.ceil((cur - now) / 1000))
    else
      advanced[i] = new_tat
      table.insert(part, 1)
      table.insert(part, math.floor((tolerance - (new_tat - now)) / interval))
      table.insert(part, 0)
      table.insert(part, math.ceil((new_tat - now) / 1000))
    end
  end
  if allowed == 1 then
    for i, v in pairs(advanced) do
      tat[i] = v
      dirty[i] = true
    end
  end
  table.insert(out, allowed)
  for _, v in ipairs(part) do
    table.insert(out, v)
  end
  p = p + m
end
for i = 1, nk do
  if dirty[i] then
    redis.call('SET', KEYS[i], string.format('%.0f', tat[i]), 'PX', ARGV[i * 3])
  end
end
return out
