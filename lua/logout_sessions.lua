-- logout_sessions: ends a user's sessions by session id, as a devices page does: the
-- lineage of one session ('one'), or every session of the user but that one ('others').
-- A session here is a lineage; the caller found its current rid from the session id.
-- KEYS[1] user index key  (cluster layout: then the user's fence and audit stream, the
--   chosen session's rid key, and the lineages' keys and device keys, as asked)
-- ARGV[6] userId  ARGV[7] the chosen session's rid as the caller read it from the index
-- ARGV[8] 'one' or 'others'  ARGV[9] the most parent links followed from one session
-- Returns how many active sessions were ended; 0 when the chosen rid is not this user's or
-- its lineage has no active session left (then nothing is written). The lineage is found
-- from the index as tombstone_lineage finds it, so a rotation between the caller's read
-- and this call leaves the chosen session on the side it was meant to be.

local user_id, chosen, mode, max_hops = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local chosen_key = rid_key(chosen)
if not declared(chosen_key) then return fenced_need_reply(user_id) end
local start = load_hash(chosen_key)
if start.userId ~= user_id then return 0 end

local function active(h) return h.status == nil or h.status == 'active' end

local lineage = lineage_of(chosen_key, start, max_hops, mode == 'one')
if lineage == nil then return fenced_need_reply(user_id) end
local live = false
for _, h in pairs(lineage) do live = live or active(h) end
if not live then
  lift_fence(user_id)
  return 0
end

-- What ends, each with its hash: the lineage, or the user's other indexed sessions (each
-- was declared by lineage_of's walk over the index).
local targets = {}
if mode == 'one' then
  for key, h in pairs(lineage) do targets[#targets + 1] = { key, h } end
else
  for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if not lineage[key] and declared(key) then
      local h = load_hash(key)
      if h.userId == user_id then
        may_end_session(user_id, h.deviceId)
        targets[#targets + 1] = { key, h }
      end
    end
  end
  local need = fenced_need_reply(user_id)
  if need then return need end
end

local writes = {}
for _, t in ipairs(targets) do ending_writes(writes, t[1], t[2].userId, t[2].deviceId) end
local refusal = preflight(writes, user_id)
if refusal then return refusal end

local reason = mode == 'one' and 'logout_session' or 'logout_others'
local ended = 0
for _, t in ipairs(targets) do
  local key, h = t[1], t[2]
  if active(h) then ended = ended + 1 end
  end_session(key, h.userId, h.deviceId, reason, h.status)
end
lift_fence(user_id)
return ended
