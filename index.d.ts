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
  /** Epoch seconds; non-integers are floored. */
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
}

export type Cfg = {
  /** `redis://`, `rediss://` or `unix://` URL, or an absolute socket path. */
  url: string
  /** Key prefix. Default `"auth"`. */
  prefix?: string
  /** Lifetime of a lineage, in seconds, when `issueInitial` is given none. */
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
  | 'ERR_REDIS'
  | 'ERR_STORE_CLOSED'

export function createRedisStore(cfg: Cfg): SessionStore & { close(): Promise<void> }
