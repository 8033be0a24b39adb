// The read-only operator views on the store object (listSessions, inspectLineage,
// keyspaceStats, gcOrphansWithProgress) against a real Redis, through index.js.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { createRedisStore } from '../../index.mjs'
import { redisUrl, uniquePrefix, rawClient, dump, nowSeconds, storeConfig, keys, sleep } from '../shared/helpers.mjs'

await redisUrl()
const stores = []
after(() => Promise.all(stores.map((s) => s.close())))

/** A session's id as the store derives it from its lineage's first rid (stored name). */
const sessionIdOf = (rid) => createHash('sha256').update(`session-id\0${rid}`).digest('hex').slice(0, 40)

/**
 * What listSessions lists for an active session of alice's issued with absTtlSeconds 3600,
 * no ua or ip hash and no idle deadline: its rid was created at the lineage's last
 * rotation, and it expires at the lineage's absolute expiry.
 */
function listedOfAlice({ rid, parentRid, deviceId, signedInAt, lastRotatedAt, firstRid }) {
  const absExpAt = signedInAt + 3600
  return {
    rid,
    userId: 'alice',
    parentRid,
    createdAt: lastRotatedAt,
    expAt: absExpAt,
    absExpAt,
    deviceId,
    uaHash: '',
    ipHash: '',
    status: 'active',
    signedInAt,
    lastRotatedAt,
    sessionId: sessionIdOf(firstRid),
  }
}

function store(name) {
  const prefix = uniquePrefix(name)
  const s = createRedisStore(storeConfig({ prefix, absTtlSeconds: 3600 }))
  stores.push(s)
  return { s, prefix }
}

test('listSessions, inspectLineage and keyspaceStats read what the store wrote, and write nothing', async () => {
  const { s, prefix } = store('views-read')
  const redis = await rawClient()
  const t = nowSeconds()
  const a = await s.issueInitial('alice', { now: t - 100, deviceId: 'laptop', absTtlSeconds: 3600 })
  const a1 = (await s.verifyAndRotateRefresh({ rid: a.rid, now: t - 50, deviceId: 'laptop' })).newRid
  const b = await s.issueInitial('alice', { now: t - 10, deviceId: 'phone', absTtlSeconds: 3600 })
  const before = await dump(redis, prefix)

  const listed = await s.listSessions('alice')
  assert.deepEqual(listed, [
    // The lineage's id is from its first session's rid: the same after every rotation.
    listedOfAlice({ rid: a1.rid, parentRid: a.rid, deviceId: 'laptop', signedInAt: t - 100, lastRotatedAt: t - 50, firstRid: a.rid }),
    listedOfAlice({ rid: b.rid, parentRid: '', deviceId: 'phone', signedInAt: t - 10, lastRotatedAt: t - 10, firstRid: b.rid }),
  ])

  const lineage = await s.inspectLineage(a1.rid)
  assert.equal(lineage.userId, 'alice')
  assert.equal(lineage.rid, a1.rid)
  assert.equal(lineage.scanned, false)
  assert.equal(lineage.missingParent, undefined)
  assert.deepEqual(
    lineage.sessions.map((x) => [x.rid, x.status, x.parentIndex]),
    [
      [a.rid, 'used', undefined],
      [a1.rid, 'active', 0],
    ],
  )
  assert.deepEqual((await s.inspectLineage(a.rid)).sessions, lineage.sessions, 'the same lineage from its other end')
  assert.equal(await s.inspectLineage('unknown'), null)

  const stats = await s.keyspaceStats()
  assert.deepEqual(stats.sessionsByStatus, { active: 2, used: 1 })
  assert.deepEqual([stats.ridKeys, stats.userKeys, stats.indexedMembers, stats.deviceKeys], [3, 1, 2, 2])
  assert.ok(stats.ridBytes > 0 && stats.userBytes > 0 && stats.deviceBytes > 0)

  assert.deepEqual(await dump(redis, prefix), before, 'the views write nothing')
})

test('bad arguments reject with a TypeError, never throw', async () => {
  const { s } = store('views-args')
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const calls = [
    () => s.listSessions(''),
    () => s.listSessions(42),
    () => s.inspectLineage(undefined),
    () => s.inspectLineage('x'.repeat(1025)),
    () => s.gcOrphansWithProgress({ dryRun: 'yes' }, () => {}),
    () => s.gcOrphansWithProgress({}, 'not a function'),
    () => s.gcOrphansWithProgress(revoked.proxy, () => {}),
  ]
  for (const call of calls) {
    let promise
    assert.doesNotThrow(() => (promise = call()))
    await assert.rejects(promise, (err) => err instanceof TypeError, String(call))
  }
  const err = await s.listSessions('').catch((e) => e)
  assert.equal(err.code, 'ERR_INVALID_ARG')
  assert.match(err.message, /^userId must be a non-empty string/)
})

test('gcOrphansWithProgress reports running totals, all before it resolves to the same report as gcOrphans', async () => {
  const { s, prefix } = store('views-gc')
  const k = keys(prefix)
  const redis = await rawClient()
  const t = nowSeconds()
  for (let i = 0; i < 2500; i++) await redis.hset(k.ridKey(k.rid(`u${i % 7}`, `r${i}`)), { userId: `u${i % 7}`, status: 'active', absExpAt: t + 600 })
  const seen = []
  let settled = false
  let late = 0
  const report = await s
    .gcOrphansWithProgress({ dryRun: true }, (r) => {
      if (settled) late++
      seen.push(r)
    })
    .finally(() => (settled = true))
  assert.deepEqual(report, await s.gcOrphans({ dryRun: true }))
  assert.equal(report.scannedRids, 2500)
  assert.equal(report.addedToSets, 2500)
  // Every report was in before the result: none is still to come.
  await sleep(50)
  assert.equal(late, 0, 'reports after the result')
  assert.ok(seen.length >= 2, `several pages reported (${seen.length})`)
  assert.deepEqual(seen.at(-1), report)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].scannedRids >= seen[i - 1].scannedRids)
})

test('a throwing progress callback becomes a warning; the gc still completes', async () => {
  const { s } = store('views-gc-throw')
  await s.issueInitial('u', { now: nowSeconds(), absTtlSeconds: 60 })
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const report = await s.gcOrphansWithProgress({}, () => {
      throw new Error('callback bug')
    })
    assert.equal(report.scannedRids, 1)
    await sleep(50)
    assert.ok(
      warnings.some((w) => w.name === 'GcProgressWarning' || /callback bug/.test(w.message)),
      warnings.map(String).join(),
    )
  } finally {
    process.off('warning', onWarning)
  }
})

test('a process that ran the views exits by itself without close()', () => {
  const index = fileURLToPath(new URL('../../index.js', import.meta.url))
  const script = `
    const { createRedisStore } = require(${JSON.stringify(index)})
    const s = createRedisStore(${JSON.stringify(storeConfig({ prefix: uniquePrefix('admin-exit'), absTtlSeconds: 60 }))})
    ;(async () => {
      await s.listSessions('u'); await s.inspectLineage('r'); await s.keyspaceStats()
      await s.gcOrphansWithProgress({ dryRun: true }, () => {})
      console.log('done')
    })()
  `
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 })
  assert.equal(r.signal, null, 'did not hang')
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'done')
})

test("inspectSession finds a lineage by its session id, only among the user's active sessions", async () => {
  const { s } = store('views-inspect-session')
  const t = nowSeconds()
  const a = await s.issueInitial('alice', { now: t - 20, deviceId: 'laptop', absTtlSeconds: 3600 })
  const a1 = (await s.verifyAndRotateRefresh({ rid: a.rid, now: t - 10, deviceId: 'laptop' })).newRid
  await s.issueInitial('bob', { now: t, absTtlSeconds: 3600 })
  const [alice] = await s.listSessions('alice')
  const [bob] = await s.listSessions('bob')
  assert.deepEqual(await s.inspectSession('alice', alice.sessionId), await s.inspectLineage(a1.rid))
  assert.equal(await s.inspectSession('alice', bob.sessionId), null, "another user's session")
  assert.equal(await s.inspectSession('alice', '0'.repeat(40)), null)
  await s.logout(a1.rid)
  assert.equal(await s.inspectSession('alice', alice.sessionId), null, 'an ended session')
  await assert.rejects(s.inspectSession('alice', ''), { code: 'ERR_INVALID_ARG' })
})
