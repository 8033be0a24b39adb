-- gc_index: one SCAN page of user indexes; removes members whose rid hash is gone.
-- KEYS  the user index keys of the page
-- ARGV[5] '1' for a dry run (count only)
-- Returns the number of members removed (or that would be).

local dry_run = ARGV[5] == '1'
local removed = 0
for _, set_key in ipairs(KEYS) do
  for _, member in ipairs(redis.call('SMEMBERS', set_key)) do
    if redis.call('EXISTS', member) == 0 then
      if not dry_run then redis.call('SREM', set_key, member) end
      removed = removed + 1
    end
  end
end
return removed
