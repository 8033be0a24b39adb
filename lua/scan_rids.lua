-- scan_rids (read-only): the bare rids of a user's active sessions.
-- KEYS[1] user index key  (cluster layout: also its members, as asked)
-- ARGV[6] userId
-- Returns an array of rids without the key prefix. Indexes written by the original also
-- hold used sessions; only active ones of this user are listed.

local members = declared_members(KEYS[1])
if members == nil then return need_reply() end

local rids = {}
for _, key in ipairs(members) do
  local fields = redis.call('HMGET', key, 'userId', 'status')
  local rid = rid_of_key(key)
  if fields[1] == ARGV[6] and fields[2] == 'active' and rid then rids[#rids + 1] = rid end
end
return rids
