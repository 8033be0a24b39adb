-- rotate: verifies a refresh rid and replaces it by a new child, in one round trip.
-- KEYS[1] current rid key   KEYS[2] new child rid key
-- KEYS[3] user index key, KEYS[4] device key: declared in the cluster layout (where the
--   rid's tag gives them), built here from the stored userId in the original's;
--   then, in the cluster layout, the user's fence (see prelude.lua)
-- ARGV[6] now  ARGV[7] current rid (bare; becomes the child's parentRid)
-- ARGV[8] deviceId  ARGV[9] uaHash  ARGV[10] ipHash   (absent values are "")
-- Returns {'OK', userId, absExpAt} or a one-element array holding the failure, checked
-- in this order: 'not_found', 'expired_abs', 'ERR_COLLISION', 'ERR_REPLAY', 'ERR_BINDING'.
-- A failure writes nothing. {'BUSY'} (cluster layout): the user's fence is up, nothing
-- was written, the caller tries again shortly.

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

if redis.call('EXISTS', KEYS[2]) == 1 then return { 'ERR_COLLISION' } end
if h.status ~= 'active' then return { 'ERR_REPLAY' } end

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
local need = need_reply()
if need then return need end

redis.call('HSET', KEYS[1], 'status', 'used')
redis.call('SREM', index, KEYS[1])

local exp_at = now + math.min(WEEK, abs_exp_at - now)
redis.call('HSET', KEYS[2],
  'userId', h.userId, 'parentRid', parent_rid, 'createdAt', fmt(now), 'expAt', fmt(exp_at),
  'absExpAt', fmt(abs_exp_at), 'deviceId', device_id, 'uaHash', ua_hash, 'ipHash', ip_hash,
  'status', 'active')
redis.call('EXPIREAT', KEYS[2], abs_exp_at)
index_add(index, KEYS[2], abs_exp_at)
if device then
  redis.call('SET', device, KEYS[2], 'EXAT', abs_exp_at)
end
return { 'OK', h.userId, fmt(abs_exp_at) }
