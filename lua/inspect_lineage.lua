-- inspect_lineage (read-only): the lineage a rid belongs to, for the operator views. The
-- walk is the prelude's lineage_of, the one tombstone_lineage ends.
-- KEYS[1] rid key  (cluster layout: then the user's index and the lineage's sessions, as
--   asked; the caller follows parent links ahead to ask for a whole chain at once)
-- ARGV[6] the most parent links followed from one session (guards against cycles)
-- Returns {} when the rid is unknown (or its hash has no userId); else
-- {missing parent rid or "", rid, {field, value, ...}, rid, {field, value, ...}, ...}
-- with one rid and hash per session of the lineage, in no particular order.

local max_hops = tonumber(ARGV[6])
local start = load_hash(KEYS[1])
if start.userId == nil or start.userId == '' then return {} end

local members, missing_parent = lineage_of(KEYS[1], start, max_hops, false)
if members == nil then return need_reply() end
local reply = { missing_parent or '' }
for key, h in pairs(members) do
  local flat = {}
  for field, value in pairs(h) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  reply[#reply + 1] = rid_of_key(key) or key
  reply[#reply + 1] = flat
end
return reply
