-- gc_index: the user indexes of one SCAN page; removes members whose rid hash is gone.
-- KEYS  keys of the page named like user indexes (cluster layout: of one slot, then the
--   members of those that are sets, as asked); a key of another type is skipped
-- ARGV[6] '1' for a dry run (count only)  ARGV[7] how many index keys KEYS starts with
-- Returns {members removed (or that would be), user indexes seen}.
-- gcScope 'registry': an index seen is added to the registry, and one gone (or left
-- empty by this call) is removed from it, so the registry holds only live users (and
-- index keys that hold another type, which are left alone).

local dry_run = ARGV[6] == '1'
-- What the batch may write, for preflight (a dry run writes nothing).
local writes = REGISTRY and { { 'SADD', REGISTRY }, { 'SREM', REGISTRY } } or {}
local indexes, seen = {}, 0
for i = 1, tonumber(ARGV[7]) do
  -- A set has at least one member: an empty reply is a key gone by now. pcall: a key of
  -- another type answers WRONGTYPE (TYPE is not among the commands the store needs).
  local members = tolerant_read('SMEMBERS', KEYS[i])
  -- Of another type: passed over, and left in the registry (it may be a passing fault).
  if members.err ~= nil then members = { other_type = true } end
  for _, member in ipairs(members) do declared(member) end
  indexes[i] = members
  if #members > 0 then
    seen = seen + 1
    writes[#writes + 1] = { 'SREM', KEYS[i] }
    writes[#writes + 1] = { 'EXISTS', members[1] }
  end
end
if #NEEDED_LIST > 0 then return need_reply() end
local refusal = not dry_run and preflight(writes)
if refusal then return refusal end

-- Members leave their index in one SREM per this many (a Lua call takes a bounded number
-- of arguments).
local SREM_CHUNK = 1000
local removed = 0
for i, members in ipairs(indexes) do
  local gone = {}
  for _, member in ipairs(members) do
    if redis.call('EXISTS', member) == 0 then gone[#gone + 1] = member end
  end
  if not dry_run then
    for first = 1, #gone, SREM_CHUNK do
      redis.call('SREM', KEYS[i], unpack(gone, first, math.min(first + SREM_CHUNK - 1, #gone)))
    end
  end
  removed = removed + #gone
  if REGISTRY and not dry_run and not members.other_type then
    if #gone == #members then redis.call('SREM', REGISTRY, KEYS[i]) else redis.call('SADD', REGISTRY, KEYS[i]) end
  end
end
return { removed, seen }
