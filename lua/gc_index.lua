-- gc_index: the user indexes of one SCAN page; removes members whose rid hash is gone.
-- KEYS  keys of the page named like user indexes (cluster layout: of one slot, then the
--   members of those that are sets, as asked); a key of another type is skipped
-- ARGV[6] '1' for a dry run (count only)  ARGV[7] how many index keys KEYS starts with
-- Returns {members removed (or that would be), user indexes seen}.

local dry_run = ARGV[6] == '1'
local indexes, seen = {}, 0
for i = 1, tonumber(ARGV[7]) do
  -- A set has at least one member: an empty reply is a key gone by now. pcall: a key of
  -- another type answers WRONGTYPE (TYPE is not among the commands the store needs).
  local members = tolerant_read('SMEMBERS', KEYS[i])
  if members.err ~= nil then members = {} end
  if #members > 0 then seen = seen + 1 end
  for _, member in ipairs(members) do declared(member) end
  indexes[i] = members
end
local need = need_reply()
if need then return need end
if not dry_run then
  local writes = {}
  for i, members in ipairs(indexes) do
    if #members > 0 then
      writes[#writes + 1] = { 'SREM', KEYS[i] }
      writes[#writes + 1] = { 'EXISTS', members[1] }
    end
  end
  local refusal = preflight(writes)
  if refusal then return refusal end
end

local removed = 0
for i, members in ipairs(indexes) do
  for _, member in ipairs(members) do
    if redis.call('EXISTS', member) == 0 then
      if not dry_run then redis.call('SREM', KEYS[i], member) end
      removed = removed + 1
    end
  end
end
return { removed, seen }
