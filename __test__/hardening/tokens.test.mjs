// Tokens at rest (`tokenStorage: 'sha256'`), session ids, logoutSession and
// logoutOtherSessions, the switch between the two storages, and keyed cluster tags,
// against a real Redis (a cluster with REDIS_TOPOLOGY=cluster).

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Redis from 'ioredis'
import { createRedisStore } from '../../index.mjs'
import { createOriginalStore } from '../shared/original.mjs'
import { redisUrl, uniquePrefix, rawClient, dump, readKeys, primaries, nowSeconds, storeConfig, isCluster, userTag, sleep } from '../shared/helpers.mjs'

/** A promise's outcome as Promise.allSettled gives it. */
const settle = async (promise) => (await Promise.allSettled([promise]))[0]

const url = await redisUrl()
const stores = []
after(() => Promise.all(stores.map((s) => s.close())))

function store(prefix, extra = {}) {
  const s = createRedisStore(storeConfig({ prefix, absTtlSeconds: 3600, ...extra }))
  stores.push(s)
  return s
}

const rejects = async (promise, code) => {
  const outcome = await settle(promise)
  assert.equal(outcome.status, 'rejected', `expected a rejection with ${code}`)
  assert.equal(outcome.reason.code, code, outcome.reason.message)
}

const sessionIdOf = async (s, userId, deviceId) => (await s.listSessions(userId)).find((x) => x.deviceId === deviceId)?.sessionId

for (const tokenStorage of ['plain', 'sha256']) {
  test(`${tokenStorage}: sessionId survives rotations, is no token, and logoutSession ends that session only`, async () => {
    const s = store(uniquePrefix('sid'), { tokenStorage })
    const t = nowSeconds()
    const a = await s.issueInitial('alice', { now: t, deviceId: 'laptop' })
    const b = await s.issueInitial('alice', { now: t, deviceId: 'phone' })
    const c = await s.issueInitial('bob', { now: t, deviceId: 'laptop' })
    const sidA = await sessionIdOf(s, 'alice', 'laptop')
    const a1 = (await s.verifyAndRotateRefresh({ rid: a.rid, now: t + 1, deviceId: 'laptop' })).newRid
    const a2 = (await s.verifyAndRotateRefresh({ rid: a1.rid, now: t + 2, deviceId: 'laptop' })).newRid
    assert.equal(await sessionIdOf(s, 'alice', 'laptop'), sidA)
    const lineage = await s.inspectLineage(a2.rid)
    assert.deepEqual(new Set(lineage.sessions.map((x) => x.sessionId)), new Set([sidA]))
    const sidB = await sessionIdOf(s, 'alice', 'phone')
    const sidC = await sessionIdOf(s, 'bob', 'laptop')
    assert.equal(new Set([sidA, sidB, sidC]).size, 3)
    for (const rid of [a.rid, a2.rid, b.rid]) assert.ok(!sidA.includes(rid) && !rid.includes(sidA))

    // A session id presented as a rid names nothing.
    await rejects(s.verifyAndRotateRefresh({ rid: sidA, now: t + 3 }), 'ERR_NOT_FOUND')
    assert.equal(await s.getRid(sidA), null)
    assert.equal(await s.inspectLineage(sidA), null)

    // Another user's id: nothing changes, and it says so.
    assert.equal(await s.logoutSession('alice', sidC), false)
    assert.equal(await s.logoutOtherSessions('alice', sidC), 0)
    assert.equal((await s.listSessions('alice')).length, 2)
    assert.equal((await s.listSessions('bob')).length, 1)

    assert.equal(await s.logoutSession('alice', sidA), true)
    await rejects(s.verifyAndRotateRefresh({ rid: a2.rid, now: t + 3, deviceId: 'laptop' }), 'ERR_REPLAY')
    // An ended session's id: nothing more to end.
    assert.equal(await s.logoutSession('alice', sidA), false)
    assert.equal(await s.logoutOtherSessions('alice', sidA), 0)
    assert.deepEqual(
      (await s.listSessions('alice')).map((x) => x.sessionId),
      [sidB],
    )
    assert.ok((await s.verifyAndRotateRefresh({ rid: b.rid, now: t + 3 })).newRid.rid)
    assert.ok((await s.verifyAndRotateRefresh({ rid: c.rid, now: t + 3 })).newRid.rid)
  })

  test(`${tokenStorage}: logoutOtherSessions racing rotations keeps the kept session and no other`, async () => {
    const s = store(uniquePrefix('others'), { tokenStorage })
    const t = nowSeconds()
    for (let round = 0; round < 8; round++) {
      const user = `u${round}`
      const kept = await s.issueInitial(user, { now: t, deviceId: 'kept' })
      const others = await Promise.all(['x', 'y', 'z'].map((d) => s.issueInitial(user, { now: t, deviceId: d })))
      const keepId = await sessionIdOf(s, user, 'kept')
      const stranger = await s.issueInitial(`${user}-other`, { now: t })
      const [endedCount, keptRotation, ...otherRotations] = await Promise.all([
        s.logoutOtherSessions(user, keepId),
        settle(s.verifyAndRotateRefresh({ rid: kept.rid, now: t + 1, deviceId: 'kept' })),
        ...others.map((o) => settle(s.verifyAndRotateRefresh({ rid: o.rid, now: t + 1 }))),
      ])
      assert.equal(endedCount, 3)
      assert.equal(keptRotation.status, 'fulfilled')
      // The kept lineage lives on in the child; every other lineage is over, whichever
      // side of the logout its rotation landed on.
      const left = await s.listSessions(user)
      assert.deepEqual(
        left.map((x) => x.sessionId),
        [keepId],
      )
      assert.ok((await s.verifyAndRotateRefresh({ rid: keptRotation.value.newRid.rid, now: t + 2 })).newRid)
      for (const r of otherRotations) {
        const rid = r.status === 'fulfilled' ? r.value.newRid.rid : null
        if (rid) await rejects(s.verifyAndRotateRefresh({ rid, now: t + 2 }), 'ERR_REPLAY')
      }
      assert.ok((await s.verifyAndRotateRefresh({ rid: stranger.rid, now: t + 2 })).newRid)
    }
  })
}

/** Every string a client held: what each call resolved with, searched in what Redis saw. */
function collectRids(value, into) {
  if (typeof value === 'string') into.add(value)
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectRids(v, into)
  return into
}

test('sha256: nothing a reader of Redis sees holds a token, and nothing it sees works as one', async () => {
  const prefix = uniquePrefix('reader')
  const raw = await rawClient()
  const nodes = primaries(raw)
  const slowlog = []
  for (const node of nodes) {
    slowlog.push(await node.config('GET', 'slowlog-log-slower-than'))
    await node.config('SET', 'slowlog-log-slower-than', '0')
    await node.slowlog('RESET')
  }
  const lines = []
  const monitors = []
  for (const node of nodes) {
    const client = new Redis({ host: node.options.host, port: node.options.port })
    const monitor = await client.monitor()
    monitor.on('monitor', (_time, args) => lines.push(args.map(String).join(' ')))
    monitors.push({ client, monitor })
  }
  const options = {
    tokenStorage: 'sha256',
    reuseGraceSeconds: 30,
    onReuse: 'revoke-lineage',
    idleTtlSeconds: 600,
    maxSessionsPerUser: 3,
    audit: { maxLen: 1000 },
  }
  const s = store(prefix, options)
  const received = new Set()
  const sessionIds = new Set()
  const t = nowSeconds()
  let otherRotated
  const keep = (value) => {
    collectRids(value, received)
    return value
  }
  try {
    // Every method, with every option in play.
    const a = keep(await s.issueInitial('vic', { now: t - 10, deviceId: 'd1', uaHash: 'ua', ipHash: 'ip' }))
    const a1 = keep(await s.verifyAndRotateRefresh({ rid: a.rid, now: t - 9, deviceId: 'd1', uaHash: 'ua', ipHash: 'ip' }))
    keep(await s.verifyAndRotateRefresh({ rid: a.rid, now: t - 8, deviceId: 'd1', uaHash: 'ua', ipHash: 'ip' })) // grace
    const b = keep(await s.issueInitial('vic', { now: t, deviceId: 'd2' }))
    const c = keep(await s.issueInitial('vic', { now: t, deviceId: 'd3' }))
    keep(await s.issueInitial('vic', { now: t + 3, deviceId: 'd4' })) // evicts the oldest, a's lineage
    const b1 = keep(await s.verifyAndRotateRefresh({ rid: b.rid, now: t + 4 }))
    keep(await settle(s.verifyAndRotateRefresh({ rid: b.rid, now: t + 200, deviceId: 'other' }))) // reuse: revokes
    await settle(s.verifyAndRotateRefresh({ rid: c.rid, now: t + 4, deviceId: 'wrong' })) // binding
    await settle(s.verifyAndRotateRefresh({ rid: c.rid, now: t + 5000 })) // idle
    keep(await s.getRid(a1.newRid.rid))
    keep(await s.getRid(b1.newRid.rid))
    keep(await s.scanRids('vic'))
    for (const x of keep(await s.listSessions('vic'))) sessionIds.add(x.sessionId)
    keep(await s.inspectLineage(a1.newRid.rid))
    keep(await s.inspectLineage(b1.newRid.rid))
    const d = keep(await s.issueInitial('vic', { now: t + 6, deviceId: 'd5' }))
    const e = keep(await s.issueInitial('vic', { now: t + 6, deviceId: 'd6' }))
    for (const x of await s.listSessions('vic')) sessionIds.add(x.sessionId)
    keep(await s.logoutSession('vic', await sessionIdOf(s, 'vic', 'd5')))
    keep(await s.logoutOtherSessions('vic', await sessionIdOf(s, 'vic', 'd6')))
    keep(await s.verifyAndRotateRefresh({ rid: e.rid, now: t + 7, deviceId: 'd6' }))
    await s.logout(d.rid)
    const f = keep(await s.issueInitial('vic', { now: t + 8, deviceId: 'd7' }))
    await s.tombstoneLineage(f.rid)
    keep(await s.issueInitial('vic', { now: t + 8, deviceId: 'd8' }))
    await s.logoutDevice('vic', 'd8')
    const g = keep(await s.issueInitial('vic', { now: t + 9, deviceId: 'd9' }))
    keep(await s.verifyAndRotateRefresh({ rid: g.rid, now: t + 10, deviceId: 'd9' }))
    keep(await s.readAudit({ userId: 'vic', count: 1000 }))
    keep(await s.keyspaceStats())
    keep(await s.gcOrphans({ dryRun: true }))
    // A second user the reader will try to reach.
    const other = keep(await s.issueInitial('other', { now: t, deviceId: 'o' }))
    otherRotated = keep(await s.verifyAndRotateRefresh({ rid: other.rid, now: t + 1, deviceId: 'o' }))
    keep(await s.logoutAll('vic'))
    keep(await s.gcOrphans())
    await sleep(200)
  } finally {
    for (const { client, monitor } of monitors) {
      monitor.disconnect()
      client.disconnect()
    }
  }
  const slow = []
  for (const [i, node] of nodes.entries()) {
    for (const entry of await node.slowlog('GET', 100000)) slow.push(JSON.stringify(entry))
    await node.config('SET', 'slowlog-log-slower-than', slowlog[i][1])
  }
  const tokens = [...received].filter((r) => /^([0-9a-f]{16}\.)?[0-9a-f]{32}$/.test(r))
  assert.ok(tokens.length >= 10, `tokens issued: ${tokens.length}`)
  const entries = await readKeys(raw, prefix)
  const streams = []
  for (const { key, type } of entries) if (type === 'stream') streams.push(JSON.stringify(await raw.xrange(key, '-', '+')))
  const seen = [...entries.map((e) => JSON.stringify(e)), ...streams, ...lines.filter((l) => l.includes(prefix)), ...slow].map((x) => x.toLowerCase())
  assert.ok(lines.some((l) => l.includes(prefix)) && slow.length > 0, 'MONITOR and SLOWLOG saw the workload')
  for (const token of tokens) {
    for (const text of seen) assert.ok(!text.includes(token.toLowerCase()), `a token is readable: ${text.slice(0, 200)}`)
  }

  // The reader tries every string it saw, and what views return, as a rid.
  const words = new Set(sessionIds)
  for (const text of [...entries.map((e) => JSON.stringify(e)), ...streams, ...lines]) {
    for (const w of text.split(/[\s"{}[\],:]+/)) if (w.length >= 16) words.add(w)
  }
  for (const x of received) if (!tokens.includes(x)) words.add(x)
  const before = await dump(raw, prefix)
  const candidates = new Set([...words].flatMap((w) => [w, w.replace(/^#/, ''), `${w.slice(0, 16)}.${w.slice(17)}`]))
  for (const w of [...candidates].filter((w) => w.length > 0 && Buffer.byteLength(w) <= 1024)) {
    const rotated = await settle(s.verifyAndRotateRefresh({ rid: w, now: t + 11 }))
    assert.equal(rotated.status, 'rejected', `rotated with ${w}`)
    assert.equal(await s.getRid(w), null, w)
    assert.equal(await s.inspectLineage(w), null, w)
    await s.logout(w)
    await s.tombstoneLineage(w)
  }
  assert.deepEqual(await dump(raw, prefix), before)
  assert.ok(words.size > 20)
  assert.equal((await s.listSessions('other')).length, 1)
  assert.equal((await s.getRid(otherRotated.newRid.rid)).status, 'active', 'the reader logged nobody out')
})

test('switching to sha256 logs nobody out: plain sessions (this store and the original) rotate, replays are caught, gc leaves nothing; switching back too', async () => {
  const prefix = uniquePrefix('switch')
  const raw = await rawClient()
  const t = nowSeconds()
  // absExpAt a few seconds ahead, so that gc can be shown to leave nothing.
  const ttl = { absTtlSeconds: 4 }
  const plain = store(prefix)
  const mine = await plain.issueInitial('sam', { now: t, deviceId: 'd1', ...ttl })
  const mine1 = (await plain.verifyAndRotateRefresh({ rid: mine.rid, now: t, deviceId: 'd1' })).newRid
  const issued = [{ rid: mine1.rid, device: 'd1', parent: mine.rid }]
  let original
  if (!isCluster) {
    original = await createOriginalStore({ url, prefix, absTtlSeconds: 4 })
    after(() => original.close())
    const o = await original.issueInitial('sam', { now: t, deviceId: 'd2', ...ttl })
    issued.push({ rid: o.rid, device: 'd2' })
  }
  const idsBefore = await plain.listSessions('sam')

  const hashed = store(prefix, { tokenStorage: 'sha256', reuseGraceSeconds: 10 })
  const idsAfter = await hashed.listSessions('sam')
  assert.deepEqual(idsAfter.map((x) => x.sessionId).sort(), idsBefore.map((x) => x.sessionId).sort())
  // In sha256 mode no view shows a live token, even of a session issued before.
  for (const x of idsAfter) for (const { rid } of issued) assert.ok(!JSON.stringify(x).includes(rid))
  const children = []
  for (const { rid, device, parent } of issued) {
    const child = (await hashed.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: device })).newRid
    assert.match(child.rid, /^([0-9a-f]{16}\.)?[0-9a-f]{32}$/)
    // Within the grace window the plain parent gets its hashed child again.
    assert.equal((await hashed.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: device })).newRid.rid, child.rid)
    if (parent) await rejects(hashed.verifyAndRotateRefresh({ rid: parent, now: t + 1 }), 'ERR_REPLAY')
    children.push({ rid: child.rid, device })
  }
  const after1 = await hashed.listSessions('sam')
  assert.deepEqual(after1.map((x) => x.sessionId).sort(), idsBefore.map((x) => x.sessionId).sort())
  const keyNames = (await readKeys(raw, prefix)).map((k) => k.key).join(' ')
  for (const { rid } of children) assert.ok(!keyNames.includes(rid.slice(-32)))

  // Switching back: hashed tokens keep working, new children are plain again.
  const back = store(prefix)
  for (const { rid, device } of children) {
    const child = (await back.verifyAndRotateRefresh({ rid, now: t + 2, deviceId: device })).newRid
    assert.match(child.rid, /[0-9a-f]{8}-[0-9a-f]{4}-/)
    await rejects(back.verifyAndRotateRefresh({ rid, now: t + 2 }), 'ERR_REPLAY')
    assert.equal((await back.getRid(child.rid)).status, 'active')
  }
  assert.equal((await back.listSessions('sam')).length, issued.length)
  if (original) {
    // The original still reads what both storages left (a session in either form).
    const [{ rid }] = await back.listSessions('sam')
    assert.ok(await original.getRid(rid))
  }

  await sleep(5000)
  await hashed.gcOrphans()
  assert.deepEqual(await readKeys(raw, prefix), [])
})

test('cluster.tagSecret keys the tag in rids and keys; every call still routes', { skip: !isCluster && 'cluster only' }, async () => {
  const prefix = uniquePrefix('tagsecret')
  const s = store(prefix, { cluster: { tagSecret: 'a secret of enough bytes' }, tokenStorage: 'sha256' })
  const t = nowSeconds()
  const a = await s.issueInitial('kim', { now: t, deviceId: 'd' })
  const b = await s.issueInitial('kim', { now: t, deviceId: 'e' })
  assert.notEqual(a.rid.slice(0, 16), userTag('kim'))
  const a1 = (await s.verifyAndRotateRefresh({ rid: a.rid, now: t + 1, deviceId: 'd' })).newRid
  assert.equal(a1.rid.slice(0, 16), a.rid.slice(0, 16))
  const sessions = await s.listSessions('kim')
  assert.equal(sessions.length, 2)
  assert.equal(await s.logoutOtherSessions('kim', sessions.find((x) => x.deviceId === 'd').sessionId), 1)
  await rejects(s.verifyAndRotateRefresh({ rid: b.rid, now: t + 2 }), 'ERR_REPLAY')
  await s.logoutDevice('kim', 'd')
  assert.deepEqual(await s.scanRids('kim'), [])
  const raw = await rawClient()
  assert.ok((await readKeys(raw, prefix)).every((k) => !k.key.includes(userTag('kim'))))
  // Another secret: another tag for the user. A rid issued before still routes by the tag
  // it carries, but calls given only the userId no longer see its lineage (as the README
  // says: end the sessions before changing the secret).
  const other = store(prefix, { cluster: { tagSecret: 'another secret, long enough' }, tokenStorage: 'sha256' })
  const c = await s.issueInitial('kim', { now: t, deviceId: 'f' })
  const c1 = (await other.verifyAndRotateRefresh({ rid: c.rid, now: t + 1, deviceId: 'f' })).newRid
  assert.equal(c1.rid.slice(0, 16), c.rid.slice(0, 16))
  assert.deepEqual(await other.listSessions('kim'), [])
  assert.equal((await s.listSessions('kim')).length, 1)
  await s.logoutAll('kim')
  await rejects(other.verifyAndRotateRefresh({ rid: c1.rid, now: t + 2, deviceId: 'f' }), 'ERR_REPLAY')
})

test('bad tokenStorage and tagSecret are refused when the store is created', () => {
  for (const cfg of [{ tokenStorage: 'md5' }, { tokenStorage: true }, { cluster: { tagSecret: 'short' } }, { cluster: { tagSecret: 7 } }]) {
    assert.throws(() => createRedisStore({ url, absTtlSeconds: 1, ...cfg }), TypeError)
  }
})

test('sha256: malformed and overlong rids give the errors plain mode gives', async () => {
  const plainStore = store(uniquePrefix('malformed'))
  const hashedStore = store(uniquePrefix('malformed'), { tokenStorage: 'sha256' })
  const t = nowSeconds()
  for (const rid of ['x'.repeat(1025), '', 'nope', '#'.repeat(65), 'a'.repeat(32), `${'0'.repeat(16)}.${'b'.repeat(32)}`, 'é\u0000']) {
    const [p, h] = await Promise.all([settle(plainStore.verifyAndRotateRefresh({ rid, now: t })), settle(hashedStore.verifyAndRotateRefresh({ rid, now: t }))])
    assert.equal(h.status, p.status)
    assert.equal(h.reason?.message, p.reason?.message)
    assert.equal(h.reason?.constructor, p.reason?.constructor)
  }
})
