-- tombstone_lineage: ends the whole lineage a rid belongs to: the rid, its ancestors
-- (through parentRid) and all its descendants, the active one included.
-- KEYS[1] rid key  (cluster layout: then the user's fence, and the lineage's sessions,
--   index and device keys, as asked; the caller follows parent links ahead to ask for a
--   whole chain at once)
-- ARGV[6] the most parent links followed from one session (guards against cycles)
-- Returns the number of sessions ended; 0 when the rid is unknown (nothing written).
-- Descendants are found from the user's index: the active end of any lineage is indexed,
-- and walking up from it reaches the rid when it belongs to this lineage. This needs no
-- child pointers, so it works on lineages the original wrote too.

local max_hops = tonumber(ARGV[6])
local root = load_hash(KEYS[1])
if root.userId == nil or root.userId == '' then return 0 end

local hashes = { [KEYS[1]] = root }   -- every hash loaded, by key
local lineage = { [KEYS[1]] = true }   -- keys known to be in the lineage
local outside = {}                     -- keys known not to be

local function parent_of(h)
  if h.parentRid == nil or h.parentRid == '' then return nil end
  return rid_key(h.parentRid)
end

-- The hash at key, or nil when the key is not declared yet (cluster layout).
local function hash_of(key)
  if hashes[key] == nil then
    if not declared(key) then return nil end
    hashes[key] = load_hash(key)
  end
  return hashes[key]
end

-- Ancestors.
local key, hops = parent_of(root), 0
while key and hops < max_hops and not lineage[key] do
  local h = hash_of(key)
  if h == nil or h.userId ~= root.userId then break end
  lineage[key] = true
  key, hops = parent_of(h), hops + 1
end

-- Descendants: walk up from each indexed session until the walk meets the lineage
-- (the whole path belongs to it) or leaves it.
local index = user_key(root.userId)
if declared(index) then
  for _, member in ipairs(redis.call('SMEMBERS', index)) do
    local path, at, steps = {}, member, 0
    while at and not lineage[at] and not outside[at] and steps <= max_hops do
      local h = hash_of(at)
      if h == nil or h.userId ~= root.userId then break end
      path[#path + 1] = at
      at, steps = parent_of(h), steps + 1
    end
    local joined = at ~= nil and lineage[at] == true
    for _, k in ipairs(path) do
      if joined then lineage[k] = true else outside[k] = true end
    end
  end
end

for k in pairs(lineage) do may_end_session(hashes[k].userId, hashes[k].deviceId) end
local need = fenced_need_reply(root.userId)
if need then return need end

local ended = 0
for k in pairs(lineage) do
  end_session(k, hashes[k].userId, hashes[k].deviceId)
  ended = ended + 1
end
lift_fence(root.userId)
return ended
