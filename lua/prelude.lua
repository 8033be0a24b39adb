-- Shared prelude: the functions every script uses, ahead of each script (see begin below).
-- ARGV[1..5] carry the key layout, so no script hard-codes a key shape:
--   ARGV[1] rid key prefix      ("auth:rid:")
--   ARGV[2] user index prefix   ("auth:user:")
--   ARGV[3] user index suffix   (":rids")
--   ARGV[4] device key prefix   ("auth:device:")
--   ARGV[5] "standalone" (the original's layout) or "cluster", then the store's
--           hardening options when any is set: ";name=value" pairs (see parse_options below)
-- Each script's own arguments start at ARGV[6].
--
-- The cluster layout puts every key of one user in one hash slot: the user's tag (the
-- first 16 hex digits of SHA-1 of the userId) in braces. A rid is "<tag>.<uuid>", so a
-- call given only a rid finds the slot; the tag does not contain the userId.
--   rid key     auth:rid:{<tag>}.<uuid>
--   user index  auth:user:{<tag>}:rids
--   device key  auth:device:{<tag>}:<deviceId>
--   fence       auth:user:{<tag>}:fence   (short-lived; see fence_key below)
-- In that layout a script touches only keys the caller declared in KEYS: it names each
-- key it needs with `declared(key)` before its first write, and when one is missing it
-- writes nothing and returns {'NEED', key...}; the caller calls again with those keys.

-- A script's call state: set by begin(KEYS, ARGV), which every script calls first. The
-- functions below only read it, so they can be defined once: as a function library
-- (FUNCTION LOAD, on servers that have it) they are, and each FCALL only runs begin and
-- the script's body; as a plain script (EVALSHA) the whole text runs on every call.
local RID_PREFIX, USER_PREFIX, USER_SUFFIX, DEVICE_PREFIX, PREFIX
-- gcScope 'registry': the set of user index keys gc walks (else nil). Its member '' says
-- that a full gc pass has registered the users that were there before it.
local REGISTRY
local CLUSTER, OPTIONS, OPTIONS_ARG
local DECLARED, NEEDED, NEEDED_LIST

-- Hardening options; each is off (0 / false) unless the store was configured with it:
--   revoke  a used rid presented again ends its whole lineage      (onReuse)
--   grace   seconds a rotated rid still answers with its child      (reuseGraceSeconds)
--   idle    seconds a rid may go unrotated after its createdAt      (idleTtlSeconds)
--   max     active sessions per user                                (maxSessionsPerUser)
--   refuse  at max, refuse a new session instead of ending the oldest
--   audit   MAXLEN ~ of the audit stream (0: no audit)               (audit.maxLen)
--   hops    the most parent links the reuse revocation's lineage walk follows
--   gcScope 'registry': a user whose index is created is added to the registry   (gcScope)
local function parse_options(arg)
  local mode, text = string.match(arg, '^([^;]*)(.*)$')
  local options = { revoke = false, grace = 0, idle = 0, max = 0, refuse = false, audit = 0, hops = 0 }
  for name, value in string.gmatch(text, ';(%w+)=([^;]*)') do
    if value == 'true' then options[name] = true else options[name] = tonumber(value) or value end
  end
  return mode == 'cluster', options
end

-- With keyed tags (cluster.tagSecret, ';keyed=true' in ARGV[5]) a tag cannot be computed
-- here: it is the hash tag of the call's first key, every key of one call being in the
-- slot of its user.
local CALL_TAG
local function user_tag(user_id)
  if OPTIONS.keyed then return CALL_TAG end
  return string.sub(redis.sha1hex(user_id), 1, 16)
end

local function rid_key(rid)
  if not CLUSTER then return RID_PREFIX .. rid end
  local tag, rest = string.match(rid, '^(' .. string.rep('%x', 16) .. ')%.(.+)$')
  if tag == nil then return RID_PREFIX .. '{' .. rid .. '}' end
  return RID_PREFIX .. '{' .. tag .. '}.' .. rest
end

-- The bare rid of a rid key (the inverse of rid_key), or nil for another key.
local function rid_of_key(key)
  if string.sub(key, 1, #RID_PREFIX) ~= RID_PREFIX then return nil end
  local rest = string.sub(key, #RID_PREFIX + 1)
  if not CLUSTER then return rest end
  local tag, uuid = string.match(rest, '^{(%x+)}%.(.+)$')
  if tag == nil then return nil end
  return tag .. '.' .. uuid
end

local function user_key(user_id)
  if CLUSTER then return USER_PREFIX .. '{' .. user_tag(user_id) .. '}' .. USER_SUFFIX end
  return USER_PREFIX .. user_id .. USER_SUFFIX
end

local function device_key(user_id, device_id)
  if CLUSTER then return DEVICE_PREFIX .. '{' .. user_tag(user_id) .. '}:' .. device_id end
  return DEVICE_PREFIX .. user_id .. ':' .. device_id
end

-- The audit stream: one per store in the original's layout, one per user's slot in the
-- cluster layout.
local function audit_key(user_id)
  if CLUSTER then return PREFIX .. ':audit:{' .. user_tag(user_id) .. '}' end
  return PREFIX .. ':audit'
end


-- Whether the script may touch `key`: always in the original's layout; in the cluster
-- layout only when declared, and otherwise the key is noted for the caller.
local function declared(key)
  if not CLUSTER or DECLARED[key] then return true end
  if not NEEDED[key] then
    NEEDED[key] = true
    NEEDED_LIST[#NEEDED_LIST + 1] = key
  end
  return false
end

-- {'NEED', key...} when a key was missing, else nil.
local function need_reply()
  if #NEEDED_LIST == 0 then return nil end
  local reply = { 'NEED' }
  for _, key in ipairs(NEEDED_LIST) do reply[#reply + 1] = key end
  return reply
end

-- The members of a user's index (session keys), each declared; nil when one was not
-- (need_reply() then names them).
local function declared_members(index)
  local members = redis.call('SMEMBERS', index)
  for _, key in ipairs(members) do declared(key) end
  if #NEEDED_LIST > 0 then return nil end
  return members
end

-- Cluster layout: a user's fence. A call that reads the keys it needs from the data
-- (logoutDevice, tombstoneLineage) sets it when it has to ask for more keys; rotations of
-- that user then wait (answer BUSY, having written nothing) until the call's last round
-- lifts it, so a chain of rotations cannot keep adding sessions the call has not been
-- given. It expires by itself should the caller vanish between two rounds.
local FENCE_TTL_MS = 2000
local function fence_key(user_id) return USER_PREFIX .. '{' .. user_tag(user_id) .. '}:fence' end

local preflight -- the checks before a script's first write, defined below

-- need_reply(), setting the user's fence when keys are missing (and it was declared),
-- once sure it can be lifted again.
local function fenced_need_reply(user_id)
  local need = need_reply()
  if need ~= nil and CLUSTER and DECLARED[fence_key(user_id)] then
    local refusal = preflight({ { 'SET', fence_key(user_id) }, { 'DEL', fence_key(user_id) } })
    if refusal then return refusal end
    redis.call('SET', fence_key(user_id), '1', 'PX', FENCE_TTL_MS)
  end
  return need
end

local function lift_fence(user_id)
  if CLUSTER and DECLARED[fence_key(user_id)] then redis.call('DEL', fence_key(user_id)) end
end

-- Whether the user's fence is up (cluster layout, when declared).
local function fenced(user_id)
  return CLUSTER and DECLARED[fence_key(user_id)] and redis.call('EXISTS', fence_key(user_id)) == 1
end

-- Declares the user's audit stream when audit is on. True when declared (or not needed).
local function may_audit(user_id)
  if OPTIONS.audit <= 0 then return true end
  return declared(audit_key(user_id))
end

-- Declares what ending a session touches: its user's index, when bound its device key,
-- and the audit stream. True when all are declared.
local function may_end_session(user_id, device_id)
  if not CLUSTER then return true end
  local ok = declared(user_key(user_id))
  if device_id ~= nil and device_id ~= '' then ok = declared(device_key(user_id, device_id)) and ok end
  return may_audit(user_id) and ok
end

-- An HGETALL reply as a Lua table.
local function hash_table(flat)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- A hash as a Lua table; an empty table when the key is missing.
local function load_hash(key) return hash_table(redis.call('HGETALL', key)) end

-- A stored epoch-seconds field as a whole number (the original reads them with
-- JavaScript's Number(): "" is 0, anything unparsable is treated as 0 too). Clamped to
-- [0, 2^53 - 1] so that a corrupt value ("1e300", "nan", "-inf") can never make a later
-- EXPIREAT fail half-way through a script.
local MAX_EPOCH = 9007199254740991
local function seconds(value)
  local n = tonumber(value)
  -- The common case, a whole number in range, costs no library call.
  if n ~= nil and n >= 0 and n <= MAX_EPOCH and n % 1 == 0 then return n end
  if n == nil or n ~= n then return 0 end
  return math.max(0, math.min(math.floor(n), MAX_EPOCH))
end

local function fmt(n) return string.format('%d', n) end

-- The server's clock, epoch seconds, read once per script call.
local server_now
local function clock_seconds()
  if server_now == nil then server_now = tonumber(redis.call('TIME')[1]) end
  return server_now
end

-- Appends one entry to the user's audit stream (when audit is on; declared beforehand
-- with may_audit). `fields` holds further field/value pairs, or nil. In the cluster
-- layout each user has a stream of their own, which must not outlive them: its expiry
-- follows the latest expiry of the sessions its entries are about (the store-wide
-- stream of the original's layout is bounded by its MAXLEN alone).
local function audit(event, user_id, key, device_id, reason, fields)
  if OPTIONS.audit <= 0 then return end
  local entry = { 'event', event, 'userId', user_id, 'rid', rid_of_key(key) or key,
    'deviceId', device_id or '', 'reason', reason or '', 'time', fmt(clock_seconds()) }
  for _, v in ipairs(fields or {}) do entry[#entry + 1] = v end
  local stream = audit_key(user_id)
  redis.call('XADD', stream, 'MAXLEN', '~', fmt(OPTIONS.audit), '*', unpack(entry))
  if CLUSTER then
    local session_ttl = redis.call('PTTL', key)
    local stream_ttl = redis.call('PTTL', stream)
    if session_ttl > 0 and (stream_ttl < 0 or stream_ttl < session_ttl) then
      redis.call('EXPIREAT', stream, clock_seconds() + math.ceil(session_ttl / 1000))
    end
  end
end

-- A session's expiry: its absExpAt, or with idleTtlSeconds its idle deadline when that
-- comes first. Redis then removes an idle session by itself, so no view, count or limit
-- can see it as active.
local function session_expiry(created_at, abs_exp_at)
  if OPTIONS.idle > 0 then return math.min(created_at + OPTIONS.idle, abs_exp_at) end
  return abs_exp_at
end

-- Whether a session (a hash as a table) is past its idle deadline at `now`.
local function idle_at(h, now)
  return OPTIONS.idle > 0 and (h.status == nil or h.status == 'active') and now > seconds(h.createdAt) + OPTIONS.idle
end

-- All or nothing. Redis keeps a script's earlier writes when a later command fails, so
-- a script hands every write it is about to make to preflight() before its first one:
-- each command must be allowed to this user on that key (ACL), and a set or stream key
-- must not hold another type. On a refusal the script writes nothing (but lifting the
-- fence it set itself) and returns the refusal as its error; a retry then does the whole
-- change. Reads raise WRONGTYPE on their own before any write, and hashes are read
-- before they are written.
--   ACL_FORMS[command] = { arguments after the key for redis.acl_check_cmd (Redis 7,
--   Valkey), and for servers without it (Redis 6.2) arguments the server refuses as
--   malformed only after its ACL check, so that the probe writes nothing (nil: see
--   NO_OP_PROBES) }
local ACL_FORMS = {
  HSET = { { 'f', 'v' }, { 'f', 'v', 'x' } },
  SET = { { 'v' }, { 'v', 'NOT-AN-OPTION' } },
  EXPIREAT = { { '0' }, { 'not-a-number' } },
  XADD = { { '*', 'f', 'v' }, { 'MAXLEN', 'not-a-number', '*', 'f', 'v' } },
  SADD = { { 'm' } },
  SREM = { { 'm' } },
  DEL = { {} },
}
-- The three writes without a malformed form, probed where the server cannot be asked by
-- calls that change nothing: SREM of a member no set holds, DEL of a key nobody writes,
-- and SADD to such a key, deleted again in the same script (only when DEL is allowed, so
-- that it never stays). Each returns the reply that tells whether the ACL refused it.
local function absent(key) return key .. '\0absent' end
local NO_OP_PROBES = {
  SREM = function(key) return redis.pcall('SREM', key, '\0absent') end,
  DEL = function(key) return redis.pcall('DEL', absent(key)) end,
  SADD = function(key)
    local del = redis.pcall('DEL', absent(key))
    if type(del) == 'table' and del.err then return 0 end
    local reply = redis.pcall('SADD', absent(key), 'm')
    redis.pcall('DEL', absent(key))
    return reply
  end,
}
-- Reads a script makes between its writes: asked the same way, and where the server
-- cannot be asked, made once ahead (a read writes nothing).
local READ_FORMS = { GET = {}, PTTL = {}, TIME = {}, EXISTS = {}, SISMEMBER = { 'm' } }
-- The read that tells a key's type, for the commands that need one.
local TYPE_PROBES = { SADD = 'SCARD', SREM = 'SCARD', XADD = 'XLEN' }

-- The kind of key the ACL is asked about once per command: 1 a session, 2 a user's index,
-- 3 a device key, 4 no key; nil for any other key, which stands for itself.
local function key_kind(key)
  if key == nil then return 4 end
  if string.find(key, RID_PREFIX, 1, true) == 1 then return 1 end
  if string.find(key, USER_PREFIX, 1, true) == 1 then return 2 end
  if string.find(key, DEVICE_PREFIX, 1, true) == 1 then return 3 end
  return nil
end
-- Per kind of key, the commands asked about, each stamped with the number of the
-- preflight call that asked: preflight runs on every call, and this way makes no table and
-- no string for it.
local ASKED, preflights = { {}, {}, {}, {} }, 0

-- Whether the server's ACL refused the probe (the error texts of Redis 6.2 and later, and
-- of Valkey).
local function acl_refusal(err)
  for _, text in ipairs({ 'NOPERM', "can't run", "can't access", 'ACL failure', 'no permissions' }) do
    if string.find(err, text, 1, true) then return true end
  end
  return false
end

-- Fails the script with the error reply `reply` ({err = text}). Redis 6.2, which does not
-- tell scripts its version, takes only a string to error(); later servers pass a table on
-- as the reply itself.
local function raise(reply)
  if redis.REDIS_VERSION_NUM == nil then error(reply.err) end
  error(reply)
end

-- A read that takes a key of another type for a missing one (the error reply is then
-- returned as a table with .err), but never a refusal of the ACL: that is raised, so that
-- a user without the read cannot make a call skip what it should do.
local function tolerant_read(cmd, ...)
  local reply = redis.pcall(cmd, ...)
  if type(reply) == 'table' and reply.err and acl_refusal(reply.err) then raise(reply) end
  return reply
end

-- Whether this user may run `cmd` on `key` (nil: a command without a key): the ACL asked
-- with arguments that change nothing (see ACL_FORMS).
local function may_run(cmd, key)
  if cmd == 'TIME' then
    -- The clock the script reads later anyway: read now instead of asked about.
    local reply = redis.pcall('TIME')
    if reply.err then return false end
    server_now = tonumber(reply[1])
    return true
  end
  local forms = ACL_FORMS[cmd]
  if redis.acl_check_cmd then
    local args = forms and forms[1] or READ_FORMS[cmd]
    if key then return redis.acl_check_cmd(cmd, key, unpack(args)) end
    return redis.acl_check_cmd(cmd, unpack(args))
  end
  local reply
  if NO_OP_PROBES[cmd] then
    reply = NO_OP_PROBES[cmd](key)
  else
    local args = key and { key } or {}
    for _, a in ipairs(READ_FORMS[cmd] or forms[2]) do args[#args + 1] = a end
    reply = redis.pcall(cmd, unpack(args))
  end
  return not (type(reply) == 'table' and reply.err and acl_refusal(reply.err))
end

-- `writes`: a list of {command, key}, or {command, key, true} when the script's first
-- write, made on the same key right after preflight, already fails on a key of another
-- type (so its type is not asked). Returns nil when all can succeed, else an error reply.
-- The ACL is asked once per command and kind of key (session, index, device key, another
-- key), the type once per key.
function preflight(writes, user_id)
  local others, typed = nil, nil
  preflights = preflights + 1
  for i = 1, #writes do
    local w = writes[i]
    local cmd, key = w[1], w[2]
    local probe = not w[3] and TYPE_PROBES[cmd]
    if probe and not (typed and typed[key]) then
      typed = typed or {}
      typed[key] = true
      local reply = redis.pcall(probe, key)
      if type(reply) == 'table' and reply.err then
        if user_id then lift_fence(user_id) end
        if acl_refusal(reply.err) then
          return redis.error_reply('NOPERM the store may not read ' .. key .. ' (' .. probe .. '); nothing was written')
        end
        return redis.error_reply('WRONGTYPE ' .. key .. ' holds a value of another type than the store keeps there; nothing was written')
      end
    end
    local kind, fresh = key_kind(key), nil
    if kind then
      fresh = ASKED[kind][cmd] ~= preflights
      ASKED[kind][cmd] = preflights
    else
      others = others or {}
      local name = cmd .. '\0' .. key
      fresh = not others[name]
      others[name] = true
    end
    if fresh then
      if not may_run(cmd, key) then
        if user_id then lift_fence(user_id) end
        return redis.error_reply('NOPERM the store may not run ' .. cmd .. (key and (' on ' .. key) or '') .. '; nothing was written')
      end
    end
  end
  return nil
end

-- What appending an audit entry about the session at `key` does (see audit), for
-- preflight; `writes` gets them added and is returned.
local function audit_writes(writes, user_id, key)
  if OPTIONS.audit <= 0 then return writes end
  local stream = audit_key(user_id)
  writes[#writes + 1] = { 'XADD', stream }
  writes[#writes + 1] = { 'TIME' }
  if CLUSTER then
    writes[#writes + 1] = { 'PTTL', key }
    writes[#writes + 1] = { 'PTTL', stream }
    writes[#writes + 1] = { 'EXPIREAT', stream }
  end
  return writes
end

-- What adding to a user's index does (see index_add), for preflight. A refused or failed
-- first write leaves nothing written, so a script that makes one on the index says which:
-- `first` 'SADD' (index_add is the script's first write: its reads come before it, and
-- only the EXPIREAT after it is checked) or 'SREM' (the index's type is then known).
-- `ttl_ms`: the index's PTTL, when the script read it before any write (it then
-- hands the same value to index_add); the registry is then asked about only for a new
-- index, the only kind index_add registers. Without it, a write made earlier in the
-- script may have emptied the index, so the registry is asked about anyway.
local function index_writes(writes, index, first, ttl_ms)
  if REGISTRY and (ttl_ms == nil or ttl_ms == -2) then writes[#writes + 1] = { 'SADD', REGISTRY } end
  if first ~= 'SADD' then
    writes[#writes + 1] = { 'SADD', index, first == 'SREM' }
    writes[#writes + 1] = { 'PTTL', index }
    if redis.REDIS_VERSION_NUM == nil then writes[#writes + 1] = { 'TIME' } end
  end
  writes[#writes + 1] = { 'EXPIREAT', index }
  return writes
end

-- What ending a session does (see end_session), for preflight.
local function ending_writes(writes, key, user_id, device_id)
  writes[#writes + 1] = { 'HSET', key }
  writes[#writes + 1] = { 'SREM', user_key(user_id) }
  if device_id ~= nil and device_id ~= '' then
    writes[#writes + 1] = { 'GET', device_key(user_id, device_id) }
    writes[#writes + 1] = { 'DEL', device_key(user_id, device_id) }
  end
  return audit_writes(writes, user_id, key)
end

-- Adds a session to its user's index. The index's expiry only ever grows, so a
-- short-lived session never makes the index vanish before a longer one; an index without
-- expiry keeps none. From Redis 7 (and on Valkey), which tell scripts their version,
-- EXPIREAT ... GT moves the expiry only later; Redis 6.2 compares the server's clock plus
-- PTTL itself.
-- Its reads come before its SADD, so that it can be a script's first write. `ttl_ms`: the
-- index's PTTL when the script read it already (see index_writes).
local function index_add(set_key, member, abs_exp_at, ttl_ms)
  ttl_ms = ttl_ms or redis.call('PTTL', set_key) -- -2: no index yet; -1: one without expiry
  local expires_at -- Redis 6.2: the index's expiry, from the server's clock
  if ttl_ms >= 0 and redis.REDIS_VERSION_NUM == nil then
    local clock = redis.call('TIME')
    expires_at = math.floor((tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) + ttl_ms) / 1000)
  end
  redis.call('SADD', set_key, member)
  if ttl_ms == -2 then
    redis.call('EXPIREAT', set_key, abs_exp_at)
    if REGISTRY then redis.call('SADD', REGISTRY, set_key) end
  elseif expires_at ~= nil then
    if expires_at < abs_exp_at then redis.call('EXPIREAT', set_key, abs_exp_at) end
  elseif ttl_ms >= 0 then
    redis.call('EXPIREAT', set_key, abs_exp_at, 'GT')
  end
end

-- Device key values read during this script call (false: missing; the table is made on
-- first use). Sessions of one device share a device key, so a batch reads each key once;
-- only the functions below write device keys while one is cached.
local device_targets

-- Ends one session that is already out of its user's index: status tombstoned, and its
-- device key deleted when that key still points at it. With a `reason`, a session that
-- was not already tombstoned (its `status` before) gets an 'ended' audit entry.
local function end_unindexed_session(key, user_id, device_id, reason, status)
  if reason and status ~= 'tombstoned' then audit('ended', user_id, key, device_id, reason) end
  redis.call('HSET', key, 'status', 'tombstoned')
  if device_id ~= nil and device_id ~= '' then
    local dkey = device_key(user_id, device_id)
    device_targets = device_targets or {}
    if device_targets[dkey] == nil then
      -- A device key of another type names no session (and must not fail the script).
      local target = tolerant_read('GET', dkey)
      device_targets[dkey] = type(target) == 'string' and target
    end
    if device_targets[dkey] == key then
      redis.call('DEL', dkey)
      device_targets[dkey] = false
    end
  end
end

-- Ends one session: as above, and out of its user's index.
local function end_session(key, user_id, device_id, reason, status)
  redis.call('SREM', user_key(user_id), key)
  end_unindexed_session(key, user_id, device_id, reason, status)
end

-- The lineage the session at `start_key` (hash `start`) belongs to: the session, its
-- ancestors (through parentRid) and all its descendants, the active one included.
-- Returns a table key -> hash and, when the walk up stopped at a parent that is gone (or
-- belongs to another user), that parent's rid; or nil when the walk needs keys not
-- declared yet (cluster layout; they are noted for need_reply). Reads only. With
-- `ending`, it also declares what ending each session touches (see may_end_session).
-- Descendants are found from the user's index: the active end of any lineage is indexed,
-- and walking up from it reaches the start when it belongs to this lineage. This needs no
-- child pointers, so it works on lineages the original wrote too. A key of another type
-- reads as a missing session, so corrupt data cannot fail the walk.
local function lineage_of(start_key, start, max_hops, ending)
  local hashes = { [start_key] = start } -- every hash loaded, by key
  local lineage = { [start_key] = true }  -- keys known to be in the lineage
  local outside = {}                      -- keys known not to be
  local complete = true

  local function parent_of(h)
    if h.parentRid == nil or h.parentRid == '' then return nil end
    return rid_key(h.parentRid)
  end

  -- The hash at key, or nil when the key is not declared yet (cluster layout).
  local function hash_of(key)
    if hashes[key] == nil then
      if not declared(key) then
        complete = false
        return nil
      end
      local flat = tolerant_read('HGETALL', key)
      hashes[key] = flat.err and {} or hash_table(flat)
    end
    return hashes[key]
  end

  -- Ancestors.
  local key, hops, missing_parent, youngest = parent_of(start), 0, nil, start
  while key and hops < max_hops and not lineage[key] do
    local h = hash_of(key)
    if h == nil then break end
    if h.userId ~= start.userId then
      missing_parent = youngest.parentRid
      break
    end
    lineage[key] = true
    key, hops, youngest = parent_of(h), hops + 1, h
  end

  -- Descendants: walk up from each indexed session until the walk meets the lineage
  -- (the whole path belongs to it) or leaves it.
  local index = user_key(start.userId)
  if declared(index) then
    for _, member in ipairs(redis.call('SMEMBERS', index)) do
      local path, at, steps = {}, member, 0
      while at and not lineage[at] and not outside[at] and steps <= max_hops do
        local h = hash_of(at)
        if h == nil or h.userId ~= start.userId then break end
        path[#path + 1] = at
        at, steps = parent_of(h), steps + 1
      end
      local joined = at ~= nil and lineage[at] == true
      for _, k in ipairs(path) do
        if joined then lineage[k] = true else outside[k] = true end
      end
    end
  else
    complete = false
  end

  local members = {}
  for k in pairs(lineage) do
    members[k] = hashes[k]
    if ending and not may_end_session(hashes[k].userId, hashes[k].deviceId) then complete = false end
  end
  if not complete then return nil end
  return members, missing_parent
end

-- Ends every session of a lineage found by lineage_of; returns how many.
local function end_lineage(members, reason)
  local ended = 0
  for k, h in pairs(members) do
    end_session(k, h.userId, h.deviceId, reason, h.status)
    ended = ended + 1
  end
  return ended
end

-- Starts a script call: the layout and options from ARGV[1..5], the declared keys, and
-- empty per-call caches. What derives from the prefix and the options is worked out again
-- only when they change (a function library serves every store on the server); begin runs
-- on every call, so it builds no string and no table it can keep.
local NOTHING_DECLARED = {} -- the original's layout declares nothing (never written)
local function begin(keys, argv)
  USER_PREFIX, USER_SUFFIX, DEVICE_PREFIX = argv[2], argv[3], argv[4]
  if argv[1] ~= RID_PREFIX or argv[5] ~= OPTIONS_ARG then
    RID_PREFIX, OPTIONS_ARG = argv[1], argv[5]
    PREFIX = string.sub(RID_PREFIX, 1, #RID_PREFIX - #':rid:')
    CLUSTER, OPTIONS = parse_options(OPTIONS_ARG)
    REGISTRY = OPTIONS.gcScope == 'registry' and PREFIX .. ':registry' or nil
  end
  if CLUSTER then
    DECLARED, NEEDED, NEEDED_LIST = {}, {}, {}
    for _, key in ipairs(keys) do DECLARED[key] = true end
    CALL_TAG = OPTIONS.keyed and keys[1] and string.match(keys[1], '{([^}]*)}')
  else
    DECLARED, NEEDED, NEEDED_LIST = NOTHING_DECLARED, NOTHING_DECLARED, NOTHING_DECLARED
  end
  server_now, device_targets = nil, nil
end
