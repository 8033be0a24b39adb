-- tombstone_lineage: ends the whole lineage a rid belongs to: the rid, its ancestors
-- (through parentRid) and all its descendants, the active one included.
-- KEYS[1] rid key  (cluster layout: then the user's index and fence, and the lineage's
--   sessions, device keys and audit stream, as asked; the caller follows parent links
--   ahead to ask for a whole chain at once)
-- ARGV[6] the most parent links followed from one session (guards against cycles)
-- Returns the number of sessions ended; 0 when the rid is unknown (nothing written).
-- The walk is the prelude's lineage_of.

local max_hops = tonumber(ARGV[6])
local root = load_hash(KEYS[1])
if root.userId == nil or root.userId == '' then return 0 end

local members = lineage_of(KEYS[1], root, max_hops, true)
if members == nil then return fenced_need_reply(root.userId) end
local ended = end_lineage(members, 'revoked')
lift_fence(root.userId)
return ended
