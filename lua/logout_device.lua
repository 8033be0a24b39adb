-- logout_device: ends every active session of one user bound to one device.
-- KEYS[1] user index key   KEYS[2] device key  (cluster layout: then the user's fence,
--   and the sessions and the audit stream, as asked)
-- ARGV[6] userId  ARGV[7] deviceId
-- Returns the number of sessions ended. Sessions are matched on their own userId and
-- deviceId fields, never on key names, so ids containing ':' cannot reach another user.

local user_id, device_id = ARGV[6], ARGV[7]

-- Everything this call may touch: the indexed sessions and the device key's target.
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do declared(key) end
local newest = redis.call('GET', KEYS[2])
if newest then declared(newest) end
may_audit(user_id)
local need = fenced_need_reply(user_id)
if need then return need end

local function belongs(h)
  return h.userId == user_id and h.deviceId == device_id
end
local ending, writes = {}, {}
for _, key in ipairs(members) do
  local h = load_hash(key)
  if belongs(h) and h.status == 'active' then
    ending[#ending + 1] = { key, h }
    ending_writes(writes, key, h.userId, h.deviceId)
  end
end
-- The device key names the newest session of the device; it is ended too whatever its
-- status (as the original does), and the key dropped unless another user owns it.
local newest_hash = newest and load_hash(newest)
if newest_hash and belongs(newest_hash) then ending_writes(writes, newest, user_id, device_id) end
writes[#writes + 1] = { 'DEL', KEYS[2] }
local refusal = preflight(writes, user_id)
if refusal then return refusal end

local ended = 0
for _, e in ipairs(ending) do
  end_session(e[1], e[2].userId, e[2].deviceId, 'logout_device', e[2].status)
  ended = ended + 1
end
if newest_hash then
  local h = load_hash(newest)
  if belongs(h) then
    if h.status == 'active' then ended = ended + 1 end
    end_session(newest, h.userId, h.deviceId, 'logout_device', h.status)
  end
  if h.userId == nil or belongs(h) then redis.call('DEL', KEYS[2]) end
end
lift_fence(user_id)
return ended
