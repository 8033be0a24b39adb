-- Shared prelude, prepended to every script at compile time.
-- ARGV[1..4] carry the key layout, so no script hard-codes a key shape:
--   ARGV[1] rid key prefix      ("auth:rid:")
--   ARGV[2] user index prefix   ("auth:user:")
--   ARGV[3] user index suffix   (":rids")
--   ARGV[4] device key prefix   ("auth:device:")
-- Each script's own arguments start at ARGV[5].

local RID_PREFIX, USER_PREFIX, USER_SUFFIX, DEVICE_PREFIX = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function rid_key(rid) return RID_PREFIX .. rid end
local function user_key(user_id) return USER_PREFIX .. user_id .. USER_SUFFIX end
local function device_key(user_id, device_id) return DEVICE_PREFIX .. user_id .. ':' .. device_id end

-- A hash as a Lua table; an empty table when the key is missing.
local function load_hash(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- A stored epoch-seconds field as a whole number (the original reads them with
-- JavaScript's Number(): "" is 0, anything unparsable is treated as 0 too). Clamped to
-- [0, 2^53 - 1] so that a corrupt value ("1e300", "nan", "-inf") can never make a later
-- EXPIREAT fail half-way through a script.
local MAX_EPOCH = 9007199254740991
local function seconds(value)
  local n = tonumber(value)
  if n == nil or n ~= n then return 0 end
  return math.max(0, math.min(math.floor(n), MAX_EPOCH))
end

local function fmt(n) return string.format('%d', n) end

-- Adds a session to its user's index. The index's expiry only ever grows, so a
-- short-lived session never makes the index vanish before a longer one.
-- The index's expiry time is read as the server's clock plus PTTL (EXPIRETIME would
-- need Redis 7); an index without expiry keeps none.
local function index_add(set_key, member, abs_exp_at)
  local fresh = redis.call('EXISTS', set_key) == 0
  redis.call('SADD', set_key, member)
  if fresh then
    redis.call('EXPIREAT', set_key, abs_exp_at)
    return
  end
  local ttl_ms = redis.call('PTTL', set_key)
  if ttl_ms >= 0 then
    local clock = redis.call('TIME')
    local expires_at = math.floor((tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) + ttl_ms) / 1000)
    if expires_at < abs_exp_at then redis.call('EXPIREAT', set_key, abs_exp_at) end
  end
end

-- Device key values read during this script call (false: missing). Sessions of one
-- device share a device key, so a batch reads each key once; only the functions below
-- write device keys while one is cached.
local device_targets = {}

-- Ends one session that is already out of its user's index: status tombstoned, and its
-- device key deleted when that key still points at it.
local function end_unindexed_session(key, user_id, device_id)
  redis.call('HSET', key, 'status', 'tombstoned')
  if device_id ~= nil and device_id ~= '' then
    local dkey = device_key(user_id, device_id)
    if device_targets[dkey] == nil then device_targets[dkey] = redis.call('GET', dkey) end
    if device_targets[dkey] == key then
      redis.call('DEL', dkey)
      device_targets[dkey] = false
    end
  end
end

-- Ends one session: as above, and out of its user's index.
local function end_session(key, user_id, device_id)
  redis.call('SREM', user_key(user_id), key)
  end_unindexed_session(key, user_id, device_id)
end
