-- rotate: verifies a refresh rid and replaces it by a new child, in one round trip.
-- KEYS[1] current rid key   KEYS[2] new child rid key
-- KEYS[3] user index key, KEYS[4] device key: declared in the cluster layout (where the
--   rid's tag gives them), built here from the stored userId in the original's; the
--   cluster layout also declares the audit stream, and what the options below touch,
--   as asked, and the user's fence (see prelude.lua)
-- ARGV[6] now (whole epoch seconds, stored as given)
-- ARGV[7] current rid (bare; becomes the child's parentRid)
-- ARGV[8] deviceId  ARGV[9] uaHash  ARGV[10] ipHash   (absent values are "")
-- ARGV[11] with reuseGraceSeconds: the child's token sealed for the parent's holder, or ""
-- Returns {'OK', userId, absExpAt} or a one-element array holding the failure, checked
-- in this order: 'not_found', 'expired_abs', 'ERR_COLLISION', 'ERR_REPLAY', 'ERR_IDLE',
-- 'ERR_BINDING'. A failure writes nothing, except that with the options:
-- - reuseGraceSeconds: a used rid presented again within the window after its rotation,
--   with the binding its child was given, while that child is active, answers
--   {'OK', userId, absExpAt, child rid, sealed child or ""} and writes nothing;
-- - onReuse 'revoke-lineage': ERR_REPLAY ends the rid's whole lineage first;
-- - idleTtlSeconds: ERR_IDLE ends the session first.
-- {'BUSY'} (cluster layout): the user's fence is up, nothing was written, the caller
-- tries again shortly.

local now, parent_rid = tonumber(ARGV[6]), ARGV[7]
local device_id, ua_hash, ip_hash = ARGV[8], ARGV[9], ARGV[10]
local WEEK = 7 * 24 * 3600

local h = load_hash(KEYS[1])
if h.userId == nil or h.userId == '' then return { 'not_found' } end
if fenced(h.userId) then return { 'BUSY' } end

-- A hash without absExpAt never expires on its own: the original treats it as "now".
local abs_exp_at = now
if h.absExpAt ~= nil then abs_exp_at = seconds(h.absExpAt) end
if now > abs_exp_at then return { 'expired_abs' } end
local abs_exp_text = fmt(abs_exp_at)

if redis.call('EXISTS', KEYS[2]) == 1 then return { 'ERR_COLLISION' } end

-- Whether a session is past its idle deadline.
local function idle(s)
  return idle_at(s, now)
end

if h.status ~= 'active' then
  -- The grace window: the same binding again, soon after the rotation, gets the child
  -- that rotation issued, while that child is still active. The window is measured from
  -- the rotation and nothing here moves it.
  if OPTIONS.grace > 0 and h.status == 'used' and h.rotatedAt ~= nil and h.childRid ~= nil
      and now <= seconds(h.rotatedAt) + OPTIONS.grace then
    local child_key = rid_key(h.childRid)
    if not declared(child_key) then return need_reply() end
    local child = load_hash(child_key)
    if child.userId == h.userId and child.status == 'active' and not idle(child)
        and child.deviceId == device_id and child.uaHash == ua_hash and child.ipHash == ip_hash then
      return { 'OK', h.userId, abs_exp_text, h.childRid, h.childSeal or '' }
    end
  end
  if OPTIONS.revoke and h.status == 'used' then
    local members = lineage_of(KEYS[1], h, OPTIONS.hops, true)
    if members == nil then return need_reply() end
    local writes = {}
    for k, m in pairs(members) do ending_writes(writes, k, m.userId, m.deviceId) end
    local refusal = preflight(writes)
    if refusal then return refusal end
    end_lineage(members, 'reuse')
  end
  return { 'ERR_REPLAY' }
end

if idle(h) then
  if not may_end_session(h.userId, h.deviceId) then return need_reply() end
  local refusal = preflight(ending_writes({}, KEYS[1], h.userId, h.deviceId))
  if refusal then return refusal end
  end_session(KEYS[1], h.userId, h.deviceId, 'idle', h.status)
  return { 'ERR_IDLE' }
end

-- Binding: a value is checked only when the caller gives a non-empty one, and then
-- compared with the stored value even when that is "" (the original's rule).
local function mismatch(given, stored)
  return given ~= '' and stored ~= nil and stored ~= given
end
if mismatch(device_id, h.deviceId) or mismatch(ua_hash, h.uaHash) or mismatch(ip_hash, h.ipHash) then
  return { 'ERR_BINDING' }
end

local index = user_key(h.userId)
local device = device_id ~= '' and device_key(h.userId, device_id) or nil
declared(index)
if device then declared(device) end
may_audit(h.userId)
local need = need_reply()
if need then return need end

local exp_at = now + math.min(WEEK, abs_exp_at - now)
if OPTIONS.idle > 0 then exp_at = math.min(now + OPTIONS.idle, abs_exp_at) end
local expiry = session_expiry(now, abs_exp_at)

-- The SREM goes first: a wrong-typed index or a refusal fails it before anything is
-- written, so it is not checked (see index_writes).
local writes = index_writes({ { 'HSET', KEYS[1] }, { 'HSET', KEYS[2] }, { 'EXPIREAT', KEYS[2] } }, index, 'SREM')
if OPTIONS.idle > 0 then writes[#writes + 1] = { 'EXPIREAT', KEYS[1] } end
if device then writes[#writes + 1] = { 'SET', device } end
audit_writes(writes, h.userId, KEYS[1])
local refusal = preflight(writes)
if refusal then return refusal end

redis.call('SREM', index, KEYS[1])
-- Each hash is written by one HSET, whatever the options add to it.
local parent_fields = { 'status', 'used' }
if OPTIONS.grace > 0 then
  for _, v in ipairs({ 'rotatedAt', ARGV[6], 'childRid', rid_of_key(KEYS[2]) or KEYS[2] }) do
    parent_fields[#parent_fields + 1] = v
  end
  -- A hashed child's token, sealed for the parent's holder (ARGV[11]; see token.rs).
  if ARGV[11] ~= '' then
    parent_fields[#parent_fields + 1] = 'childSeal'
    parent_fields[#parent_fields + 1] = ARGV[11]
  end
end
redis.call('HSET', KEYS[1], unpack(parent_fields))
-- A used session stays until its absExpAt, whatever its idle deadline was, so that a
-- replay of it is still recognised.
if OPTIONS.idle > 0 then redis.call('EXPIREAT', KEYS[1], abs_exp_at) end

local child_fields = {
  'userId', h.userId, 'parentRid', parent_rid, 'createdAt', ARGV[6], 'expAt', fmt(exp_at),
  'absExpAt', abs_exp_text, 'deviceId', device_id, 'uaHash', ua_hash, 'ipHash', ip_hash,
  'status', 'active' }
if h.sessionId then
  child_fields[#child_fields + 1] = 'sessionId'
  child_fields[#child_fields + 1] = h.sessionId
end
redis.call('HSET', KEYS[2], unpack(child_fields))
redis.call('EXPIREAT', KEYS[2], expiry)
index_add(index, KEYS[2], expiry)
if device then
  redis.call('SET', device, KEYS[2], 'EXAT', expiry)
end
audit('rotated', h.userId, KEYS[1], device_id, '', { 'childRid', rid_of_key(KEYS[2]) or KEYS[2] })
return { 'OK', h.userId, abs_exp_text }
