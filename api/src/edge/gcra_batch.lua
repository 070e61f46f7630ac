-- GCRA decisions for a group of requests in arrival order, in one call (see decisions.rs), with
-- the token leases of leases.rs: tokens given back first, extra tokens granted last.
-- KEYS = the distinct buckets of the call; ARGV[5i-4..5i] = interval us, tolerance us, TTL ms,
-- extra tokens wanted, tokens given back, of KEYS[i]; then per request: m, followed by the m
-- indexes (into KEYS) of its buckets (a call may carry no request: given-back tokens only).
-- Per request, as one call of the single-request script would: all of its buckets are checked,
-- and only when every one allows is each advanced. Every bucket is read once and written once.
-- Returns, per request: allowed, then per bucket: ok, remaining, retry_after_ms, reset_ms; then
-- per key: extra tokens granted, and how far its TAT is ahead of now (us) after the grant.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nk = #KEYS
local tat = {}
local dirty = {}
for i = 1, nk do
  local v = tonumber(redis.call('GET', KEYS[i]) or now)
  if v < now then v = now end
  local back = tonumber(ARGV[i * 5])
  if back > 0 then
    v = v - back * tonumber(ARGV[i * 5 - 4])
    if v < now then v = now end
    dirty[i] = true
  end
  tat[i] = v
end
local out = {}
local p = nk * 5 + 1
while p <= #ARGV do
  local m = tonumber(ARGV[p])
  p = p + 1
  local allowed = 1
  local part = {}
  local advanced = {}
  for j = 1, m do
    local i = tonumber(ARGV[p + j - 1])
    local interval = tonumber(ARGV[i * 5 - 4])
    local tolerance = tonumber(ARGV[i * 5 - 3])
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
  local interval = tonumber(ARGV[i * 5 - 4])
  local tolerance = tonumber(ARGV[i * 5 - 3])
  local want = tonumber(ARGV[i * 5 - 1])
  local granted = 0
  if want > 0 then
    granted = math.floor((now + tolerance - tat[i]) / interval)
    if granted > want then granted = want end
    if granted < 0 then granted = 0 end
    if granted > 0 then
      tat[i] = tat[i] + granted * interval
      dirty[i] = true
    end
  end
  table.insert(out, granted)
  table.insert(out, tat[i] - now)
  if dirty[i] then
    redis.call('SET', KEYS[i], string.format('%.0f', tat[i]), 'PX', ARGV[i * 5 - 2])
  end
end
return out
