-- issue: creates the first session of a new lineage.
-- KEYS[1] new rid key   KEYS[2] user index key   KEYS[3] device key (unused when deviceId is "")
-- ARGV[5] userId  ARGV[6] now  ARGV[7] expAt  ARGV[8] absExpAt
-- ARGV[9] deviceId  ARGV[10] uaHash  ARGV[11] ipHash   (absent values are "")
-- Returns 'OK', or 'ERR_COLLISION' when the new rid key already exists (nothing written).

local user_id, now, exp_at, abs_exp_at = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local device_id, ua_hash, ip_hash = ARGV[9], ARGV[10], ARGV[11]

if redis.call('EXISTS', KEYS[1]) == 1 then return 'ERR_COLLISION' end

redis.call('HSET', KEYS[1],
  'userId', user_id, 'parentRid', '', 'createdAt', now, 'expAt', exp_at,
  'absExpAt', ARGV[8], 'deviceId', device_id, 'uaHash', ua_hash, 'ipHash', ip_hash,
  'status', 'active')
redis.call('EXPIREAT', KEYS[1], abs_exp_at)
index_add(KEYS[2], KEYS[1], abs_exp_at)
if device_id ~= '' then
  redis.call('SET', KEYS[3], KEYS[1], 'EXAT', abs_exp_at)
end
return 'OK'
