-- logout_all: ends up to ARGV[5] sessions of a user's index per call; the caller repeats
-- until 0 remain. A rotation between two calls adds its child to the index (or fails on a
-- tombstoned parent), so no active session survives the last call.
-- KEYS[1] user index key
-- ARGV[5] batch size
-- Returns the number of index members still to process.

local batch = redis.call('SPOP', KEYS[1], tonumber(ARGV[5]))
for _, key in ipairs(batch) do
  local h = load_hash(key)
  if h.userId ~= nil and h.userId ~= '' then end_session(key, h) end
end
return redis.call('SCARD', KEYS[1])
