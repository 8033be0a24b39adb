-- issue: creates the first session of a new lineage.
-- KEYS[1] new rid key   KEYS[2] user index key   KEYS[3] device key (unused when deviceId is "")
-- ARGV[6] userId  ARGV[7] now  ARGV[8] expAt  ARGV[9] absExpAt
-- ARGV[10] deviceId  ARGV[11] uaHash  ARGV[12] ipHash   (absent values are "")
-- Returns 'OK', or 'ERR_COLLISION' when the new rid key already exists (nothing written).

local user_id, now, exp_at, abs_exp_at = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local device_id, ua_hash, ip_hash = ARGV[10], ARGV[11], ARGV[12]

if redis.call('EXISTS', KEYS[1]) == 1 then return 'ERR_COLLISION' end
redis.call('HSET', KEYS[1],
  'userId', user_id, 'parentRid', '', 'createdAt', now, 'expAt', exp_at,
  'absExpAt', ARGV[9], 'deviceId', device_id, 'uaHash', ua_hash, 'ipHash', ip_hash,
  'status', 'active')
redis.call('EXPIREAT', KEYS[1], abs_exp_at)
index_add(KEYS[2], KEYS[1], abs_exp_at)
if device_id ~= '' then
  redis.call('SET', KEYS[3], KEYS[1], 'EXAT', abs_exp_at)
end
return 'OK'
