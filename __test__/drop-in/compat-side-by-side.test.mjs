// Side by side: the same operations through the original (@devcoons/redis-session-store
// 0.1.0) and through this package, on two prefixes of one Redis. After each step the
// results (rids replaced by tokens R0, R1, ...), the error messages and everything both
// wrote under their prefix are compared. Where this package deviates on purpose (each
// deviation in COMPATIBILITY.md), the test states the exact difference it expects; every other difference
// fails the test.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makePair, Duo } from './compat-lib.mjs'
import { nowSeconds, redisUrl } from '../shared/helpers.mjs'

const url = await redisUrl()

const DAY = 24 * 3600

async function duo() {
  const pair = await makePair(url, { name: 'sbs' })
  return new Duo(pair, nowSeconds())
}

/** A duo where `user` has the lineage R0 → R1 (rotated at base + 1) and a second one, S0. */
async function duoWithTwoLineages(user) {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial(user, { now: t, absTtlSeconds: 3600 }), { newToken: 'R0' })
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + 1 }), { newToken: 'R1' })
  await d.run((s) => s.issueInitial(user, { now: t, absTtlSeconds: 3600 }), { newToken: 'S0' })
  return d
}

/** Both sides gave the same result (or error message); returns it. */
function same(r, expected) {
  assert.deepEqual(r.nat, r.orig, 'same result on both sides')
  if (expected !== undefined) assert.deepEqual(r.orig, expected)
  return r.orig
}

/** Both sides rejected with `message`; this package's error is an Error with a code. */
function sameError(r, message, code) {
  assert.equal(r.orig.err?.message, message, 'original rejects')
  assert.equal(r.nat.err?.message, message, 'native rejects with the same message')
  assert.equal(r.nat.err.isError, true)
  assert.equal(r.nat.err.code, code)
}

const fields = (userId, parentRid, createdAt, expAt, absExpAt, deviceId, uaHash, ipHash, status) => ({
  userId,
  parentRid,
  createdAt,
  expAt,
  absExpAt,
  deviceId,
  uaHash,
  ipHash,
  status,
})

test('issue, rotation, replay, missing rid, bindings, expiry: the whole life of a lineage', async () => {
  const d = await duo()
  const t = d.base
  const abs = 30 * DAY
  // Issue with every binding value.
  same(await d.run((s) => s.issueInitial('alice', { now: t, absTtlSeconds: abs, deviceId: 'phone', uaHash: 'ua1', ipHash: 'ip1' }), { newToken: 'R0' }), {
    ok: { rid: 'R0', absExp: `t+${abs}` },
  })
  assert.deepEqual(await d.diff(), [], 'identical data after issue')
  same(await d.run((s, rid) => s.getRid(rid('R0'))), { ok: fields('alice', '', 't+0', `t+${2 * DAY}`, `t+${abs}`, 'phone', 'ua1', 'ip1', 'active') })
  const snap = (await d.snapshots()).orig
  assert.deepEqual(
    snap['rid:R0'].fields.map(([f]) => f),
    ['userId', 'parentRid', 'createdAt', 'expAt', 'absExpAt', 'deviceId', 'uaHash', 'ipHash', 'status'],
    'field order',
  )
  assert.deepEqual(snap['device:alice:phone'], { type: 'string', exp: `t+${abs}`, value: 'rid:R0' })
  assert.deepEqual(snap['user:alice:rids'], { type: 'set', exp: `t+${abs}`, members: ['rid:R0'] })

  // Rotation with the same binding.
  same(
    await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'phone', uaHash: 'ua1', ipHash: 'ip1', now: t + 10 }), { newToken: 'R1' }),
    { ok: { userId: 'alice', newRid: { rid: 'R1', absExp: `t+${abs}` } } },
  )
  same(await d.run((s, rid) => s.getRid(rid('R1'))), { ok: fields('alice', 'R0', 't+10', `t+${10 + 7 * DAY}`, `t+${abs}`, 'phone', 'ua1', 'ip1', 'active') })
  same(await d.run((s, rid) => s.getRid(rid('R0'))), { ok: fields('alice', '', 't+0', `t+${2 * DAY}`, `t+${abs}`, 'phone', 'ua1', 'ip1', 'used') })
  // Deviation (the index holds active sessions): the used parent leaves the index.
  const rotationDeviation = [['user:alice:rids', 'members', ['rid:R0', 'rid:R1'], ['rid:R1']]]
  assert.deepEqual(await d.diff(), rotationDeviation)

  // Replay of the used parent.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'phone', now: t + 11 })), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
  assert.deepEqual(await d.diff(), rotationDeviation, 'a replay writes nothing')

  // A rid that does not exist.
  const ghost = d.ghost()
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid(ghost), now: t + 12 })), 'not_found', 'ERR_NOT_FOUND')

  // Each binding mismatch.
  for (const input of [{ deviceId: 'laptop' }, { uaHash: 'ua2' }, { ipHash: 'ip2' }, { deviceId: 'phone', uaHash: 'ua1', ipHash: 'ipX' }]) {
    sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), ...input, now: t + 13 })), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
  }
  assert.deepEqual(await d.diff(), rotationDeviation, 'failed rotations write nothing')

  // Absolute expiry: now > absExpAt fails, now == absExpAt still rotates.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), now: t + abs + 1 })), 'expired_abs', 'ERR_EXPIRED_ABS')
  // Expiry is checked before replay, in both.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + abs + 1 })), 'expired_abs', 'ERR_EXPIRED_ABS')
  assert.deepEqual(await d.diff(), rotationDeviation)

  // Unbound rotation: no binding values given; the child carries none, and the device
  // key stays on the parent (a child is only written there when a deviceId is given).
  same(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), deviceId: '', now: t + abs }), { newToken: 'R2' }), {
    ok: { userId: 'alice', newRid: { rid: 'R2', absExp: `t+${abs}` } },
  })
  same(await d.run((s, rid) => s.getRid(rid('R2'))), { ok: fields('alice', 'R1', `t+${abs}`, `t+${abs}`, `t+${abs}`, '', '', '', 'active') })
  assert.deepEqual(await d.diff(), [['user:alice:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2'], ['rid:R2']]])
  const snap2 = await d.snapshots()
  assert.equal(snap2.orig['device:alice:phone'].value, 'rid:R1')
  assert.equal(snap2.nat['device:alice:phone'].value, 'rid:R1')

  // The unbound child stores "" for each binding value, and a given non-empty value is
  // compared with that "": a later rotation that gives one is refused, in both.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R2'), uaHash: 'ua1', now: t + 20 })), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
})

test('a deviceless session rotated with a device, and unbound issue', async () => {
  const d = await duo()
  const t = d.base
  same(await d.run((s) => s.issueInitial('bob', { now: t, absTtlSeconds: 3600 }), { newToken: 'R0' }), { ok: { rid: 'R0', absExp: 't+3600' } })
  same(await d.run((s) => s.issueInitial('bob', { now: t, absTtlSeconds: 3600, deviceId: '', uaHash: '', ipHash: '' }), { newToken: 'R1' }), {
    ok: { rid: 'R1', absExp: 't+3600' },
  })
  assert.deepEqual(await d.diff(), [])
  const { orig } = await d.snapshots()
  assert.equal(
    Object.keys(orig).some((k) => k.startsWith('device:')),
    false,
    'no device key without deviceId',
  )
  // Stored deviceId "" differs from the given one: both refuse (the original's rule).
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'tablet', now: t + 1 })), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
  assert.deepEqual(await d.diff(), [])
  // The same for ua/ip: a stored "" is compared with a given non-empty value. Given
  // nothing, it rotates.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), ipHash: 'ip', now: t + 1 })), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
  same(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + 1 }), { newToken: 'R2' }), {
    ok: { userId: 'bob', newRid: { rid: 'R2', absExp: 't+3600' } },
  })
  assert.deepEqual(await d.diff(), [['user:bob:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2'], ['rid:R1', 'rid:R2']]])
})

test('logout: same, except the device key pointing at the session is deleted too', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('carol', { now: t, absTtlSeconds: 3600, deviceId: 'd1' }), { newToken: 'R0' })
  await d.run((s) => s.issueInitial('carol', { now: t, absTtlSeconds: 3600, deviceId: 'd2' }), { newToken: 'R1' })
  same(await d.run((s, rid) => s.logout(rid('R0'))), { ok: undefined })
  same(await d.run((s, rid) => s.getRid(rid('R0'))), { ok: fields('carol', '', 't+0', 't+3600', 't+3600', 'd1', '', '', 'tombstoned') })
  // Deviation (COMPATIBILITY: logout deletes the device key if it points at the session).
  assert.deepEqual(await d.diff(), [['device:carol:d1', 'only in original']])
  // A rotation of the logged-out rid is a replay in both.
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + 1 })), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
  // Logging out the same rid again changes nothing.
  same(await d.run((s, rid) => s.logout(rid('R0'))), { ok: undefined })
  assert.deepEqual(await d.diff(), [['device:carol:d1', 'only in original']])
})

test('logout / tombstoneLineage / logoutAll of a missing rid: the original writes a hash without expiry, this package nothing', async () => {
  const d = await duo()
  const g1 = d.ghost()
  const g2 = d.ghost()
  same(await d.run((s, rid) => s.logout(rid(g1))), { ok: undefined })
  same(await d.run((s, rid) => s.tombstoneLineage(rid(g2))), { ok: undefined })
  // Deviation (a missing rid writes nothing): the original creates { status: tombstoned } hashes
  // that never expire.
  assert.deepEqual(await d.diff(), [
    [`rid:${g1}`, 'only in original'],
    [`rid:${g2}`, 'only in original'],
  ])
  const { orig, nat } = await d.snapshots()
  assert.deepEqual(orig[`rid:${g1}`], { type: 'hash', exp: -1, fields: [['status', 'tombstoned']] })
  assert.deepEqual(nat, {})
  // getRid of such a hash: the original returns it, this package has none.
  const r = await d.run((s, rid) => s.getRid(rid(g1)))
  assert.deepEqual(r.orig, { ok: { status: 'tombstoned' } })
  assert.deepEqual(r.nat, { ok: null })
  // logoutAll of a user with no sessions writes nothing in both.
  same(await d.run((s) => s.logoutAll('nobody')), { ok: undefined })
  same(await d.run((s) => s.logoutDevice('nobody', 'dev')), { ok: undefined })
  assert.deepEqual(await d.diff(), [
    [`rid:${g1}`, 'only in original'],
    [`rid:${g2}`, 'only in original'],
  ])
})

test('logoutAll of an index holding a member whose hash is gone', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('dave', { now: t, absTtlSeconds: 3600 }), { newToken: 'R0' })
  await d.run((s) => s.issueInitial('dave', { now: t, absTtlSeconds: 3600 }), { newToken: 'R1' })
  // The hash of R0 disappears (e.g. evicted); its index entry stays.
  for (const side of ['orig', 'nat']) {
    const prefix = side === 'orig' ? d.pair.origPrefix : d.pair.natPrefix
    await d.pair.client.del(`${prefix}:rid:${d.maps[side].rid('R0')}`)
  }
  same(await d.run((s) => s.logoutAll('dave')), { ok: undefined })
  // Deviation (write nothing for a missing rid): the original re-creates R0 as a bare
  // tombstoned hash without expiry.
  assert.deepEqual(await d.diff(), [['rid:R0', 'only in original']])
  const { orig } = await d.snapshots()
  assert.deepEqual(orig['rid:R0'], { type: 'hash', exp: -1, fields: [['status', 'tombstoned']] })
  assert.equal(orig['user:dave:rids'], undefined, 'index deleted')
  assert.equal(orig['rid:R1'].fields.find(([f]) => f === 'status')[1], 'tombstoned')
})

test('logoutDevice: the original ends the newest session of the device, this package every one', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('erin', { now: t, absTtlSeconds: 3600, deviceId: 'tv' }), { newToken: 'R0' })
  await d.run((s) => s.issueInitial('erin', { now: t, absTtlSeconds: 3600, deviceId: 'tv' }), { newToken: 'R1' })
  await d.run((s) => s.issueInitial('erin', { now: t, absTtlSeconds: 3600, deviceId: 'pc' }), { newToken: 'R2' })
  assert.deepEqual(await d.diff(), [])
  same(await d.run((s) => s.logoutDevice('erin', 'tv')), { ok: undefined })
  // Deviation (logoutDevice ends every session bound to the device).
  assert.deepEqual(await d.diff(), [
    ['rid:R0', 'field', 'status', 'active', 'tombstoned'],
    ['user:erin:rids', 'members', ['rid:R0', 'rid:R2'], ['rid:R2']],
  ])
  // Consequence: R0 still rotates in the original, it is a replay here.
  const r = await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'tv', now: t + 1 }))
  assert.equal(r.orig.ok?.userId, 'erin')
  assert.equal(r.nat.err?.message, 'rotate_fail:ERR_REPLAY')
  // Both agree on the newest session and on the other device.
  const snaps = await d.snapshots()
  for (const side of ['orig', 'nat']) {
    assert.equal(snaps[side]['rid:R1'].fields.find(([f]) => f === 'status')[1], 'tombstoned')
    assert.equal(snaps[side]['rid:R2'].fields.find(([f]) => f === 'status')[1], 'active')
  }
})

test('logoutDevice of a rotated session and of a device without key', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('fay', { now: t, absTtlSeconds: 3600, deviceId: 'm' }), { newToken: 'R0' })
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'm', now: t + 1 }), { newToken: 'R1' })
  same(await d.run((s) => s.logoutDevice('fay', 'm')), { ok: undefined })
  // Same outcome for the active child. The original's index still lists the used parent
  // R0 (rotation deviation); this package's index is empty and therefore gone.
  assert.deepEqual(await d.diff(), [['user:fay:rids', 'only in original']])
  assert.deepEqual((await d.snapshots()).orig['user:fay:rids'].members, ['rid:R0'])
  sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), deviceId: 'm', now: t + 2 })), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')

  // Two logins on device w; the newest is logged out. The original keeps the device key
  // pointing at the tombstoned session, this package deleted it (logout deviation).
  await d.run((s) => s.issueInitial('fay', { now: t, absTtlSeconds: 3600, deviceId: 'w' }), { newToken: 'W0' })
  await d.run((s) => s.issueInitial('fay', { now: t, absTtlSeconds: 3600, deviceId: 'w' }), { newToken: 'W1' })
  await d.run((s, rid) => s.logout(rid('W1')))
  assert.deepEqual(await d.diff(), [
    ['device:fay:w', 'only in original'],
    ['user:fay:rids', 'members', ['rid:R0', 'rid:W0'], ['rid:W0']],
  ])
  // logoutDevice: the original follows its stale key to W1 and leaves W0 active; this
  // package has no key but ends W0, the device's remaining session.
  same(await d.run((s) => s.logoutDevice('fay', 'w')), { ok: undefined })
  assert.deepEqual(await d.diff(), [
    ['rid:W0', 'field', 'status', 'active', 'tombstoned'],
    ['user:fay:rids', 'only in original'],
  ])
  assert.deepEqual((await d.snapshots()).orig['user:fay:rids'].members, ['rid:R0', 'rid:W0'])
})

test('logoutAll: sessions tombstoned and index deleted; used parents and device keys differ as documented', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('gus', { now: t, absTtlSeconds: 3600, deviceId: 'a' }), { newToken: 'R0' })
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'a', now: t + 1 }), { newToken: 'R1' })
  await d.run((s) => s.issueInitial('gus', { now: t, absTtlSeconds: 3600 }), { newToken: 'R2' })
  same(await d.run((s) => s.logoutAll('gus')), { ok: undefined })
  assert.deepEqual(await d.diff(), [
    // The original's index still listed the used parent, so it is tombstoned there; here
    // it stays `used` (rotation deviation: the index holds active sessions only).
    ['device:gus:a', 'only in original'],
    ['rid:R0', 'field', 'status', 'tombstoned', 'used'],
  ])
  // The device key: the original leaves it pointing at the tombstoned session; this
  // package deletes it as logout does (see COMPATIBILITY "Verified by tests").
  for (const token of ['R0', 'R1', 'R2']) {
    sameError(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid(token), now: t + 2 })), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
  }
  same(await d.run((s) => s.scanRids('gus')), { ok: [] })
})

test('tombstoneLineage: the original tombstones one rid, this package the whole lineage', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('hal', { now: t, absTtlSeconds: 3600, deviceId: 'k' }), { newToken: 'R0' })
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), deviceId: 'k', now: t + 1 }), { newToken: 'R1' })
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), deviceId: 'k', now: t + 2 }), { newToken: 'R2' })
  await d.run((s) => s.issueInitial('hal', { now: t, absTtlSeconds: 3600 }), { newToken: 'S0' })
  same(await d.run((s, rid) => s.tombstoneLineage(rid('R1'))), { ok: undefined })
  assert.deepEqual(await d.diff(), [
    ['device:hal:k', 'only in original'],
    ['rid:R0', 'field', 'status', 'used', 'tombstoned'],
    ['rid:R2', 'field', 'status', 'active', 'tombstoned'],
    ['user:hal:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2', 'rid:S0'], ['rid:S0']],
  ])
  // The active end of the lineage still rotates in the original.
  const r = await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R2'), deviceId: 'k', now: t + 3 }))
  assert.equal(r.orig.ok?.userId, 'hal')
  assert.equal(r.nat.err?.message, 'rotate_fail:ERR_REPLAY')
  // The other lineage is untouched in both.
  same(await d.run((s, rid) => s.getRid(rid('S0'))), { ok: fields('hal', '', 't+0', 't+3600', 't+3600', '', '', '', 'active') })
})

test('scanRids: the original lists full keys of active and used sessions, this package bare active rids', async () => {
  const d = await duoWithTwoLineages('ivy')
  const r = await d.run((s) => s.scanRids('ivy'))
  assert.deepEqual([...r.orig.ok].sort(), ['rid:R0', 'rid:R1', 'rid:S0'])
  assert.deepEqual([...r.nat.ok].sort(), ['R1', 'S0'])
  // Normalised (active only, prefix stripped) they agree.
  const snaps = await d.snapshots()
  const activeOrig = r.orig.ok
    .filter((k) => snaps.orig[k].fields.find(([f]) => f === 'status')[1] === 'active')
    .map((k) => k.slice('rid:'.length))
    .sort()
  assert.deepEqual(activeOrig, [...r.nat.ok].sort())
  same(await d.run((s) => s.scanRids('nobody')), { ok: [] })
})

test('index expiry: the original lets a shorter session shrink it, this package only grows it', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('jo', { now: t, absTtlSeconds: 5000 }), { newToken: 'R0' })
  await d.run((s) => s.issueInitial('jo', { now: t, absTtlSeconds: 100 }), { newToken: 'R1' })
  assert.deepEqual(await d.diff(), [['user:jo:rids', 'exp', 't+100', 't+5000']])
  // Rotation of the long session sets the lineage's absExpAt in both.
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + 1 }), { newToken: 'R2' })
  assert.deepEqual(await d.diff(), [['user:jo:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2'], ['rid:R1', 'rid:R2']]])
  await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), now: t + 1 }), { newToken: 'R3' })
  assert.deepEqual(await d.diff(), [
    ['user:jo:rids', 'exp', 't+100', 't+5000'],
    ['user:jo:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2', 'rid:R3'], ['rid:R2', 'rid:R3']],
  ])
})

test('expAt caps (2 days at issue, 7 days at rotation) and absTtl fallbacks', async () => {
  const d = await duo()
  const t = d.base
  same(await d.run((s) => s.issueInitial('kim', { now: t, absTtlSeconds: 90 * DAY }), { newToken: 'R0' }))
  same(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R0'), now: t + 5 }), { newToken: 'R1' }))
  same(await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('R1'), now: t + 90 * DAY - 60 }), { newToken: 'R2' }))
  const snaps = await d.snapshots()
  const f = (side, tok) => Object.fromEntries(snaps[side][`rid:${tok}`].fields)
  for (const side of ['orig', 'nat']) {
    assert.equal(f(side, 'R0').expAt, `t+${2 * DAY}`)
    assert.equal(f(side, 'R1').expAt, `t+${5 + 7 * DAY}`)
    assert.equal(f(side, 'R2').expAt, `t+${90 * DAY}`)
  }
  assert.deepEqual(await d.diff(), [['user:kim:rids', 'members', ['rid:R0', 'rid:R1', 'rid:R2'], ['rid:R2']]])
})

test('non-integer now and absTtlSeconds, absent absTtlSeconds: the original fails half-way, this package floors / rounds up / falls back', async () => {
  const d = await duo()
  const t = d.base
  // Fractional now: the original stores it, then EXPIREAT rejects the float; the hash is
  // left behind without expiry and the caller gets a Redis error.
  const r1 = await d.run((s) => s.issueInitial('lee', { now: t + 0.5, absTtlSeconds: 100 }), { newToken: 'R0' })
  assert.match(r1.orig.err?.message ?? '', /not an integer/)
  assert.equal(r1.nat.ok?.absExp, 't+100', 'floored')
  // Fractional absTtlSeconds.
  const r2 = await d.run((s) => s.issueInitial('lee', { now: t, absTtlSeconds: 99.2 }), { newToken: 'R1' })
  assert.match(r2.orig.err?.message ?? '', /not an integer/)
  assert.equal(r2.nat.ok?.absExp, 't+100', 'rounded up')
  // Absent absTtlSeconds (the types require it): the original computes NaN.
  const r3 = await d.run((s) => s.issueInitial('lee', { now: t }), { newToken: 'R2' })
  assert.ok(r3.orig.err, 'original fails')
  assert.equal(r3.nat.ok?.absExp, 't+3600', 'cfg.absTtlSeconds')
  const { orig, nat } = await d.snapshots()
  const origGarbage = Object.entries(orig).filter(([k, v]) => k.startsWith('rid:') && v.exp === -1)
  assert.equal(origGarbage.length, 3, 'the original left three hashes without expiry')
  assert.ok(
    Object.values(nat).every((v) => v.exp !== -1),
    'everything this package wrote expires',
  )
  assert.deepEqual(Object.fromEntries(nat['rid:R0'].fields), fields('lee', '', 't+0', 't+100', 't+100', '', '', '', 'active'))
})

test('bad input: this package rejects with a TypeError and writes nothing, the original writes or fails otherwise', async () => {
  const d = await duo()
  const t = d.base
  const cases = [
    (s) => s.issueInitial(42, { now: t, absTtlSeconds: 60 }),
    (s) => s.issueInitial('', { now: t, absTtlSeconds: 60 }),
    (s) => s.issueInitial('u', { now: -1, absTtlSeconds: 60 }),
    (s) => s.issueInitial('u', { now: t, absTtlSeconds: 0 }),
    (s) => s.issueInitial('u', { now: t, absTtlSeconds: 60, deviceId: 7 }),
    (s) => s.verifyAndRotateRefresh({ rid: '', now: t }),
    (s) => s.logout(''),
    (s) => s.logoutDevice('u', ''),
    (s) => s.gcOrphans({ graceSeconds: -1 }),
  ]
  for (const c of cases) {
    const r = await d.run(c)
    assert.equal(r.nat.err?.name, 'TypeError', `native rejects ${c}`)
    assert.equal(r.nat.err.code, 'ERR_INVALID_ARG')
  }
  const { nat } = await d.snapshots()
  assert.deepEqual(nat, {}, 'nothing written')
  const { orig } = await d.snapshots()
  assert.ok(Object.keys(orig).length > 0, 'the original wrote something for bad input')
})

test('getRid: same hash and field order, null for unknown', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('max', { now: t, absTtlSeconds: 3600, deviceId: 'x', uaHash: 'u', ipHash: 'i' }), { newToken: 'R0' })
  const r = same(await d.run((s, rid) => s.getRid(rid('R0'))))
  const n = await d.pair.nat.getRid(d.maps.nat.rid('R0'))
  const o = await d.pair.orig.getRid(d.maps.orig.rid('R0'))
  assert.deepEqual(Object.keys(n), Object.keys(o))
  assert.equal(r.ok.status, 'active')
  same(await d.run((s, rid) => s.getRid(rid(d.ghost()))), { ok: null })
})

test('gcOrphans: same counts and effects; the report is the superset of both documented shapes', async () => {
  const d = await duoWithTwoLineages('ned')
  const t = d.base
  await d.run((s) => s.issueInitial('ola', { now: t, absTtlSeconds: 3600 }), { newToken: 'T0' })
  // Orphans made by hand on both sides: an index member whose hash is gone, a hash
  // without userId, an active session missing from its index, and a used session past
  // its absExpAt that has no expiry.
  const ghost = d.ghost()
  for (const side of ['orig', 'nat']) {
    const p = side === 'orig' ? d.pair.origPrefix : d.pair.natPrefix
    const rid = (tok) => d.maps[side].rid(tok)
    const c = d.pair.client
    await c.del(`${p}:rid:${rid('S0')}`)
    await c.hset(`${p}:rid:${rid(ghost)}`, 'status', 'tombstoned')
    await c.srem(`${p}:user:ola:rids`, `${p}:rid:${rid('T0')}`)
    await c.hset(`${p}:rid:${rid('R0')}`, 'absExpAt', String(t - 100))
    await c.persist(`${p}:rid:${rid('R0')}`)
  }
  const before = await d.diff()
  const dry = await d.run((s) => s.gcOrphans({ dryRun: true }))
  const common = { scannedUserSets: 1, scannedRids: 4, removedFromSets: 1, addedToSets: 1, deletedRidHashes: 2 }
  assert.deepEqual(dry.orig.ok, common)
  assert.deepEqual(dry.nat.ok, { ...common, removedRids: 2, dryRun: true })
  assert.deepEqual(await d.diff(), before, 'a dry run writes nothing')
  const real = await d.run((s) => s.gcOrphans({ graceSeconds: 0 }))
  assert.deepEqual(real.orig.ok, { ...common, scannedUserSets: 1 })
  assert.deepEqual(real.nat.ok, { ...common, removedRids: 2, dryRun: false })
  // After collection both hold R1 (indexed) and T0 (re-indexed). Difference: the
  // original re-creates ola's index without expiry; this package gives it T0's absExpAt.
  assert.deepEqual(await d.diff(), [['user:ola:rids', 'exp', -1, 't+3600']])
  const { nat } = await d.snapshots()
  assert.deepEqual(Object.keys(nat), ['rid:R1', 'rid:T0', 'user:ned:rids', 'user:ola:rids'])
  // No options, and null (accepted by this package as no options).
  same(await d.run((s) => s.gcOrphans().then((r) => r.addedToSets + r.deletedRidHashes + r.removedFromSets)), { ok: 0 })
  const n = await d.run((s) => s.gcOrphans(null))
  assert.equal(n.nat.ok?.dryRun, false)
  assert.equal(n.orig.ok?.scannedRids, 2)
})

test("':' in ids: the original's logoutDevice reaches another user's session, this package does not", async () => {
  const d = await duo()
  const t = d.base
  // User "a" on device "b:phone" and user "a:b" on device "phone" share the device key
  // {prefix}:device:a:b:phone in both implementations.
  await d.run((s) => s.issueInitial('a:b', { now: t, absTtlSeconds: 3600, deviceId: 'phone' }), { newToken: 'V0' })
  assert.deepEqual(await d.diff(), [])
  same(await d.run((s) => s.logoutDevice('a', 'b:phone')), { ok: undefined })
  // The victim's session is tombstoned by the original (and left in its index).
  assert.deepEqual(await d.diff(), [
    ['device:a:b:phone', 'only in native'],
    ['rid:V0', 'field', 'status', 'tombstoned', 'active'],
  ])
  const r = await d.run((s, rid) => s.verifyAndRotateRefresh({ rid: rid('V0'), deviceId: 'phone', now: t + 1 }))
  assert.equal(r.orig.err?.message, 'rotate_fail:ERR_REPLAY')
  assert.equal(r.nat.ok?.userId, 'a:b')
})

test('errors: same messages; this package adds a code and they are Error instances', async () => {
  const d = await duo()
  const t = d.base
  await d.run((s) => s.issueInitial('pat', { now: t, absTtlSeconds: 3600, deviceId: 'z' }), { newToken: 'R0' })
  const cases = [
    [{ rid: d.ghost(), now: t }, 'not_found', 'ERR_NOT_FOUND'],
    [{ rid: 'R0', now: t + 3601 }, 'expired_abs', 'ERR_EXPIRED_ABS'],
    [{ rid: 'R0', deviceId: 'q', now: t }, 'rotate_fail:ERR_BINDING', 'ERR_BINDING'],
  ]
  for (const [input, message, code] of cases) {
    const r = await d.run((s, rid) => s.verifyAndRotateRefresh({ ...input, rid: rid(input.rid) }))
    sameError(r, message, code)
    assert.equal(r.orig.err.isError, true)
    assert.equal(r.nat.err.name, 'Error')
    assert.equal(r.orig.err.name, 'Error')
  }
})

test('logoutAll and gcOrphans over many sessions (several batches and SCAN pages)', async () => {
  const d = await duo()
  const t = d.base
  const N = 700
  // Issue N sessions on both sides, rotate every seventh.
  const burst = async (fn, tokens) => {
    for (let i = 0; i < tokens.length; i += 100) {
      const slice = tokens.slice(i, i + 100)
      for (const side of ['orig', 'nat']) {
        const store = side === 'orig' ? d.pair.orig : d.pair.nat
        // In order, so that device keys point at the same session on both sides.
        for (let j = 0; j < slice.length; j++) {
          const r = await fn(store, (x) => d.maps[side].rid(x), i + j)
          d.maps[side].add(slice[j], r.newRid?.rid ?? r.rid)
        }
      }
    }
  }
  const issued = Array.from({ length: N }, (_, i) => `R${i}`)
  await burst((s, _rid, i) => s.issueInitial(i % 2 ? 'quinn' : 'rae', { now: t, absTtlSeconds: 3600, ...(i % 3 ? {} : { deviceId: `d${i % 5}` }) }), issued)
  const rotated = issued.filter((_, i) => i % 7 === 0)
  await burst(
    (s, rid, i) => s.verifyAndRotateRefresh({ rid: rid(rotated[i]), now: t + 1 }),
    rotated.map((x) => `C${x}`),
  )
  // Orphans: every eleventh session's hash disappears.
  for (const side of ['orig', 'nat']) {
    const p = side === 'orig' ? d.pair.origPrefix : d.pair.natPrefix
    const keys = issued.filter((_, i) => i % 11 === 5).map((tok) => `${p}:rid:${d.maps[side].rid(tok)}`)
    await d.pair.client.del(...keys)
  }
  const dry = await d.run((s) => s.gcOrphans({ dryRun: true }))
  const gc = await d.run((s) => s.gcOrphans())
  // Deleted hashes of used parents are dangling members of the original's index only
  // (rotation deviation), so it removes that many more members.
  const deleted = issued.filter((_, i) => i % 11 === 5)
  const deletedParents = deleted.filter((tok) => rotated.includes(tok)).length
  assert.ok(deletedParents > 0)
  for (const r of [dry, gc]) {
    const { removedRids, dryRun, ...common } = r.nat.ok
    assert.deepEqual(common, { ...r.orig.ok, removedFromSets: r.orig.ok.removedFromSets - deletedParents })
    assert.equal(removedRids, r.orig.ok.deletedRidHashes)
    assert.equal(dryRun, r === dry)
  }
  assert.equal(gc.orig.ok.scannedRids, N + rotated.length - deleted.length)
  assert.equal(gc.orig.ok.removedFromSets, deleted.length)
  // Before logoutAll the indexes differ by the used parents only (rotation deviation).
  const pre = await d.diff()
  assert.deepEqual(
    pre.map((e) => e.slice(0, 2)),
    [
      ['user:quinn:rids', 'members'],
      ['user:rae:rids', 'members'],
    ],
  )
  for (const [, , o, n] of pre) assert.ok(n.every((m) => o.includes(m)))
  const extra = pre.flatMap(([, , o, n]) => o.filter((m) => !n.includes(m)))
  assert.deepEqual(
    extra.sort(),
    rotated
      .filter((tok) => !deleted.includes(tok))
      .map((tok) => `rid:${tok}`)
      .sort(),
  )
  // Device keys this package deletes: those pointing at a session it ends (an active,
  // indexed one); keys pointing at a used parent or a vanished hash stay, as in the original.
  const before = (await d.snapshots()).nat
  const endedDeviceKeys = Object.keys(before).filter(
    (k) => k.startsWith('device:') && before[before[k].value]?.fields.some(([f, v]) => f === 'status' && v === 'active'),
  )
  same(await d.run((s) => s.logoutAll('quinn')), { ok: undefined })
  same(await d.run((s) => s.logoutAll('rae')), { ok: undefined })
  // The only differences: used parents (kept in the original's index) are tombstoned
  // there and stay `used` here; device keys of ended sessions are deleted here.
  const diff = await d.diff()
  const { orig } = await d.snapshots()
  const usedParents = rotated.filter((tok) => orig[`rid:${tok}`])
  assert.ok(usedParents.length > 50 && endedDeviceKeys.length > 0)
  assert.deepEqual(
    diff,
    [...endedDeviceKeys.map((k) => [k, 'only in original']), ...usedParents.map((tok) => [`rid:${tok}`, 'field', 'status', 'tombstoned', 'used'])].sort(
      (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
    ),
  )
  const snaps = await d.snapshots()
  for (const side of ['orig', 'nat']) {
    const active = Object.values(snaps[side]).filter((e) => e.type === 'hash' && e.fields.some(([f, v]) => f === 'status' && v === 'active'))
    assert.equal(active.length, 0, `${side}: no active session left`)
    assert.equal(
      Object.keys(snaps[side]).some((k) => k.startsWith('user:')),
      false,
      `${side}: indexes deleted`,
    )
  }
})
