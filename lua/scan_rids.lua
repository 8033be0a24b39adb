-- scan_rids (read-only): the bare rids of a user's active sessions.
-- KEYS[1] user index key
-- ARGV[5] userId
-- Returns an array of rids without the key prefix. Indexes written by the original also
-- hold used sessions; only active ones of this user are listed.

local rids = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HMGET', key, 'userId', 'status')
  if fields[1] == ARGV[5] and fields[2] == 'active' and key:sub(1, #RID_PREFIX) == RID_PREFIX then
    rids[#rids + 1] = key:sub(#RID_PREFIX + 1)
  end
end
return rids
