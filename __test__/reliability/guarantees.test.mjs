// What the hardening options promise, whatever happens around a call: a logout ends what
// its caller holds (a child whose reply the client never received included), an idle
// session is active nowhere, the cluster layout's audit streams do not outlive their
// sessions, and ids with lone surrogates never reach Redis. REDIS_TOPOLOGY=cluster runs
// the same tests in the cluster layout.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { dump, isCluster, keys, nowSeconds, rawClient, redisUrl, sleep, startOfNextSecond, storeConfig, uniquePrefix, userTag } from '../shared/helpers.mjs'

await redisUrl()
const admin = await rawClient()
const DAY = 24 * 3600

function newStore(extra = {}) {
  const prefix = uniquePrefix('holds')
  const store = createRedisStore(storeConfig({ prefix, absTtlSeconds: 30 * DAY, ...extra }))
  after(() => store.close())
  return { store, prefix }
}

const code = (c) => (err) => err.code === c

for (const [name, end] of [
  ['logout', (s, rid) => s.logout(rid)],
  ['tombstoneLineage', (s, rid) => s.tombstoneLineage(rid)],
]) {
  test(`${name} of a rid whose rotation reply was lost ends the child issued for it (grace window)`, async () => {
    const { store: s } = newStore({ reuseGraceSeconds: 60 })
    const t = nowSeconds()
    const { rid } = await s.issueInitial('victim', { now: t, deviceId: 'd' })
    // The rotation happens (a thief raced the refresh, or the reply was dropped); the
    // client still holds `rid` only.
    const stolen = (await s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd' })).newRid.rid
    await end(s, rid)
    assert.equal((await s.getRid(stolen)).status, 'tombstoned')
    assert.deepEqual(await s.scanRids('victim'), [])
    assert.deepEqual(await s.listSessions('victim'), [])
    await assert.rejects(s.verifyAndRotateRefresh({ rid: stolen, now: t + 2, deviceId: 'd' }), code('ERR_REPLAY'))
    // Nor can the grace window hand the child out again.
    await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 2, deviceId: 'd' }), code('ERR_REPLAY'))
  })

  test(`${name} of a used rid ends its active descendant, without a grace window too`, async () => {
    const { store: s } = newStore()
    const t = nowSeconds()
    const { rid } = await s.issueInitial('u', { now: t })
    const a = (await s.verifyAndRotateRefresh({ rid, now: t + 1 })).newRid.rid
    const b = (await s.verifyAndRotateRefresh({ rid: a, now: t + 2 })).newRid.rid
    const other = (await s.issueInitial('u', { now: t })).rid
    await end(s, rid)
    for (const r of [rid, a, b]) assert.equal((await s.getRid(r)).status, 'tombstoned', r)
    assert.deepEqual(await s.scanRids('u'), [other], 'the other session of the user stays')
  })
}

test('logout of an active rid ends that session alone', async () => {
  const { store: s } = newStore({ reuseGraceSeconds: 60 })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t })
  const child = (await s.verifyAndRotateRefresh({ rid, now: t + 1 })).newRid.rid
  await s.logout(child)
  assert.equal((await s.getRid(child)).status, 'tombstoned')
  assert.equal((await s.getRid(rid)).status, 'used', 'its used parent is left as it was')
})

test('an idle session is gone everywhere once its deadline passes (real clock)', async () => {
  const idle = 1
  const { store: s } = newStore({ idleTtlSeconds: idle, maxSessionsPerUser: 2, sessionLimitPolicy: 'refuse' })
  // Started on a second's boundary: each phase has the whole second before Redis removes
  // what it wrote.
  const t = await startOfNextSecond()
  const a = await s.issueInitial('sleepy', { now: t, deviceId: 'd1' })
  await s.issueInitial('sleepy', { now: t, deviceId: 'd2' })
  await assert.rejects(s.issueInitial('sleepy', { now: t }), code('ERR_SESSION_LIMIT'))
  await sleep((idle + 1.2) * 1000)
  assert.equal(await s.getRid(a.rid), null)
  assert.deepEqual(await s.scanRids('sleepy'), [])
  assert.deepEqual(await s.listSessions('sleepy'), [])
  const stats = await s.keyspaceStats()
  assert.equal(stats.sessionsByStatus.active ?? 0, 0, JSON.stringify(stats))
  // The limit counts only live sessions: the user can sign in again at once.
  const now = await startOfNextSecond()
  await s.issueInitial('sleepy', { now, deviceId: 'd3' })
  await s.issueInitial('sleepy', { now, deviceId: 'd4' })
  assert.equal((await s.scanRids('sleepy')).length, 2)
})

test('an idle session neither fills nor is evicted by the session limit (controlled clock)', async () => {
  const idle = 600
  for (const policy of ['refuse', 'evict-oldest']) {
    const { store: s } = newStore({ idleTtlSeconds: idle, maxSessionsPerUser: 2, sessionLimitPolicy: policy })
    const t = nowSeconds()
    const stale = await s.issueInitial('u', { now: t, deviceId: 'a' })
    const stale2 = await s.issueInitial('u', { now: t, deviceId: 'b' })
    // The application's clock is past both idle deadlines (Redis has not expired them yet).
    const later = t + idle + 50
    await s.issueInitial('u', { now: later, deviceId: 'c' })
    assert.equal((await s.getRid(stale2.rid)).status, 'active', `${policy}: the idle session was not ended for the limit`)
    await s.issueInitial('u', { now: later, deviceId: 'd' })
    await assert.rejects(s.verifyAndRotateRefresh({ rid: stale.rid, now: later, deviceId: 'a' }), code('ERR_IDLE'))
  }
})

test('rotation moves the idle deadline; the used parent stays until absExpAt so its replay is still seen', async () => {
  const idle = 600
  const { store: s, prefix } = newStore({ idleTtlSeconds: idle })
  const k = keys(prefix)
  const t = nowSeconds()
  const { rid, absExp } = await s.issueInitial('u', { now: t, deviceId: 'd' })
  const ttl = (r) => admin.ttl(k.ridKey(r))
  assert.ok(Math.abs((await ttl(rid)) - idle) <= 2, 'the session expires at its idle deadline')
  assert.ok(Math.abs((await admin.ttl(k.deviceKey('u', 'd'))) - idle) <= 2, 'so does its device key')
  const child = (await s.verifyAndRotateRefresh({ rid, now: t + 10, deviceId: 'd' })).newRid.rid
  assert.ok(Math.abs((await ttl(child)) - (idle + 10)) <= 3)
  assert.ok(Math.abs((await ttl(rid)) - (absExp - t)) <= 3, 'the used parent lives to absExpAt')
  await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 20, deviceId: 'd' }), code('ERR_REPLAY'))
})

test('with audit on, a user with no session left keeps no audit stream forever (cluster layout)', {
  skip: !isCluster && 'cluster layout only: the original layout has one store-wide stream, bounded by maxLen',
}, async () => {
  const { store: s, prefix } = newStore({ audit: { maxLen: 100 } })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('auditee', { now: t, absTtlSeconds: 3600 })
  const stream = `${prefix}:audit:{${userTag('auditee')}}`
  const streamTtl = await admin.ttl(stream)
  assert.ok(streamTtl > 3590 && streamTtl <= 3600, `the stream expires with the session (${streamTtl})`)
  await s.logout(rid)
  assert.ok((await admin.ttl(stream)) > 0)
  // A longer session moves it later, never earlier.
  await s.issueInitial('auditee', { now: t, absTtlSeconds: 7200 })
  assert.ok((await admin.ttl(stream)) > 7190)
  await s.issueInitial('auditee', { now: t, absTtlSeconds: 60 })
  assert.ok((await admin.ttl(stream)) > 7190)
})

test('ids and binding values with a lone surrogate are refused before anything reaches Redis', async () => {
  const { store: s, prefix } = newStore()
  const t = nowSeconds()
  const before = await dump(admin, prefix)
  const lone = ['mallory\uD800', 'mallory\uDFFF', '\uDC00x']
  for (const bad of lone) {
    const refused = (err) => err instanceof TypeError && /lone surrogate/.test(err.message)
    await assert.rejects(s.issueInitial(bad, { now: t }), refused)
    await assert.rejects(s.issueInitial('u', { now: t, deviceId: bad }), refused)
    await assert.rejects(s.issueInitial('u', { now: t, uaHash: bad }), refused)
    await assert.rejects(s.verifyAndRotateRefresh({ rid: bad, now: t }), refused)
    await assert.rejects(s.logoutDevice('u', bad), refused)
    await assert.rejects(s.logoutAll(bad), refused)
    await assert.rejects(s.scanRids(bad), refused)
  }
  assert.deepEqual(await dump(admin, prefix), before)
  // A real U+FFFD, and characters outside the BMP (well-formed pairs), are ordinary ids.
  const ok = await s.issueInitial('name\uFFFD\u{1F600}', { now: t })
  assert.equal((await s.getRid(ok.rid)).userId, 'name\uFFFD\u{1F600}')
  assert.throws(() => createRedisStore(storeConfig({ prefix: 'p\uD800', absTtlSeconds: 60 })), TypeError)
})
