// The Redis ACL rules the store needs, written once: SCALING.md shows them and
// __test__/acl.test.mjs runs the store as a user with exactly these and nothing else.

/** Commands by feature. `store` is every method (gcOrphans included); the others add to it. */
export const ACL_COMMANDS = {
  // The scripts (EVALSHA; SCRIPT LOAD when the server does not have them yet; EVAL when
  // the script cache is flushed again before a reload is retried), the commands they
  // call, getRid's HGETALL and gcOrphans' SCAN.
  store: [
    '+evalsha',
    '+script|load',
    '+eval',
    '+hgetall',
    '+hset',
    '+hmget',
    '+exists',
    '+del',
    '+expireat',
    '+pttl',
    '+time',
    '+sadd',
    '+srem',
    '+smembers',
    '+sismember',
    '+scard',
    '+spop',
    '+get',
    '+set',
    '+scan',
    // The server check at a connection's first use (version, and that no needed command
    // is renamed or disabled); refused, it is skipped, and the server logs the denial.
    '+info',
    '+command|info',
  ],
  // Redis 7 and Valkey (a server with functions): the scripts as the store's function
  // library (FCALL; FUNCTION LOAD when the server does not have it yet). Redis 6.2 refuses
  // a rule naming these. Without them the store falls back to EVALSHA after the server
  // logs one refusal.
  functions: ['+fcall', '+function|load'],
  // listSessions, inspectLineage, keyspaceStats.
  operator: ['+type', '+memory|usage'],
  // cfg.durability.
  durability: ['+wait'],
  // cfg.sentinel, on the data nodes: the lookup asks the named primary for its ROLE.
  sentinel: ['+role'],
  // cfg.cluster: the slot map, ASK redirects, and the reads the cluster layout makes
  // outside scripts (parent chains, logoutAll's batches).
  cluster: ['+cluster|slots', '+asking', '+hget', '+srandmember'],
}

/**
 * The rule for the user the store logs in to the Sentinels with (cfg.sentinel.username):
 * it checks that a node is a Sentinel (ROLE), asks for the primaries and listens for
 * failovers.
 */
export const SENTINEL_USER_RULE = 'resetkeys resetchannels &+switch-master -@all +role +sentinel|masters +subscribe'

/** The commands that only a rare path needs, which a test cannot provoke on demand. */
export const RARE_PATH_COMMANDS = ['+eval']

/** Commands only a server older than Redis 7 needs (TIME, for the index expiry check that
 * Redis 7 does with EXPIREAT ... GT), unless audit is on (its entries read the clock). */
export const BEFORE_REDIS_7_COMMANDS = ['+time']

/** The commands of the scripts' EVALSHA path: on a server with functions, the store uses
 * them only when it may not use functions (a user without the functions addition). */
export const EVALSHA_PATH_COMMANDS = ['+evalsha', '+script|load']

/** The ACL rule (the part after `ACL SETUSER name on >password`) for `prefix` and features. */
export function aclRule(prefix, features = []) {
  const commands = ['store', ...features].flatMap((feature) => ACL_COMMANDS[feature])
  return `resetkeys ~${prefix}:* resetchannels -@all ${commands.join(' ')}`
}
