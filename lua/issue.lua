-- issue: creates the first session of a new lineage.
-- KEYS[1] new rid key   KEYS[2] user index key   KEYS[3] device key (unused when deviceId is "")
--   (cluster layout: also the audit stream, the indexed sessions and their device keys
--   when maxSessionsPerUser is set, as asked)
-- ARGV[6] userId  ARGV[7] now  ARGV[8] expAt  ARGV[9] absExpAt
-- ARGV[10] deviceId  ARGV[11] uaHash  ARGV[12] ipHash   (absent values are "")
-- ARGV[13] the session's id to store (tokenStorage 'sha256'), or ""
-- Returns 'OK' ({'OK', evicted rid...} when sessions were ended to stay within
-- maxSessionsPerUser), 'ERR_COLLISION' when the new rid key already exists, or
-- 'ERR_SESSION_LIMIT' when the user has maxSessionsPerUser active sessions and the policy
-- is to refuse (nothing written on a failure). Sessions past their idle deadline
-- (idleTtlSeconds) count for nothing: they neither fill the limit nor are ended for it.

local user_id, now, exp_at, abs_exp_at = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local device_id, ua_hash, ip_hash = ARGV[10], ARGV[11], ARGV[12]

if redis.call('EXISTS', KEYS[1]) == 1 then return 'ERR_COLLISION' end

-- The session limit: the user's active sessions, least recently rotated first (a
-- session's createdAt is when it was issued or last rotated). An index with fewer members
-- than the limit leaves room without any session being read (it may still list sessions
-- that ended, never fewer than are active).
local evict = {}
if OPTIONS.max > 0 and redis.call('SCARD', KEYS[2]) >= OPTIONS.max then
  local members = declared_members(KEYS[2])
  if members == nil then return need_reply() end
  local active, at = {}, tonumber(now)
  for _, key in ipairs(members) do
    local f = redis.call('HMGET', key, 'userId', 'status', 'createdAt', 'deviceId')
    if f[1] == user_id and (f[2] == 'active' or f[2] == false)
        and not (OPTIONS.idle > 0 and idle_at({ status = f[2] or nil, createdAt = f[3] }, at)) then
      active[#active + 1] = { key = key, created = seconds(f[3]), device = f[4] or '', status = f[2] }
    end
  end
  local excess = #active - OPTIONS.max + 1
  if excess > 0 then
    if OPTIONS.refuse then return 'ERR_SESSION_LIMIT' end
    -- Least recently rotated first; equal times by key, so every server ends the same one.
    local function older(a, b)
      if a.created ~= b.created then return a.created < b.created end
      return a.key < b.key
    end
    if excess == 1 then
      -- A new session at the limit ends one: the oldest, found in one pass.
      local oldest = 1
      for i = 2, #active do
        if older(active[i], active[oldest]) then oldest = i end
      end
      active[1], active[oldest] = active[oldest], active[1]
    else
      table.sort(active, older)
    end
    for i = 1, excess do
      evict[i] = active[i]
      may_end_session(user_id, active[i].device)
    end
  end
end
may_audit(user_id)
local need = need_reply()
if need then return need end

local expiry = session_expiry(tonumber(now), abs_exp_at)
-- Without evictions, adding to the index is the first write, and the index's expiry is
-- read before it (see index_writes); an eviction may empty the index first.
local index_ttl = #evict == 0 and redis.call('PTTL', KEYS[2]) or nil
local writes = index_writes({ { 'HSET', KEYS[1] }, { 'EXPIREAT', KEYS[1] } }, KEYS[2], index_ttl and 'SADD', index_ttl)
if device_id ~= '' then writes[#writes + 1] = { 'SET', KEYS[3] } end
audit_writes(writes, user_id, KEYS[1])
for _, s in ipairs(evict) do ending_writes(writes, s.key, user_id, s.device) end
local refusal = preflight(writes)
if refusal then return refusal end

local reply = { 'OK' }
for _, s in ipairs(evict) do
  end_session(s.key, user_id, s.device, 'evicted', s.status)
  reply[#reply + 1] = rid_of_key(s.key) or s.key
end

local fields = {
  'userId', user_id, 'parentRid', '', 'createdAt', now, 'expAt', exp_at,
  'absExpAt', ARGV[9], 'deviceId', device_id, 'uaHash', ua_hash, 'ipHash', ip_hash,
  'status', 'active' }
if ARGV[13] ~= '' then
  fields[#fields + 1] = 'sessionId'
  fields[#fields + 1] = ARGV[13]
end
index_add(KEYS[2], KEYS[1], expiry, index_ttl)
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIREAT', KEYS[1], expiry)
if device_id ~= '' then
  redis.call('SET', KEYS[3], KEYS[1], 'EXAT', expiry)
end
audit('issued', user_id, KEYS[1], device_id, '')
if #reply == 1 then return 'OK' end
return reply
