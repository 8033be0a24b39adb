// The package's types as a TypeScript user of the installed package sees them: this file
// must compile, and each line marked @ts-expect-error must be an error.
import { createRedisStore, type GCReport } from 'redis-session-store-native'

const store = createRedisStore({ url: 'redis://127.0.0.1:6379', absTtlSeconds: 60 })
export async function typed(): Promise<string> {
  const { rid, absExp } = await store.issueInitial('u', { now: 1, absTtlSeconds: 60 })
  const rotated: { userId: string; newRid: { rid: string; absExp: number } } = await store.verifyAndRotateRefresh({ rid, now: absExp })
  const report: GCReport = await store.gcOrphans({ dryRun: true })
  // @ts-expect-error absTtlSeconds is required by the types
  await store.issueInitial('u', { now: 1 })
  // @ts-expect-error rid must be a string
  await store.verifyAndRotateRefresh({ rid: 1, now: 1 })
  return `${rotated.newRid.rid} ${report.scannedRids}`
}
