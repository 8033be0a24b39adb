-- logout_all: ends up to ARGV[5] sessions of a user's index per call; the caller repeats
-- until 0 remain (it may send several calls at once: a call on an empty index is a no-op).
-- A rotation between two calls adds its child to the index (or fails on a tombstoned
-- parent), so no active session survives the last call.
-- KEYS[1] user index key
-- ARGV[5] batch size
-- Returns the number of index members still to process.

local batch = redis.call('SPOP', KEYS[1], tonumber(ARGV[5]))
for _, key in ipairs(batch) do
  local fields = redis.call('HMGET', key, 'userId', 'deviceId')
  local user_id, device_id = fields[1], fields[2]
  if user_id and user_id ~= '' then end_unindexed_session(key, user_id, device_id) end
end
return redis.call('SCARD', KEYS[1])
