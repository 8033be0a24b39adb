-- import_session: copies one session of a deployment on one node into the cluster layout
-- (a move to Redis Cluster). Repeatable: a session already copied only ever advances
-- (active -> used -> tombstoned), so copying again after more changes on the old node
-- never brings an ended session back.
-- KEYS[1] the session's rid key   KEYS[2] its user index   KEYS[3] its device key
-- ARGV[6] '1' when the old node's device key named this session
-- ARGV[7] its status ('active' when the hash has none)   ARGV[8] its absExpAt
-- ARGV[9..] the hash as field/value pairs (parentRid already in the cluster form)
-- Returns 'copied', 'advanced' or 'unchanged'.

local status, abs_exp_at = ARGV[7], seconds(ARGV[8])
local RANK = { active = 0, used = 1, tombstoned = 2 }
local function rank(s) return RANK[s] or 0 end

local existing = redis.call('HGET', KEYS[1], 'status')
local refusal = preflight(index_writes({ { 'SREM', KEYS[2] }, { 'HSET', KEYS[1] }, { 'EXPIREAT', KEYS[1] },
  { 'SET', KEYS[3] } }, KEYS[2]))
if refusal then return refusal end
if existing then
  if rank(existing) >= rank(status) then return 'unchanged' end
  redis.call('HSET', KEYS[1], 'status', status)
  if status ~= 'active' then redis.call('SREM', KEYS[2], KEYS[1]) end
  return 'advanced'
end

local values = {}
for i = 9, #ARGV do values[#values + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(values))
redis.call('EXPIREAT', KEYS[1], abs_exp_at)
if status == 'active' then
  index_add(KEYS[2], KEYS[1], abs_exp_at)
  if ARGV[6] == '1' then redis.call('SET', KEYS[3], KEYS[1], 'EXAT', abs_exp_at) end
end
return 'copied'
