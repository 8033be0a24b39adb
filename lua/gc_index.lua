-- gc_index: one SCAN page of user indexes; removes members whose rid hash is gone.
-- KEYS  the user index keys of the page (cluster layout: of one slot, then their
--   members, as asked)
-- ARGV[6] '1' for a dry run (count only)  ARGV[7] how many index keys KEYS starts with
-- Returns the number of members removed (or that would be).

local dry_run = ARGV[6] == '1'
local indexes = {}
for i = 1, tonumber(ARGV[7]) do
  local members = redis.call('SMEMBERS', KEYS[i])
  for _, member in ipairs(members) do declared(member) end
  indexes[i] = members
end
local need = need_reply()
if need then return need end

local removed = 0
for i, members in ipairs(indexes) do
  for _, member in ipairs(members) do
    if redis.call('EXISTS', member) == 0 then
      if not dry_run then redis.call('SREM', KEYS[i], member) end
      removed = removed + 1
    end
  end
end
return removed
