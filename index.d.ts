// Types of redis-session-store-native. The declarations of the original
// @devcoons/redis-session-store 0.1.0 are kept as they are; what this package adds is
// optional, so code typed against the original compiles unchanged.
//
// Where each type is written: this file for the original's types, the store's options,
// methods, events and metrics; the results of the operator views (and the audit stream)
// are declared where napi generates them from the addon's Rust structs, js-binding.d.ts
// (shipped beside this file), and re-exported here.

export type { AuditEntry, SessionInfo, LineageInfo, KeyspaceStats, MigrationReport } from './js-binding'
import type { AuditEntry, SessionInfo, LineageInfo, KeyspaceStats, MigrationReport } from './js-binding'

export type UserId = string

export interface RefreshIssue {
  rid: string
  /** Absolute expiry of the lineage, epoch seconds. */
  absExp: number
}

export interface VerifyRotateInput {
  rid: string
  deviceId?: string
  uaHash?: string
  ipHash?: string
  /** Epoch seconds (not milliseconds: below 253402300800, the year 10000); non-integers are floored. */
  now: number
}

/** What `gcOrphans` found and did (or, with `dryRun`, would do). */
export interface GCReport {
  scannedUserSets: number
  scannedRids: number
  removedFromSets: number
  addedToSets: number
  deletedRidHashes: number
  /** The same count as `deletedRidHashes`, under the name the original's README uses. */
  removedRids: number
  dryRun?: boolean
}

export interface SessionStore {
  issueInitial(userId: UserId, input: Omit<VerifyRotateInput, 'rid'> & { absTtlSeconds: number }): Promise<RefreshIssue>
  verifyAndRotateRefresh(input: VerifyRotateInput): Promise<{ userId: UserId; newRid: RefreshIssue }>
  tombstoneLineage(rid: string): Promise<void>
  logout(rid: string): Promise<void>
  logoutDevice(userId: string, deviceId: string): Promise<void>
  logoutAll(userId: UserId): Promise<void>
  getRid(rid: string): Promise<Record<string, unknown> | null>
  scanRids(userId: UserId): Promise<string[]>
  gcOrphans(opts?: { dryRun?: boolean; graceSeconds?: number }): Promise<GCReport>
  /** Ends the connection; later calls reject with code `ERR_STORE_CLOSED`. */
  close?(): Promise<void>
  /**
   * Ends the session whose id is `sessionId` (from `listSessions`; the id stays the same
   * across rotations) when it is one of `userId`'s active sessions: its whole lineage, in
   * one script. Resolves to whether a session was ended (`false` for an id of another
   * user's session or of one already ended: nothing changes).
   */
  logoutSession?(userId: UserId, sessionId: string): Promise<boolean>
  /**
   * Ends every active session of `userId` but the one whose id is `keepSessionId`,
   * atomically (a rotation racing it neither ends the kept session nor saves another).
   * Resolves to how many sessions it ended; 0, ending nothing, when `keepSessionId` is
   * not one of the user's active sessions.
   */
  logoutOtherSessions?(userId: UserId, keepSessionId: string): Promise<number>
  /** The active sessions of a user, oldest first, with their fields. Read-only. */
  listSessions?(userId: UserId): Promise<SessionInfo[]>
  /** The whole lineage a rid belongs to (ancestors and descendants), or `null` for an unknown rid. Read-only. */
  inspectLineage?(rid: string): Promise<LineageInfo | null>
  /**
   * The lineage of `userId`'s active session whose id is `sessionId`, or `null` when it is
   * not one of theirs: the lineage view without a token, in both token storages. Read-only.
   */
  inspectSession?(userId: UserId, sessionId: string): Promise<LineageInfo | null>
  /** Sessions by status, users, keys and their memory, under the store's prefix (SCAN + MEMORY USAGE). Read-only. */
  keyspaceStats?(): Promise<KeyspaceStats>
  /** Whether any key of the store's layout exists under its prefix (stops at the first). Read-only. */
  prefixHasKeys?(): Promise<boolean>
  /** `logoutDevice`, resolving to the number of active sessions it ended. */
  logoutDeviceCounted?(userId: UserId, deviceId: string): Promise<number>
  /** `logoutAll`, resolving to the number of active sessions it ended. */
  logoutAllCounted?(userId: UserId): Promise<number>
  /** `gcOrphans`, calling `onProgress` with the running totals after each SCAN page (all before it resolves). */
  gcOrphansWithProgress?(
    opts: { dryRun?: boolean; graceSeconds?: number } | undefined,
    onProgress: (report: GCReport) => void,
  ): Promise<GCReport>
  /**
   * Cluster stores only: copies every session of the deployment's old single node (the
   * original's key layout) into this store. Repeatable; a copied session's status only
   * advances; old rids keep working through an alias for their remaining lifetime.
   */
  migrateFrom?(source: { url: string; prefix?: string; dryRun?: boolean }): Promise<MigrationReport>
  /**
   * The newest entries of the audit stream (`cfg.audit`), newest first, of one user when
   * `userId` is given (required with `cfg.cluster`). `count`: 1 to 10000, default 100.
   */
  readAudit?(opts?: { userId?: UserId; count?: number }): Promise<AuditEntry[]>
  /**
   * Calls `listener` after each call with that outcome settles (on a later turn of the
   * event loop; a listener that throws is reported with `process.emitWarning`). Returns
   * the store. Throws a `TypeError` for an unknown event or a listener that is not a function.
   */
  on?<E extends SessionStoreEventName>(event: E, listener: (payload: SessionStoreEvents[E]) => void): this
  /** Removes a listener added with `on`. */
  off?<E extends SessionStoreEventName>(event: E, listener: (payload: SessionStoreEvents[E]) => void): this
  /** Call counters and latency histograms with `cfg.metrics: true`; `null` otherwise. */
  metrics?(): StoreMetrics | null
  /** The metrics in the Prometheus text exposition format; `""` without `cfg.metrics`. */
  metricsText?(): string
}

/** The payload of each event `on` can listen to. */
export interface SessionStoreEvents {
  issued: { userId: UserId; rid: string; absExp: number; deviceId: string }
  /** A rotation, or an answer within `reuseGraceSeconds` (then `newRid` is the child issued before). */
  rotated: { userId: UserId; rid: string; newRid: RefreshIssue }
  /** A used rid presented again; `revoked` when `onReuse: 'revoke-lineage'` ended its lineage. */
  replay: { rid: string; revoked: boolean }
  binding_mismatch: { rid: string }
  /** A rid past its absolute expiry. */
  expired: { rid: string }
  /** A rid refused and ended by `idleTtlSeconds`. */
  idle: { rid: string }
  /** A session ended to keep its user within `maxSessionsPerUser`. */
  evicted: { userId: UserId; rid: string }
  /** A logout call settled. */
  logout: {
    kind: 'logout' | 'logoutDevice' | 'logoutAll' | 'tombstoneLineage' | 'logoutSession' | 'logoutOtherSessions'
    rid?: string
    userId?: UserId
    deviceId?: string
    sessionId?: string
    keepSessionId?: string
  }
}
export type SessionStoreEventName = keyof SessionStoreEvents

/** `metrics()`: counts by method and outcome (`ok` or the error's code), latency in seconds. */
export interface StoreMetrics {
  calls: Record<string, Record<string, number>>
  latency: Record<string, { buckets: Record<string, number>; sum: number; count: number }>
}

export type Cfg = {
  /** `redis://`, `rediss://` or `unix://` URL, or an absolute socket path. */
  url: string
  /** Key prefix. Default `"auth"`. */
  prefix?: string
  /** Lifetime of a lineage, in seconds (at most 315576000, 10 years), when `issueInitial` is given none. */
  absTtlSeconds: number
  /** How long one Redis command may wait for its reply. Default 2000. */
  commandTimeoutMs?: number
  /** How long one connection attempt may take. Default 2000. */
  connectTimeoutMs?: number
  /**
   * Redis Cluster (and cluster-mode managed Redis): `true` uses `url` as the seed node;
   * `nodes` lists more seeds. Keys then follow the cluster layout (every key of one user
   * in one slot; rids look like `<16 hex digits>.<uuid>`); `prefix` may not contain braces.
   */
  cluster?:
    | true
    | {
        nodes?: string[]
        /**
         * Derives each user's hash tag from HMAC-SHA256(tagSecret, userId) instead of
         * SHA-1 of the userId, so a rid cannot confirm a guessed userId offline. At least
         * 16 bytes. Changing it moves every user to another tag: sessions issued before
         * still rotate, but calls given a userId no longer see them (see the README).
         */
        tagSecret?: string
      }
  /**
   * TLS material as PEM text, with a `rediss://` URL: `ca` is trusted instead of the
   * system's roots; `cert` and `key` (together) are the client certificate for servers
   * that require one; with `sentinel`, for the Sentinels named with `rediss://` too.
   * Without it, the system's roots and `SSL_CERT_FILE` are used.
   */
  tls?: { ca?: string; cert?: string; key?: string }
  /**
   * Find the primary through Redis Sentinel; after a failover the same store finds the
   * new primary by itself. The data nodes' credentials, database and TLS come from `url`,
   * whose host and port are then not used. Not together with `cluster`.
   */
  sentinel?: {
    /** The name the Sentinels monitor the primary under. */
    masterName: string
    /** The Sentinels, as `redis://host:port` or `rediss://host:port` URLs. */
    nodes: string[]
    /** The Sentinels' own user, when they require one. */
    username?: string
    /** The Sentinels' own password, when they require one. */
    password?: string
  }
  /**
   * Replicated writes: after each state change the store sends `WAIT replicas timeoutMs`.
   * When fewer replicas acknowledge in time, the call rejects with code
   * `ERR_NOT_REPLICATED`: the change was applied on the primary and may or may not
   * survive a failover. `timeoutMs` must be less than the command timeout.
   */
  durability?: {
    /** How many replicas must acknowledge each state change: an integer from 1 to 1000. */
    replicas: number
    /** How long to wait for them, in milliseconds. */
    timeoutMs: number
  }
  /**
   * What a used (already rotated) rid presented again does: `'error'` (default) rejects
   * with `rotate_fail:ERR_REPLAY`; `'revoke-lineage'` also ends the rid's whole lineage,
   * in the same script (refresh token reuse detection).
   */
  onReuse?: 'error' | 'revoke-lineage'
  /**
   * Seconds (integer, 0 to 300; default 0) after a rotation during which the same rid,
   * with the same binding, resolves with the child already issued, while that child is
   * active. Stores `rotatedAt` and `childRid` on rotated sessions when set.
   */
  reuseGraceSeconds?: number
  /**
   * Seconds (integer, 1 to 315360000) a rid may go unrotated after its createdAt; then it
   * is refused with `rotate_fail:ERR_IDLE` and ended. `expAt` stores that deadline.
   */
  idleTtlSeconds?: number
  /** Active sessions a user may have (integer, 1 to 10000), enforced when one is issued. */
  maxSessionsPerUser?: number
  /**
   * At `maxSessionsPerUser`: `'evict-oldest'` (default) ends the least recently rotated
   * sessions; `'refuse'` rejects the new one with `rotate_fail:ERR_SESSION_LIMIT`.
   */
  sessionLimitPolicy?: 'evict-oldest' | 'refuse'
  /**
   * Every state change appends an entry to a capped stream (`XADD MAXLEN ~ maxLen`):
   * `{prefix}:audit`, or with `cluster` one per user's slot, `{prefix}:audit:{<tag>}`.
   * `maxLen`: integer, 1 to 100000000.
   */
  audit?: { maxLen: number }
  /** Counts calls and their latency, for `metrics()` and `metricsText()`. Default false. */
  metrics?: boolean
  /**
   * What a routine `gcOrphans` walks. `'keyspace'` (default): every key under the prefix,
   * by `SCAN` (other applications' keys in the database are visited too); nothing extra
   * is stored. `'registry'`: the store's own users, from a set `{prefix}:registry` that
   * the scripts add a user to when they create the user's index and that gc shrinks; the
   * first gc makes one full keyspace pass that also registers the users already there.
   * It then misses session hashes that are in no index (written by the original package
   * or by hand, or without an expiry): run a gc with `'keyspace'` for those. Refused with
   * `cluster` (one registry key cannot be written together with every user's keys).
   */
  gcScope?: 'keyspace' | 'registry'
  /**
   * One OpenTelemetry client span per call, a child of the active context, when
   * `@opentelemetry/api` is installed (an optional peer dependency; without it, nothing
   * happens). Attributes follow the database client conventions (`db.system.name`,
   * `db.operation.name` = the method, `server.address`, `server.port`); a rejection
   * sets `error.type` to the error's code and the status to error. No argument (token,
   * userId, binding) is ever an attribute. Default false.
   */
  tracing?: boolean
  /**
   * How refresh tokens are kept in Redis. `'plain'` (default): as the original keeps them.
   * `'sha256'`: new rids are 32 hex digits (behind the tag with `cluster`) and Redis only
   * ever sees their SHA-256, so nothing a reader of Redis sees works as a token. Sessions
   * issued before keep working either way (see the README).
   */
  tokenStorage?: 'plain' | 'sha256'
}

/** Error codes carried by the `code` property of every error the store rejects with. */
export type SessionStoreErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_NOT_FOUND'
  | 'ERR_EXPIRED_ABS'
  | 'ERR_REPLAY'
  | 'ERR_BINDING'
  | 'ERR_COLLISION'
  | 'ERR_IDLE'
  | 'ERR_SESSION_LIMIT'
  | 'ERR_REDIS_UNAVAILABLE'
  | 'ERR_REDIS_TIMEOUT'
  | 'ERR_REDIS_AUTH'
  | 'ERR_REDIS_CONFIG'
  | 'ERR_REDIS'
  | 'ERR_STORE_CLOSED'
  | 'ERR_NOT_REPLICATED'
  | 'ERR_SERVER_UNSUPPORTED'

export function createRedisStore(cfg: Cfg): SessionStore &
  Required<
    Pick<
      SessionStore,
      | 'close'
      | 'listSessions'
      | 'inspectLineage'
      | 'inspectSession'
      | 'keyspaceStats'
      | 'prefixHasKeys'
      | 'logoutDeviceCounted'
      | 'logoutAllCounted'
      | 'logoutSession'
      | 'logoutOtherSessions'
      | 'gcOrphansWithProgress'
      | 'migrateFrom'
      | 'readAudit'
      | 'on'
      | 'off'
      | 'metrics'
      | 'metricsText'
    >
  >
