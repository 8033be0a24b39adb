-- tombstone_lineage: ends the whole lineage a rid belongs to: the rid, its ancestors
-- (through parentRid) and all its descendants, the active one included. Also logout's
-- script: logout of an active rid ends that session alone; logout of a rid that was
-- already rotated away (or ended) ends its lineage too, since the session that took its
-- place may be in the hands of whoever the user means to log out (a reply the client
-- never received, a stolen cookie that was refreshed first).
-- KEYS[1] rid key  (cluster layout: then the user's index and fence, and the lineage's
--   sessions, device keys and audit stream, as asked; the caller follows parent links
--   ahead to ask for a whole chain at once)
-- ARGV[6] the most parent links followed from one session (guards against cycles)
-- ARGV[7] 'revoked' (tombstoneLineage) or 'logout' (logout), also the audit reason
-- Returns the number of sessions ended (ended ones count again for logout: it answers
-- whether the rid was known); 0 when the rid is unknown (nothing written).
-- The walk is the prelude's lineage_of.

local max_hops, reason = tonumber(ARGV[6]), ARGV[7]
local root = load_hash(KEYS[1])
if root.userId == nil or root.userId == '' then return 0 end

if reason == 'logout' and (root.status == nil or root.status == 'active') then
  if not may_end_session(root.userId, root.deviceId) then return need_reply() end
  local refusal = preflight(ending_writes({}, KEYS[1], root.userId, root.deviceId))
  if refusal then return refusal end
  end_session(KEYS[1], root.userId, root.deviceId, reason, root.status)
  return 1
end

local members = lineage_of(KEYS[1], root, max_hops, true)
if members == nil then return fenced_need_reply(root.userId) end
local writes = {}
for k, h in pairs(members) do ending_writes(writes, k, h.userId, h.deviceId) end
local refusal = preflight(writes, root.userId)
if refusal then return refusal end
local ended = end_lineage(members, reason)
lift_fence(root.userId)
return ended
