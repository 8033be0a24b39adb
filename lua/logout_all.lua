-- logout_all: ends a batch of the sessions in a user's index; the caller repeats until
-- none remain (it may send several calls at once: a call on an empty index is a no-op).
-- A rotation between two calls adds its child to the index (or fails on a tombstoned
-- parent), so no active session survives the last call.
-- KEYS[1] user index key
-- KEYS[2 .. ARGV[7] + 1] cluster layout: the batch, members the caller read from the
--   index (those no longer in it are skipped); then their device keys, as asked
-- ARGV[6] batch size (the original's layout: drawn here)
-- ARGV[7] how many batch members KEYS holds (cluster layout)
-- Returns {index members still to process, sessions this call ended that were active}.

local batch
if CLUSTER then
  batch = {}
  for i = 2, tonumber(ARGV[7]) + 1 do
    if redis.call('SISMEMBER', KEYS[1], KEYS[i]) == 1 then batch[#batch + 1] = KEYS[i] end
  end
else
  -- Drawn, not popped: the batch leaves the index only once nothing can fail.
  batch = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[6]))
end

-- The writes, for preflight: the batch leaves the index in one SREM (the first write, so
-- a wrong type or a refusal meets it before anything is written), the sessions' HSETs,
-- and once per device key and audit stream what ending touches there. Session keys are
-- one kind to the ACL (see preflight), so the first one listed stands for the rest; a
-- member of another kind is listed itself.
local sessions, writes, audited, devices, session_listed = {}, {}, {}, {}, false
for i, key in ipairs(batch) do
  -- A member that is not a hash is no session: it only leaves the index.
  local fields = tolerant_read('HMGET', key, 'userId', 'deviceId', 'status')
  if fields.err then fields = { false, false, false } end
  sessions[i] = fields
  local user_id, device_id = fields[1], fields[2]
  if user_id and user_id ~= '' then
    may_end_session(user_id, device_id)
    local a_session = key_kind(key) == 1
    if not (a_session and session_listed) then
      session_listed = session_listed or a_session
      writes[#writes + 1] = { 'HSET', key }
    end
    if device_id and device_id ~= '' then
      local listed = devices[user_id] or {}
      devices[user_id] = listed
      if not listed[device_id] then
        listed[device_id] = true
        local dkey = device_key(user_id, device_id)
        writes[#writes + 1] = { 'GET', dkey }
        writes[#writes + 1] = { 'DEL', dkey }
      end
    end
    if OPTIONS.audit > 0 and not audited[user_id] then
      audited[user_id] = true
      audit_writes(writes, user_id, key)
    end
  end
end
local need = need_reply()
if need then return need end
local refusal = preflight(writes)
if refusal then return refusal end

-- Counted before the batch leaves the index: the SREM may delete the index, and a key
-- gone from a slot that is migrating cannot be read again in this script.
local remaining = redis.call('SCARD', KEYS[1]) - #batch
if #batch > 0 then redis.call('SREM', KEYS[1], unpack(batch)) end

local ended = 0
for i, key in ipairs(batch) do
  local user_id, device_id, status = sessions[i][1], sessions[i][2], sessions[i][3]
  if user_id and user_id ~= '' then
    if status == 'active' then ended = ended + 1 end
    end_unindexed_session(key, user_id, device_id, 'logout_all', status)
  end
end
return { remaining, ended }
