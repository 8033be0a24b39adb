// Type-level proof that this package is a drop-in for @devcoons/redis-session-store
// 0.1.0: compiled by `tsc --noEmit --strict -p __test__/types` from __test__/drop-in/types.test.mjs.
// Every check is a type that fails to compile when the claim is false; the negative
// cases in types.test.mjs show that each kind of check can fail.

import type * as O from '../../node_modules/@devcoons/redis-session-store/src/types'
import type { createRedisStore as originalCreateRedisStore } from '../../node_modules/@devcoons/redis-session-store/src/store'
import type * as N from '../../index'
import { createRedisStore } from '../../index'
import type { Assert, Equals, Assignable, ReadmeGCReport } from './util'

// --- the exported names the original declares are the same types -------------------
export type CheckUserId = Assert<Equals<N.UserId, O.UserId>>
export type CheckRefreshIssue = Assert<Equals<N.RefreshIssue, O.RefreshIssue>>
export type CheckVerifyRotateInput = Assert<Equals<N.VerifyRotateInput, O.VerifyRotateInput>>

// --- the factory: the original's cfg is accepted, the result is an original store ----
type OriginalCfg = Parameters<typeof originalCreateRedisStore>[0]
type NativeStore = ReturnType<typeof createRedisStore>
export type CheckCfgAccepted = Assert<Assignable<OriginalCfg, Parameters<typeof createRedisStore>[0]>>
export type CheckStoreAssignable = Assert<Assignable<NativeStore, O.SessionStore>>
export type CheckStoreInterfaceAssignable = Assert<Assignable<N.SessionStore, O.SessionStore>>

// The same, as code a user of the original writes.
declare const cfg: OriginalCfg
const store: O.SessionStore = createRedisStore(cfg)
export const useOfStore: (s: O.SessionStore) => Promise<string> = async (s) =>
  (await s.issueInitial('u', { now: 1, absTtlSeconds: 60, deviceId: 'd' })).rid
void useOfStore(store)
void useOfStore(createRedisStore({ url: 'redis://127.0.0.1:6379', prefix: 'auth', absTtlSeconds: 60 }))

// --- every method: the original's parameters are accepted, results are the same -------
type Method = keyof O.SessionStore
export type CheckNoMethodMissing = Assert<Equals<Exclude<Method, keyof NativeStore>, never>>

type ParamsAccepted = {
  [K in Method]: Assignable<Parameters<O.SessionStore[K]>, Parameters<NativeStore[K]>>
}
type ParamsSame = {
  [K in Method]: Equals<Parameters<O.SessionStore[K]>, Parameters<NativeStore[K]>>
}
type ResultsSame = {
  [K in Exclude<Method, 'gcOrphans'>]: Equals<Awaited<ReturnType<O.SessionStore[K]>>, Awaited<ReturnType<NativeStore[K]>>>
}
export type CheckParamsAccepted = Assert<Equals<ParamsAccepted[Method], true>>
export type CheckParamsSame = Assert<Equals<ParamsSame[Method], true>>
export type CheckResultsSame = Assert<Equals<ResultsSame[Exclude<Method, 'gcOrphans'>], true>>
export type CheckResultsArePromises = Assert<Equals<{
  [K in Method]: ReturnType<NativeStore[K]> extends Promise<unknown> ? true : false
}[Method], true>>

// Spelled out per method as well, so a failure names the method.
export type CheckIssueParams = Assert<Assignable<Parameters<O.SessionStore['issueInitial']>, Parameters<NativeStore['issueInitial']>>>
export type CheckIssueResult = Assert<Equals<Awaited<ReturnType<NativeStore['issueInitial']>>, O.RefreshIssue>>
export type CheckRotateParams = Assert<Assignable<Parameters<O.SessionStore['verifyAndRotateRefresh']>, Parameters<NativeStore['verifyAndRotateRefresh']>>>
export type CheckRotateResult = Assert<Equals<Awaited<ReturnType<NativeStore['verifyAndRotateRefresh']>>, { userId: O.UserId; newRid: O.RefreshIssue }>>
export type CheckTombstoneParams = Assert<Assignable<Parameters<O.SessionStore['tombstoneLineage']>, Parameters<NativeStore['tombstoneLineage']>>>
export type CheckTombstoneResult = Assert<Equals<Awaited<ReturnType<NativeStore['tombstoneLineage']>>, void>>
export type CheckLogoutParams = Assert<Assignable<Parameters<O.SessionStore['logout']>, Parameters<NativeStore['logout']>>>
export type CheckLogoutResult = Assert<Equals<Awaited<ReturnType<NativeStore['logout']>>, void>>
export type CheckLogoutDeviceParams = Assert<Assignable<Parameters<O.SessionStore['logoutDevice']>, Parameters<NativeStore['logoutDevice']>>>
export type CheckLogoutDeviceResult = Assert<Equals<Awaited<ReturnType<NativeStore['logoutDevice']>>, void>>
export type CheckLogoutAllParams = Assert<Assignable<Parameters<O.SessionStore['logoutAll']>, Parameters<NativeStore['logoutAll']>>>
export type CheckLogoutAllResult = Assert<Equals<Awaited<ReturnType<NativeStore['logoutAll']>>, void>>
export type CheckGetRidParams = Assert<Assignable<Parameters<O.SessionStore['getRid']>, Parameters<NativeStore['getRid']>>>
export type CheckGetRidResult = Assert<Equals<Awaited<ReturnType<NativeStore['getRid']>>, Record<string, unknown> | null>>
export type CheckScanRidsParams = Assert<Assignable<Parameters<O.SessionStore['scanRids']>, Parameters<NativeStore['scanRids']>>>
export type CheckScanRidsResult = Assert<Equals<Awaited<ReturnType<NativeStore['scanRids']>>, string[]>>
export type CheckGcParams = Assert<Assignable<Parameters<O.SessionStore['gcOrphans']>, Parameters<NativeStore['gcOrphans']>>>
export type CheckGcNoArgs = Assert<Assignable<[], Parameters<NativeStore['gcOrphans']>>>

// --- GCReport: a superset of the original's interface and of the README's shape -------
type NativeGCReport = Awaited<ReturnType<NativeStore['gcOrphans']>>
export type CheckGcReportNamed = Assert<Equals<NativeGCReport, N.GCReport>>
export type CheckGcReportOriginal = Assert<Assignable<NativeGCReport, O.GCReport>>
export type CheckGcReportReadme = Assert<Assignable<NativeGCReport, ReadmeGCReport>>
export type CheckGcReportFields = Assert<Equals<Exclude<keyof O.GCReport | keyof ReadmeGCReport, keyof NativeGCReport>, never>>

// --- additions are optional only: an object built to the original's interface alone
// is a valid SessionStore of this package too.
export type CheckAdditionsOptional = Assert<Assignable<O.SessionStore, Omit<N.SessionStore, 'gcOrphans'>>>

// --- calls as a user of the original writes them, object literals included (excess
// property checks apply to literals only).
export async function callsAsWritten(s: NativeStore): Promise<void> {
  const issued = await s.issueInitial('user-1', { now: 1, absTtlSeconds: 60, deviceId: 'd', uaHash: 'u', ipHash: 'i' })
  const bare = await s.issueInitial('user-1', { now: 1, absTtlSeconds: 60 })
  const rotated = await s.verifyAndRotateRefresh({ rid: issued.rid, deviceId: 'd', uaHash: 'u', ipHash: 'i', now: 2 })
  const userId: O.UserId = rotated.userId
  const absExp: number = rotated.newRid.absExp + bare.absExp
  await s.tombstoneLineage(rotated.newRid.rid)
  await s.logout(bare.rid)
  await s.logoutDevice(userId, 'd')
  await s.logoutAll(userId)
  const hash: Record<string, unknown> | null = await s.getRid(issued.rid)
  const rids: string[] = await s.scanRids(userId)
  const report: O.GCReport = await s.gcOrphans({ dryRun: true, graceSeconds: 60 })
  const readme: ReadmeGCReport = await s.gcOrphans()
  void [absExp, hash, rids, report, readme]
}
