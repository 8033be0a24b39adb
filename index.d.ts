// Types of redis-session-store-native. The declarations of the original
// @devcoons/redis-session-store 0.1.0 are kept as they are; what this package adds is
// optional, so code typed against the original compiles unchanged.

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
  /** The active sessions of a user, oldest first, with their fields. Read-only. */
  listSessions?(userId: UserId): Promise<SessionInfo[]>
  /** The whole lineage a rid belongs to (ancestors and descendants), or `null` for an unknown rid. Read-only. */
  inspectLineage?(rid: string): Promise<LineageInfo | null>
  /** Sessions by status, users, keys and their memory, under the store's prefix (SCAN + MEMORY USAGE). Read-only. */
  keyspaceStats?(): Promise<KeyspaceStats>
  /** Whether any key of the store's layout exists under its prefix (stops at the first). Read-only. */
  prefixHasKeys?(): Promise<boolean>
  /** `gcOrphans`, calling `onProgress` with the running totals after each SCAN page. */
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
}

/** What `migrateFrom` did (or, with `dryRun`, found). */
export interface MigrationReport {
  /** Rid hashes read on the old node. */
  scanned: number
  /** Sessions written to the cluster for the first time. */
  copied: number
  /** Sessions copied before whose status advanced since (e.g. logged out on the old node). */
  advanced: number
  /** Sessions copied before and unchanged. */
  unchanged: number
  /** Hashes not copied: no userId, or past their absolute expiry. */
  skipped: number
  dryRun: boolean
}

/** One session as stored: `{prefix}:rid:{rid}`'s fields, epoch seconds as numbers. */
export interface SessionInfo {
  rid: string
  userId: string
  /** `""` for the first session of a lineage. */
  parentRid: string
  createdAt: number
  expAt: number
  absExpAt: number
  deviceId: string
  uaHash: string
  ipHash: string
  /** `active`, `used` or `tombstoned`. */
  status: string
}

/** A lineage: every session still in Redis, oldest first in tree order (follow `parentRid`). */
export interface LineageInfo {
  userId: string
  /** The rid that was asked about. */
  rid: string
  sessions: SessionInfo[]
  /** The oldest session's `parentRid` when that parent's hash is gone (expired or collected). */
  missingParent?: string
  /** Whether the user's rid keys had to be found with SCAN (descendants no longer indexed). */
  scanned: boolean
}

/** Keys under the store's prefix; sizes in bytes as `MEMORY USAGE` reports them. */
export interface KeyspaceStats {
  /** Rid hashes by status; `(no userId)` counts hashes gc would delete. */
  sessionsByStatus: Record<string, number>
  ridKeys: number
  ridBytes: number
  /** User index sets: users with at least one indexed session. */
  userKeys: number
  userBytes: number
  indexedMembers: number
  deviceKeys: number
  deviceBytes: number
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
  cluster?: true | { nodes: string[] }
  /**
   * TLS material as PEM text, with a `rediss://` URL: `ca` is trusted instead of the
   * system's roots; `cert` and `key` (together) are the client certificate for servers
   * that require one. Without it, the system's roots and `SSL_CERT_FILE` are used.
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
}

/** Error codes carried by the `code` property of every error the store rejects with. */
export type SessionStoreErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_NOT_FOUND'
  | 'ERR_EXPIRED_ABS'
  | 'ERR_REPLAY'
  | 'ERR_BINDING'
  | 'ERR_COLLISION'
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
      'close' | 'listSessions' | 'inspectLineage' | 'keyspaceStats' | 'prefixHasKeys' | 'gcOrphansWithProgress' | 'migrateFrom'
    >
  >
