// Live migration: the original (@devcoons/redis-session-store 0.1.0) and this package in
// one process, on one Redis and ONE prefix, as during a rolling switch in either
// direction. Sessions written by one are rotated, replay-checked, logged out, listed and
// collected by the other.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makePair, outcome } from './compat-lib.mjs'
import { nowSeconds, redisUrl, dump } from '../shared/helpers.mjs'

const url = await redisUrl()

async function shared() {
  const pair = await makePair(url, { samePrefix: true, name: 'mig' })
  const { client, origPrefix: prefix } = pair
  const t = nowSeconds()
  return {
    ...pair,
    prefix,
    t,
    key: (rid) => `${prefix}:rid:${rid}`,
    status: (rid) => client.hget(`${prefix}:rid:${rid}`, 'status'),
    index: async (user) => (await client.smembers(`${prefix}:user:${user}:rids`)).sort(),
    device: (user, dev) => client.get(`${prefix}:device:${user}:${dev}`),
  }
}

async function rejects(promise, message) {
  const r = await outcome(promise)
  assert.equal(r.err?.message, message)
}

for (const [first, second] of [
  ['orig', 'nat'],
  ['nat', 'orig'],
]) {
  test(`issued by ${first}, rotated by ${second}, then by ${first} again; replays detected by both`, async () => {
    const m = await shared()
    const A = m[first]
    const B = m[second]
    const r0 = await A.issueInitial('alice', { now: m.t, absTtlSeconds: 3600, deviceId: 'phone', uaHash: 'ua', ipHash: 'ip' })
    const r1 = await B.verifyAndRotateRefresh({ rid: r0.rid, deviceId: 'phone', uaHash: 'ua', ipHash: 'ip', now: m.t + 1 })
    assert.deepEqual(r1, { userId: 'alice', newRid: { rid: r1.newRid.rid, absExp: m.t + 3600 } })
    const r2 = await A.verifyAndRotateRefresh({ rid: r1.newRid.rid, deviceId: 'phone', now: m.t + 2 })
    assert.equal(r2.userId, 'alice')
    // Replays, each by both implementations.
    for (const s of [A, B]) {
      await rejects(s.verifyAndRotateRefresh({ rid: r0.rid, now: m.t + 3 }), 'rotate_fail:ERR_REPLAY')
      await rejects(s.verifyAndRotateRefresh({ rid: r1.newRid.rid, now: m.t + 3 }), 'rotate_fail:ERR_REPLAY')
      await rejects(s.verifyAndRotateRefresh({ rid: r2.newRid.rid, deviceId: 'tablet', now: m.t + 3 }), 'rotate_fail:ERR_BINDING')
      await rejects(s.verifyAndRotateRefresh({ rid: r2.newRid.rid, now: m.t + 3601 }), 'expired_abs')
    }
    // Both read the same hashes.
    for (const rid of [r0.rid, r1.newRid.rid, r2.newRid.rid]) {
      assert.deepEqual(await B.getRid(rid), await A.getRid(rid))
    }
    assert.deepEqual(await m.nat.getRid(r2.newRid.rid), {
      userId: 'alice',
      parentRid: r1.newRid.rid,
      createdAt: String(m.t + 2),
      expAt: String(m.t + 3600),
      absExpAt: String(m.t + 3600),
      deviceId: 'phone',
      uaHash: '',
      ipHash: '',
      status: 'active',
    })
    assert.equal(await m.device('alice', 'phone'), m.key(r2.newRid.rid))
    // Listing: this package lists the active session only, as a bare rid; the original
    // lists the full keys of what the index holds.
    assert.deepEqual(await m.nat.scanRids('alice'), [r2.newRid.rid])
    const listed = await m.orig.scanRids('alice')
    assert.ok(listed.includes(m.key(r2.newRid.rid)))
    assert.deepEqual(listed.sort(), await m.index('alice'))
    // The chain of parents is intact across implementations.
    assert.equal((await m.orig.getRid(r1.newRid.rid)).parentRid, r0.rid)
    assert.equal((await m.nat.getRid(r2.newRid.rid)).parentRid, r1.newRid.rid)
  })

  test(`logout by ${second} of sessions issued by ${first}`, async () => {
    const m = await shared()
    const A = m[first]
    const B = m[second]
    const a = await A.issueInitial('bob', { now: m.t, absTtlSeconds: 3600, deviceId: 'd1' })
    const b = await A.issueInitial('bob', { now: m.t, absTtlSeconds: 3600, deviceId: 'd2' })
    const b1 = await A.verifyAndRotateRefresh({ rid: b.rid, deviceId: 'd2', now: m.t + 1 })
    await B.logout(a.rid)
    assert.equal(await m.status(a.rid), 'tombstoned')
    assert.equal((await m.index('bob')).includes(m.key(a.rid)), false)
    await rejects(A.verifyAndRotateRefresh({ rid: a.rid, now: m.t + 2 }), 'rotate_fail:ERR_REPLAY')
    await rejects(B.verifyAndRotateRefresh({ rid: a.rid, now: m.t + 2 }), 'rotate_fail:ERR_REPLAY')
    // The other session is untouched and still rotates through either.
    const b2 = await B.verifyAndRotateRefresh({ rid: b1.newRid.rid, deviceId: 'd2', now: m.t + 2 })
    const b3 = await A.verifyAndRotateRefresh({ rid: b2.newRid.rid, deviceId: 'd2', now: m.t + 3 })
    assert.equal(await m.status(b3.newRid.rid), 'active')
    assert.deepEqual(await m.nat.scanRids('bob'), [b3.newRid.rid])
    // Device key: this package's logout deletes it when it points at the session.
    assert.equal(await m.device('bob', 'd1'), second === 'nat' ? null : m.key(a.rid))
  })

  test(`logoutDevice by ${second} of sessions issued by ${first}`, async () => {
    const m = await shared()
    const A = m[first]
    const B = m[second]
    const x = await A.issueInitial('cat', { now: m.t, absTtlSeconds: 3600, deviceId: 'tv' })
    const x1 = await A.verifyAndRotateRefresh({ rid: x.rid, deviceId: 'tv', now: m.t + 1 })
    const y = await A.issueInitial('cat', { now: m.t, absTtlSeconds: 3600, deviceId: 'tv' })
    const z = await A.issueInitial('cat', { now: m.t, absTtlSeconds: 3600, deviceId: 'pc' })
    await B.logoutDevice('cat', 'tv')
    assert.equal(await m.device('cat', 'tv'), null)
    assert.equal(await m.status(y.rid), 'tombstoned', 'the newest session of the device')
    await rejects(A.verifyAndRotateRefresh({ rid: y.rid, deviceId: 'tv', now: m.t + 2 }), 'rotate_fail:ERR_REPLAY')
    assert.equal(await m.status(z.rid), 'active', 'another device is untouched')
    if (second === 'nat') {
      // This package ends every session of the device, whoever issued it.
      assert.equal(await m.status(x1.newRid.rid), 'tombstoned')
      assert.deepEqual(await m.nat.scanRids('cat'), [z.rid])
    } else {
      // The original ends the newest one only (documented deviation).
      assert.equal(await m.status(x1.newRid.rid), 'active')
      assert.deepEqual((await m.nat.scanRids('cat')).sort(), [x1.newRid.rid, z.rid].sort())
    }
  })

  test(`logoutAll by ${second} of sessions issued and rotated by ${first}`, async () => {
    const m = await shared()
    const A = m[first]
    const B = m[second]
    const rids = []
    for (let i = 0; i < 5; i++) {
      const r = await A.issueInitial('dan', { now: m.t, absTtlSeconds: 3600 + i, deviceId: `d${i % 2}` })
      rids.push(r.rid)
      if (i % 2 === 0) rids.push((await A.verifyAndRotateRefresh({ rid: r.rid, now: m.t + 1 })).newRid.rid)
    }
    const other = await A.issueInitial('eve', { now: m.t, absTtlSeconds: 3600 })
    await B.logoutAll('dan')
    assert.deepEqual(await m.index('dan'), [])
    for (const rid of rids) {
      assert.ok(['tombstoned', 'used'].includes(await m.status(rid)), 'no active session left')
      await rejects(A.verifyAndRotateRefresh({ rid, now: m.t + 2 }), 'rotate_fail:ERR_REPLAY')
      await rejects(B.verifyAndRotateRefresh({ rid, now: m.t + 2 }), 'rotate_fail:ERR_REPLAY')
    }
    assert.deepEqual(await m.nat.scanRids('dan'), [])
    assert.deepEqual(await m.nat.scanRids('eve'), [other.rid])
    assert.equal(await m.status(other.rid), 'active')
  })

  test(`gcOrphans by ${second} keeps the live sessions written by ${first}`, async () => {
    const m = await shared()
    const A = m[first]
    const B = m[second]
    const live = []
    for (const user of ['fred', 'gina']) {
      const r = await A.issueInitial(user, { now: m.t, absTtlSeconds: 3600, deviceId: 'x' })
      const r1 = await A.verifyAndRotateRefresh({ rid: r.rid, deviceId: 'x', now: m.t + 1 })
      live.push(r1.newRid.rid, (await B.issueInitial(user, { now: m.t, absTtlSeconds: 7200 })).rid)
    }
    const dead = await A.issueInitial('fred', { now: m.t, absTtlSeconds: 3600 })
    await A.logout(dead.rid)
    const before = await dump(m.client, m.prefix)
    for (const s of [A, B, m.orig, m.nat]) {
      const dry = await s.gcOrphans({ dryRun: true })
      assert.equal(dry.removedFromSets + dry.addedToSets + dry.deletedRidHashes, 0)
    }
    for (const s of [B, A]) {
      const report = await s.gcOrphans({ graceSeconds: 0 })
      assert.deepEqual([report.removedFromSets, report.addedToSets, report.deletedRidHashes], [0, 0, 0])
      assert.equal(report.scannedRids, 7)
    }
    assert.deepEqual(await dump(m.client, m.prefix), before, 'nothing changed')
    for (const rid of live) {
      const r = await B.verifyAndRotateRefresh({ rid, now: m.t + 5 })
      assert.ok(r.newRid.rid)
    }
  })
}

for (const [writer, collector] of [
  ['orig', 'nat'],
  ['nat', 'orig'],
]) {
  test(`garbage left by ${writer} is collected by ${collector}`, async () => {
    const m = await shared()
    const W = m[writer]
    const C = m[collector]
    const live = await W.issueInitial('mona', { now: m.t, absTtlSeconds: 3600 })
    const old = await W.issueInitial('mona', { now: m.t, absTtlSeconds: 3600 })
    const oldChild = await W.verifyAndRotateRefresh({ rid: old.rid, now: m.t + 1 })
    const gone = await W.issueInitial('mona', { now: m.t, absTtlSeconds: 3600 })
    await W.logout(oldChild.newRid.rid)
    // A used and a tombstoned session past their absExpAt that lost their expiry, an
    // index member whose hash vanished, and (the original only) the bare hash its logout
    // of an unknown rid writes.
    for (const rid of [old.rid, oldChild.newRid.rid]) {
      await m.client.hset(m.key(rid), 'absExpAt', String(m.t - 10))
      await m.client.persist(m.key(rid))
    }
    await m.client.del(m.key(gone.rid))
    await W.logout('00000000-0000-4000-8000-000000000bad')
    const bare = writer === 'orig' ? 1 : 0
    const report = await C.gcOrphans({ graceSeconds: 0 })
    assert.equal(report.deletedRidHashes, 2 + bare)
    // The vanished member; the used parent the original keeps indexed is dropped from the
    // index with its hash (not counted as removedFromSets, in both).
    assert.equal(report.removedFromSets, 1)
    assert.equal(report.addedToSets, 0)
    // What is left: the live session, indexed.
    const keys = (await m.client.keys(`${m.prefix}:*`)).sort()
    assert.deepEqual(keys, [m.key(live.rid), `${m.prefix}:user:mona:rids`].sort())
    assert.deepEqual(await m.index('mona'), [m.key(live.rid)])
    assert.equal(await m.status(live.rid), 'active')
    await W.verifyAndRotateRefresh({ rid: live.rid, now: m.t + 2 })
  })
}

test('a lineage built by the original is ended by tombstoneLineage of this package', async () => {
  const m = await shared()
  const r0 = await m.orig.issueInitial('hank', { now: m.t, absTtlSeconds: 3600, deviceId: 'k' })
  const r1 = await m.orig.verifyAndRotateRefresh({ rid: r0.rid, deviceId: 'k', now: m.t + 1 })
  const r2 = await m.orig.verifyAndRotateRefresh({ rid: r1.newRid.rid, deviceId: 'k', now: m.t + 2 })
  const r3 = await m.orig.verifyAndRotateRefresh({ rid: r2.newRid.rid, deviceId: 'k', now: m.t + 3 })
  const other = await m.orig.issueInitial('hank', { now: m.t, absTtlSeconds: 3600, deviceId: 'k2' })
  const lineage = [r0.rid, r1.newRid.rid, r2.newRid.rid, r3.newRid.rid]
  // From the middle of the lineage.
  await m.nat.tombstoneLineage(r1.newRid.rid)
  for (const rid of lineage) assert.equal(await m.status(rid), 'tombstoned', rid)
  for (const s of [m.orig, m.nat]) await rejects(s.verifyAndRotateRefresh({ rid: r3.newRid.rid, deviceId: 'k', now: m.t + 4 }), 'rotate_fail:ERR_REPLAY')
  assert.deepEqual(await m.index('hank'), [m.key(other.rid)])
  assert.equal(await m.device('hank', 'k'), null)
  assert.equal(await m.status(other.rid), 'active')
  assert.equal(await m.device('hank', 'k2'), m.key(other.rid))
})

test('a mixed lineage (original, native, original) ended by this package from its first rid', async () => {
  const m = await shared()
  const r0 = await m.orig.issueInitial('ida', { now: m.t, absTtlSeconds: 3600 })
  const r1 = await m.nat.verifyAndRotateRefresh({ rid: r0.rid, now: m.t + 1 })
  const r2 = await m.orig.verifyAndRotateRefresh({ rid: r1.newRid.rid, now: m.t + 2 })
  await m.nat.tombstoneLineage(r0.rid)
  for (const rid of [r0.rid, r1.newRid.rid, r2.newRid.rid]) assert.equal(await m.status(rid), 'tombstoned')
  assert.deepEqual(await m.index('ida'), [])
  // The original's tombstoneLineage, by contrast, ends only the rid given.
  const s0 = await m.nat.issueInitial('ida', { now: m.t, absTtlSeconds: 3600 })
  const s1 = await m.nat.verifyAndRotateRefresh({ rid: s0.rid, now: m.t + 1 })
  await m.orig.tombstoneLineage(s0.rid)
  assert.equal(await m.status(s0.rid), 'tombstoned')
  assert.equal(await m.status(s1.newRid.rid), 'active')
})

test("an original index shrunk by a short session: this package's gcOrphans re-indexes, then tombstoneLineage reaches every session", async () => {
  const m = await shared()
  const long = await m.orig.issueInitial('jack', { now: m.t, absTtlSeconds: 3600 })
  const long1 = await m.orig.verifyAndRotateRefresh({ rid: long.rid, now: m.t + 1 })
  // The original sets the index's expiry to each new session's absExpAt: a session that
  // is already past it (clock skew, a short TTL that ran out) deletes the index at once.
  await m.orig.issueInitial('jack', { now: m.t - 1000, absTtlSeconds: 10 })
  assert.deepEqual(await m.index('jack'), [], 'the original lost the index')
  assert.equal(await m.status(long1.newRid.rid), 'active')
  // Not indexed, the active session is invisible to listing by both.
  assert.deepEqual(await m.nat.scanRids('jack'), [])
  const gc = await m.nat.gcOrphans()
  assert.equal(gc.addedToSets, 1)
  assert.deepEqual(await m.nat.scanRids('jack'), [long1.newRid.rid])
  await m.nat.tombstoneLineage(long.rid)
  assert.equal(await m.status(long1.newRid.rid), 'tombstoned')
  assert.deepEqual(await m.index('jack'), [])
})

test('without gcOrphans, an unindexed descendant written by the original survives tombstoneLineage of its root (known limitation)', async () => {
  const m = await shared()
  const root = await m.orig.issueInitial('kate', { now: m.t, absTtlSeconds: 3600 })
  const child = await m.orig.verifyAndRotateRefresh({ rid: root.rid, now: m.t + 1 })
  await m.orig.issueInitial('kate', { now: m.t - 1000, absTtlSeconds: 10 })
  // Descendants are found through the user's index (there are no child pointers), and the
  // original lost it: from the root, only the root is reached.
  await m.nat.tombstoneLineage(root.rid)
  assert.equal(await m.status(root.rid), 'tombstoned')
  // Tombstoning from the active end instead reaches the whole lineage through parentRid.
  assert.equal(await m.status(child.newRid.rid), 'active', 'limitation: not reached through the lost index')
  await m.nat.tombstoneLineage(child.newRid.rid)
  assert.equal(await m.status(child.newRid.rid), 'tombstoned')
})

test('both implementations interleaved on one user: listing, device keys and gc stay consistent', async () => {
  const m = await shared()
  const sessions = []
  for (let i = 0; i < 6; i++) {
    const s = i % 2 ? m.nat : m.orig
    sessions.push((await s.issueInitial('liz', { now: m.t, absTtlSeconds: 3600, deviceId: `dev${i % 3}` })).rid)
  }
  // Rotate each session through the other implementation.
  const active = []
  for (let i = 0; i < sessions.length; i++) {
    const s = i % 2 ? m.orig : m.nat
    active.push((await s.verifyAndRotateRefresh({ rid: sessions[i], deviceId: `dev${i % 3}`, now: m.t + 1 })).newRid.rid)
  }
  assert.deepEqual((await m.nat.scanRids('liz')).sort(), [...active].sort())
  // Device keys point at the newest session of each device.
  for (let d = 0; d < 3; d++) assert.equal(await m.device('liz', `dev${d}`), m.key(active[d + 3]))
  for (const s of [m.orig, m.nat]) {
    const r = await s.gcOrphans()
    assert.deepEqual([r.removedFromSets, r.addedToSets, r.deletedRidHashes], [0, 0, 0])
  }
  await m.orig.logoutDevice('liz', 'dev0')
  await m.nat.logoutDevice('liz', 'dev1')
  assert.deepEqual((await m.nat.scanRids('liz')).sort(), [active[0], active[2], active[5]].sort())
  await m.orig.logoutAll('liz')
  assert.deepEqual(await m.nat.scanRids('liz'), [])
  for (const rid of [...sessions, ...active]) assert.notEqual(await m.status(rid), 'active')
})
