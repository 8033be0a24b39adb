-- gc_rids: a batch of rid keys. Deletes hashes without a userId, re-indexes active
-- sessions missing from their user's index, and deletes used / tombstoned sessions whose
-- absExpAt + grace has passed, and active ones past their idle deadline (idleTtlSeconds;
-- Redis removes those by itself at that deadline, unless its clock is behind `now`).
-- KEYS  the rid keys of the batch (cluster layout: of one slot, then their user indexes);
--   a key that is gone by now, or not a hash, is skipped
-- ARGV[6] now (epoch seconds)  ARGV[7] grace seconds  ARGV[8] '1' for a dry run
-- ARGV[9] how many rid keys KEYS starts with
-- Returns {deleted, added to indexes, rid hashes seen}.

local now, grace, dry_run = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local writes = {} -- what the batch may write, for preflight (a dry run writes nothing)
local hashes, seen = {}, 0
for i = 1, tonumber(ARGV[9]) do
  -- A hash has at least one field: an empty reply is a key gone by now. pcall: a key of
  -- another type answers WRONGTYPE (TYPE is not among the commands the store needs).
  local flat = tolerant_read('HGETALL', KEYS[i])
  local h = false
  if flat.err == nil and #flat > 0 then
    h = hash_table(flat)
    seen = seen + 1
    writes[#writes + 1] = { 'DEL', KEYS[i] }
    if h.userId ~= nil and h.userId ~= '' then
      local index = user_key(h.userId)
      declared(index)
      writes[#writes + 1] = { 'SREM', index }
      writes[#writes + 1] = { 'SISMEMBER', index }
      index_writes(writes, index)
    end
  end
  hashes[i] = h
end
local need = need_reply()
if need then return need end
local refusal = not dry_run and preflight(writes)
if refusal then return refusal end

local deleted, added = 0, 0
for i, h in ipairs(hashes) do
  local key = KEYS[i]
  if not h then
    -- gone since it was listed, or not a hash: not a session
  elseif h.userId == nil or h.userId == '' then
    if not dry_run then redis.call('DEL', key) end
    deleted = deleted + 1
  else
    local status = h.status or 'active'
    local abs_exp_at = seconds(h.absExpAt)
    local index = user_key(h.userId)
    local idle = idle_at(h, now)
    if idle then
      if not dry_run then
        redis.call('DEL', key)
        redis.call('SREM', index, key)
      end
      deleted = deleted + 1
    elseif status == 'active' and redis.call('SISMEMBER', index, key) == 0 then
      if not dry_run then
        -- An index expiring in the past would vanish with its other members: a session
        -- already past absExpAt is indexed without touching the index's expiry.
        if abs_exp_at > now then index_add(index, key, session_expiry(seconds(h.createdAt), abs_exp_at)) else redis.call('SADD', index, key) end
      end
      added = added + 1
    end
    if (status == 'used' or status == 'tombstoned') and abs_exp_at ~= 0 and now > abs_exp_at + grace then
      if not dry_run then
        redis.call('DEL', key)
        redis.call('SREM', index, key)
      end
      deleted = deleted + 1
    end
  end
end
return { deleted, added, seen }
