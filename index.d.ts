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

export function createRedisStore(cfg: Cfg): SessionStore &
  Required<Pick<SessionStore, 'close' | 'listSessions' | 'inspectLineage' | 'keyspaceStats' | 'prefixHasKeys' | 'gcOrphansWithProgress'>>
