-- list_sessions (read-only): a user's active sessions, for a "your devices" page.
-- KEYS[1] user index key  (cluster layout: also its members and their parent chains, as
--   asked)
-- ARGV[6] userId  ARGV[7] the most parent links followed from one session
-- Returns one array per active session of this user: {rid, signedInAt, root, field, value,
-- ...} where signedInAt is the createdAt of the lineage's first session (found through
-- parentRid), or "" when that session is gone, and root the rid of the first session
-- found (the session's id derives from it); the rest is the session's hash.

local user_id, max_hops = ARGV[6], tonumber(ARGV[7])
local members = declared_members(KEYS[1])
if members == nil then return need_reply() end

-- A read that tolerates a key of another type (it then reads as missing).
local function read(cmd, key, ...)
  local reply = tolerant_read(cmd, key, ...)
  if type(reply) ~= 'table' or reply.err then return nil end
  return reply
end

local sessions = {}
for _, key in ipairs(members) do
  local flat = read('HGETALL', key) or {}
  local h = hash_table(flat)
  local rid = rid_of_key(key)
  if rid and h.userId == user_id and (h.status == nil or h.status == 'active') then
    local signed_in, parent, hops, root = '', h.parentRid, 0, rid
    if parent == nil or parent == '' then signed_in = h.createdAt or '' end
    while parent ~= nil and parent ~= '' and hops < max_hops do
      local pkey = rid_key(parent)
      if not declared(pkey) then break end
      local f = read('HMGET', pkey, 'userId', 'parentRid', 'createdAt')
      if f == nil or f[1] ~= user_id then break end
      root, parent, hops = parent, f[2], hops + 1
      if parent == false or parent == '' then signed_in = f[3] or '' end
    end
    local entry = { rid, signed_in, root }
    for _, v in ipairs(flat) do entry[#entry + 1] = v end
    sessions[#sessions + 1] = entry
  end
end
local need = need_reply()
if need then return need end
return sessions
