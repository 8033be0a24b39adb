-- gc_rids: a batch of rid keys. Deletes hashes without a userId, re-indexes active
-- sessions missing from their user's index, and deletes used / tombstoned sessions whose
-- absExpAt + grace has passed, and active ones past their idle deadline (idleTtlSeconds;
-- Redis removes those by itself at that deadline, unless its clock is behind `now`).
-- KEYS  the rid keys of the batch (cluster layout: of one slot, then their user indexes);
--   a key that is gone by now, or not a hash, is skipped, and a key listed twice is
--   judged once
-- ARGV[6] now (epoch seconds)  ARGV[7] grace seconds  ARGV[8] '1' for a dry run
-- ARGV[9] how many rid keys KEYS starts with
-- Returns {deleted, added to indexes, rid hashes seen}.

local now, grace, dry_run = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'

-- Whether `key` is in `index`. An index of another type reads as not: re-indexing lists
-- an SADD to it, which preflight's type check refuses (a dry run, which checks nothing,
-- fails on it here).
local function indexed(index, key)
  local reply = tolerant_read('SISMEMBER', index, key)
  if type(reply) == 'table' then
    if dry_run then raise(reply) end
    return false
  end
  return reply == 1
end

-- Each key is judged from reads alone, before any write, so that preflight is handed only
-- the writes the batch will make: most sessions need none.
-- plans[i]: {'drop'} (a hash without userId), {'delete', index}, {'index', index,
-- absExpAt, createdAt}, or nil.
local plans, judged, writes, seen = {}, {}, {}, 0
for i = 1, tonumber(ARGV[9]) do
  local key = KEYS[i]
  -- The fields judged. A reply without any of them is a hash without them, or a key gone
  -- by now (a hash has at least one field): only then is the whole hash read. pcall: a
  -- key of another type answers WRONGTYPE (TYPE is not among the commands the store needs).
  local f = not judged[key] and tolerant_read('HMGET', key, 'userId', 'status', 'absExpAt', 'createdAt')
  judged[key] = true
  if f and f.err == nil and (f[1] or f[2] or f[3] or f[4] or #tolerant_read('HGETALL', key) > 0) then
    seen = seen + 1
    local h = { userId = f[1] or nil, status = f[2] or nil, absExpAt = f[3] or nil, createdAt = f[4] or nil }
    if h.userId == nil or h.userId == '' then
      plans[i] = { 'drop' }
      writes[#writes + 1] = { 'DEL', key }
    else
      local index = user_key(h.userId)
      if declared(index) then
        local status = h.status or 'active'
        local abs_exp_at = seconds(h.absExpAt)
        if idle_at(h, now)
            or ((status == 'used' or status == 'tombstoned') and abs_exp_at ~= 0 and now > abs_exp_at + grace) then
          plans[i] = { 'delete', index }
          writes[#writes + 1] = { 'DEL', key }
          writes[#writes + 1] = { 'SREM', index }
        elseif status == 'active' and not indexed(index, key) then
          plans[i] = { 'index', index, abs_exp_at, h.createdAt }
          index_writes(writes, index)
        end
      end
    end
  end
end
local need = need_reply()
if need then return need end
local refusal = not dry_run and preflight(writes)
if refusal then return refusal end

local deleted, added = 0, 0
for i = 1, tonumber(ARGV[9]) do
  local plan = plans[i]
  if plan then
    local key, action, index = KEYS[i], plan[1], plan[2]
    if action == 'index' then
      if not dry_run then
        -- An index expiring in the past would vanish with its other members: a session
        -- already past absExpAt is indexed without touching the index's expiry.
        local abs_exp_at = plan[3]
        if abs_exp_at > now then
          index_add(index, key, session_expiry(seconds(plan[4]), abs_exp_at))
        else
          redis.call('SADD', index, key)
        end
      end
      added = added + 1
    else
      if not dry_run then
        redis.call('DEL', key)
        if index then redis.call('SREM', index, key) end
      end
      deleted = deleted + 1
    end
  end
end
return { deleted, added, seen }
