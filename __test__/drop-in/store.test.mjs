// The nine methods through the public entry point, against a real Redis: results, error
// messages and codes, the data left in Redis, and each deviation from the original.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import {
  uniquePrefix,
  rawClient,
  dump,
  nowSeconds,
  expireTimes,
  storeConfig,
  keys,
  userTag,
  isCluster,
  primaries,
  keySlot,
  sleep,
  scriptCommand,
} from '../shared/helpers.mjs'

const redis = await rawClient()
const DAY = 24 * 3600
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

function newStore(extra = {}) {
  const prefix = uniquePrefix('store')
  return { store: createRedisStore(storeConfig({ prefix, absTtlSeconds: 30 * DAY, ...extra })), prefix, k: keys(prefix) }
}

/** The random part of a rid: the whole rid, or what follows the user's tag in the cluster layout. */
function uuidOf(rid, userId) {
  if (!isCluster) return rid
  assert.ok(rid.startsWith(`${userTag(userId)}.`), `${rid} starts with the tag of ${userId}`)
  return rid.slice(17)
}

async function rejects(promise, message, code, type = Error) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.constructor?.name}`)
    if (message instanceof RegExp) assert.match(err.message, message)
    else assert.equal(err.message, message)
    assert.equal(err.code, code)
    return true
  })
}

test('issueInitial writes the hash, the index and the device key', async () => {
  const { store, prefix, k } = newStore()
  const now = nowSeconds()
  const issued = await store.issueInitial('alice', { now, deviceId: 'phone', uaHash: 'ua1', ipHash: 'ip1', absTtlSeconds: 3 * DAY })
  assert.match(uuidOf(issued.rid, 'alice'), UUID_V4)
  assert.equal(issued.absExp, now + 3 * DAY)
  const ridKey = k.ridKey(issued.rid)
  assert.deepEqual(await dump(redis, prefix), {
    [k.deviceKey('alice', 'phone')]: { type: 'string', content: ridKey, expireAt: now + 3 * DAY },
    [ridKey]: {
      type: 'hash',
      content: {
        userId: 'alice',
        parentRid: '',
        createdAt: String(now),
        expAt: String(now + 2 * DAY),
        absExpAt: String(now + 3 * DAY),
        deviceId: 'phone',
        uaHash: 'ua1',
        ipHash: 'ip1',
        status: 'active',
      },
      expireAt: now + 3 * DAY,
    },
    [k.userKey('alice')]: { type: 'set', content: [ridKey], expireAt: now + 3 * DAY },
  })
})

test('issueInitial stores absent binding values as "" and writes no device key', async () => {
  const { store, prefix } = newStore({ absTtlSeconds: 600 })
  const now = nowSeconds()
  const { rid, absExp } = await store.issueInitial('bob', { now })
  assert.equal(absExp, now + 600, 'falls back to cfg.absTtlSeconds')
  const h = await store.getRid(rid)
  assert.deepEqual([h.deviceId, h.uaHash, h.ipHash, h.expAt], ['', '', '', String(now + 600)])
  assert.deepEqual(
    Object.keys(await dump(redis, prefix)).filter((k) => k.includes(':device:')),
    [],
  )
})

test('verifyAndRotateRefresh returns the child and marks the parent used', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  const first = await store.issueInitial('carol', { now, deviceId: 'd', uaHash: 'u', ipHash: 'i', absTtlSeconds: 10 * DAY })
  const rotated = await store.verifyAndRotateRefresh({ rid: first.rid, now: now + 60, deviceId: 'd', uaHash: 'u', ipHash: 'i' })
  assert.deepEqual(Object.keys(rotated), ['userId', 'newRid'])
  assert.equal(rotated.userId, 'carol')
  assert.equal(rotated.newRid.absExp, first.absExp)
  assert.equal((await store.getRid(first.rid)).status, 'used')
  assert.deepEqual(await store.getRid(rotated.newRid.rid), {
    userId: 'carol',
    parentRid: first.rid,
    createdAt: String(now + 60),
    expAt: String(now + 60 + 7 * DAY),
    absExpAt: String(now + 10 * DAY),
    deviceId: 'd',
    uaHash: 'u',
    ipHash: 'i',
    status: 'active',
  })
  assert.equal(await redis.get(k.deviceKey('carol', 'd')), k.ridKey(rotated.newRid.rid))
})

test('rotation failures carry the original messages and a code', async () => {
  const { store } = newStore()
  const now = nowSeconds()
  await rejects(store.verifyAndRotateRefresh({ rid: 'no-such-rid', now }), 'not_found', 'ERR_NOT_FOUND')
  const a = await store.issueInitial('dave', { now, deviceId: 'd', uaHash: 'u', ipHash: 'i', absTtlSeconds: 100 })
  await rejects(store.verifyAndRotateRefresh({ rid: a.rid, now: now + 101 }), 'expired_abs', 'ERR_EXPIRED_ABS')
  for (const wrong of [{ deviceId: 'x' }, { uaHash: 'x' }, { ipHash: 'x' }]) {
    await rejects(store.verifyAndRotateRefresh({ rid: a.rid, now: now + 1, ...wrong }), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
  }
  assert.equal((await store.getRid(a.rid)).status, 'active', 'a refused rotation writes nothing')
  const b = await store.verifyAndRotateRefresh({ rid: a.rid, now: now + 1 }) // unbound rotation
  assert.equal((await store.getRid(b.newRid.rid)).deviceId, '')
  await rejects(store.verifyAndRotateRefresh({ rid: a.rid, now: now + 2 }), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
  const deviceless = await store.issueInitial('dave', { now, absTtlSeconds: 100 })
  await rejects(store.verifyAndRotateRefresh({ rid: deviceless.rid, now, deviceId: 'new' }), 'rotate_fail:ERR_BINDING', 'ERR_BINDING')
})

test('bad arguments reject with a TypeError naming the argument, never throw, write nothing', async () => {
  const { store, prefix } = newStore()
  const before = await dump(redis, prefix)
  const cases = [
    [() => store.issueInitial('', { now: 1 }), /^userId must be a non-empty string/],
    [() => store.issueInitial('u', null), /^input must be an object/],
    [() => store.issueInitial('u', { now: NaN }), /^input\.now must be a finite number >= 0/],
    [() => store.issueInitial('u', { now: 1, absTtlSeconds: 0 }), /^input\.absTtlSeconds must be a finite number > 0/],
    [() => store.issueInitial('u', { now: 1, deviceId: 7 }), /^input\.deviceId must be a string/],
    [() => store.issueInitial('u', { now: 1, uaHash: null }), /^input\.uaHash must be a string/],
    [() => store.issueInitial('x'.repeat(1025), { now: 1 }), /^userId must be a non-empty string of at most 1024 bytes/],
    [() => store.verifyAndRotateRefresh({ now: 1 }), /^input\.rid must be a non-empty string/],
    [() => store.verifyAndRotateRefresh({ rid: 'r', now: -1 }), /^input\.now must be/],
    [() => store.verifyAndRotateRefresh({ rid: 'r', now: 1, ipHash: [] }), /^input\.ipHash must be/],
    [() => store.verifyAndRotateRefresh(), /^input must be an object/],
    [() => store.tombstoneLineage(1), /^rid must be/],
    [() => store.logout(undefined), /^rid must be/],
    [() => store.logoutDevice('u', ''), /^deviceId must be/],
    [() => store.logoutDevice({}, 'd'), /^userId must be/],
    [() => store.logoutAll(null), /^userId must be/],
    [() => store.getRid(''), /^rid must be/],
    [() => store.scanRids(['u']), /^userId must be/],
    [() => store.gcOrphans({ dryRun: 'yes' }), /^opts\.dryRun must be a boolean/],
    [() => store.gcOrphans({ graceSeconds: -5 }), /^opts\.graceSeconds must be/],
    [() => store.gcOrphans(42), /^opts must be an object/],
  ]
  for (const [call, message] of cases) {
    let promise
    assert.doesNotThrow(() => {
      promise = call()
    })
    assert.ok(promise instanceof Promise)
    await rejects(promise, message, 'ERR_INVALID_ARG', TypeError)
  }
  assert.deepEqual(await dump(redis, prefix), before)
})

test('createRedisStore throws a TypeError for a bad cfg, but not for an unreachable server', () => {
  const bad = [
    [undefined, /^cfg must be an object/],
    [{ absTtlSeconds: 1 }, /^cfg\.url must be/],
    [{ url: 'http://example', absTtlSeconds: 1 }, /^cfg\.url must be/],
    [storeConfig({ absTtlSeconds: 0 }), /^cfg\.absTtlSeconds must be/],
    [storeConfig(), /^cfg\.absTtlSeconds must be/],
    [storeConfig({ absTtlSeconds: 1, prefix: '' }), /^cfg\.prefix must be/],
    [storeConfig({ absTtlSeconds: 1, commandTimeoutMs: -1 }), /^cfg\.commandTimeoutMs must be/],
  ]
  for (const [cfg, message] of bad) {
    assert.throws(
      () => createRedisStore(cfg),
      (err) => err instanceof TypeError && message.test(err.message) && err.code === 'ERR_INVALID_ARG',
    )
  }
  assert.doesNotThrow(() => createRedisStore(storeConfig({ url: 'redis://127.0.0.1:1', absTtlSeconds: 1 })))
})

test('an unreachable server rejects with a clear error', async () => {
  const store = createRedisStore(storeConfig({ url: 'redis://:sekret@127.0.0.1:1', absTtlSeconds: 10, connectTimeoutMs: 500 }))
  await assert.rejects(store.getRid('x'), (err) => {
    assert.equal(err.code, 'ERR_REDIS_UNAVAILABLE')
    assert.match(err.message, /^redis_unavailable: /)
    assert.ok(!err.message.includes('sekret'))
    return true
  })
})

test('getRid and scanRids', async () => {
  const { store } = newStore()
  const now = nowSeconds()
  assert.equal(await store.getRid('missing'), null)
  assert.deepEqual(await store.scanRids('nobody'), [])
  const a = await store.issueInitial('erin', { now, absTtlSeconds: DAY })
  const b = await store.issueInitial('erin', { now, absTtlSeconds: DAY })
  const b2 = await store.verifyAndRotateRefresh({ rid: b.rid, now })
  const h = await store.getRid(a.rid)
  assert.deepEqual(Object.keys(h), ['userId', 'parentRid', 'createdAt', 'expAt', 'absExpAt', 'deviceId', 'uaHash', 'ipHash', 'status'])
  // Deviation: bare rids of active sessions (the original lists full keys, used ones included).
  assert.deepEqual((await store.scanRids('erin')).sort(), [a.rid, b2.newRid.rid].sort())
})

test('deviation: rotation keeps only active sessions in the user index', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  const a = await store.issueInitial('fay', { now, absTtlSeconds: DAY })
  const b = await store.verifyAndRotateRefresh({ rid: a.rid, now })
  assert.deepEqual(await redis.smembers(k.userKey('fay')), [k.ridKey(b.newRid.rid)])
})

test('deviation: the index expiry only grows', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  await store.issueInitial('gus', { now, absTtlSeconds: 10 * DAY })
  await store.issueInitial('gus', { now, absTtlSeconds: 60 })
  assert.deepEqual(await expireTimes(redis, [k.userKey('gus')]), [now + 10 * DAY])
})

test('logout ends one session and its device key; an unknown rid writes nothing', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  const a = await store.issueInitial('hal', { now, deviceId: 'tab', absTtlSeconds: DAY })
  const b = await store.issueInitial('hal', { now, absTtlSeconds: DAY })
  assert.equal(await store.logout(a.rid), undefined)
  assert.equal((await store.getRid(a.rid)).status, 'tombstoned')
  assert.deepEqual(await store.scanRids('hal'), [b.rid])
  assert.equal(await redis.get(k.deviceKey('hal', 'tab')), null)
  await rejects(store.verifyAndRotateRefresh({ rid: a.rid, now }), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
})

test('deviation: logout, tombstoneLineage and logoutAll of missing ids write nothing', async () => {
  const { store, prefix } = newStore()
  await store.logout('ghost')
  await store.tombstoneLineage('ghost')
  await store.logoutAll('ghost-user')
  await store.logoutDevice('ghost-user', 'ghost-device')
  assert.deepEqual(await dump(redis, prefix), {})
})

test('deviation: logoutDevice ends every session of the device, and only of that user', async () => {
  const { store } = newStore()
  const now = nowSeconds()
  const one = await store.issueInitial('ida', { now, deviceId: 'pc', absTtlSeconds: DAY })
  const two = await store.issueInitial('ida', { now, deviceId: 'pc', absTtlSeconds: DAY })
  const other = await store.issueInitial('ida', { now, deviceId: 'phone', absTtlSeconds: DAY })
  const stranger = await store.issueInitial('jon', { now, deviceId: 'pc', absTtlSeconds: DAY })
  await store.logoutDevice('ida', 'pc')
  assert.equal((await store.getRid(one.rid)).status, 'tombstoned')
  assert.equal((await store.getRid(two.rid)).status, 'tombstoned')
  assert.equal((await store.getRid(other.rid)).status, 'active')
  assert.equal((await store.getRid(stranger.rid)).status, 'active')
})

test("deviation: ':' in ids cannot log out another user's device", async () => {
  const { store } = newStore()
  const now = nowSeconds()
  const victim = await store.issueInitial('a', { now, deviceId: 'b:c', absTtlSeconds: DAY }) // device key a:b:c
  await store.issueInitial('a:b', { now, deviceId: 'x', absTtlSeconds: DAY })
  await store.logoutDevice('a:b', 'c') // same device key name as the victim's
  assert.equal((await store.getRid(victim.rid)).status, 'active')
})

test('deviation: tombstoneLineage ends ancestors and descendants', async () => {
  const { store } = newStore()
  const now = nowSeconds()
  const r0 = await store.issueInitial('kim', { now, absTtlSeconds: DAY })
  const r1 = (await store.verifyAndRotateRefresh({ rid: r0.rid, now })).newRid
  const r2 = (await store.verifyAndRotateRefresh({ rid: r1.rid, now })).newRid
  await store.tombstoneLineage(r0.rid)
  for (const { rid } of [r0, r1, r2]) assert.equal((await store.getRid(rid)).status, 'tombstoned')
  await rejects(store.verifyAndRotateRefresh({ rid: r2.rid, now }), 'rotate_fail:ERR_REPLAY', 'ERR_REPLAY')
  assert.deepEqual(await store.scanRids('kim'), [])
})

test('logoutAll ends every session and deletes the index', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  const rids = []
  for (let i = 0; i < 300; i++) rids.push((await store.issueInitial('lee', { now, absTtlSeconds: DAY })).rid)
  await store.logoutAll('lee')
  assert.equal(await redis.exists(k.userKey('lee')), 0)
  const statuses = await Promise.all(rids.map(async (rid) => (await store.getRid(rid)).status))
  assert.deepEqual(new Set(statuses), new Set(['tombstoned']))
})

test('deviation: a logout racing rotations never leaves an active session', async () => {
  const { store } = newStore()
  const now = nowSeconds()
  for (let round = 0; round < 20; round++) {
    const user = `race-${round}`
    const rids = []
    for (let i = 0; i < 5; i++) rids.push((await store.issueInitial(user, { now, absTtlSeconds: DAY })).rid)
    const rotations = rids.map((rid) => store.verifyAndRotateRefresh({ rid, now }).catch((e) => e))
    await store.logoutAll(user)
    await Promise.all(rotations)
    assert.deepEqual(await store.scanRids(user), [], `round ${round}`)
  }
})

test('gcOrphans returns the superset report and cleans garbage', async () => {
  const { store, k } = newStore()
  const now = nowSeconds()
  const live = await store.issueInitial('max', { now, absTtlSeconds: DAY })
  const old = k.ridKey(k.rid('max', 'old'))
  await redis.sadd(k.userKey('max'), k.ridKey(k.rid('max', 'vanished')))
  await redis.hset(old, { userId: 'max', status: 'used', absExpAt: String(now - 10) })
  const dry = await store.gcOrphans({ dryRun: true })
  assert.deepEqual(dry, { scannedUserSets: 1, scannedRids: 2, removedFromSets: 1, addedToSets: 0, deletedRidHashes: 1, removedRids: 1, dryRun: true })
  assert.equal(await redis.exists(old), 1, 'dry run writes nothing')
  const report = await store.gcOrphans()
  assert.equal(report.dryRun, false)
  assert.equal(report.deletedRidHashes, 1)
  assert.equal(await redis.exists(old), 0)
  assert.deepEqual(await redis.smembers(k.userKey('max')), [k.ridKey(live.rid)])
  assert.equal((await store.gcOrphans({ graceSeconds: 30 })).removedFromSets, 0)
  // null options are no options, as in the original: not a dry run, no grace. The same
  // garbage again, with a used hash 10 s past its absolute expiry, all of it collected.
  const older = k.ridKey(k.rid('max', 'older'))
  await redis.sadd(k.userKey('max'), k.ridKey(k.rid('max', 'vanished-too')))
  await redis.hset(older, { userId: 'max', status: 'used', absExpAt: String(now - 10) })
  assert.deepEqual(await store.gcOrphans(null), {
    scannedUserSets: 1,
    scannedRids: 2,
    removedFromSets: 1,
    addedToSets: 0,
    deletedRidHashes: 1,
    removedRids: 1,
    dryRun: false,
  })
  assert.equal(await redis.exists(older), 0)
  assert.deepEqual(await redis.smembers(k.userKey('max')), [k.ridKey(live.rid)])
})

test('deviation: verifyAndRotateRefresh and getRid take one round trip each', async () => {
  const { store, prefix, k } = newStore()
  const now = nowSeconds()
  const { rid } = await store.issueInitial('ned', { now, absTtlSeconds: DAY })
  // The node serving the session's slot (the one server, or its primary in a cluster).
  const node = isCluster ? primaries(redis).find((n) => redis.slots[keySlot(k.ridKey(rid))].includes(`${n.options.host}:${n.options.port}`)) : redis
  const monitor = await node.monitor()
  const seen = []
  monitor.on('monitor', (_time, args, source) => {
    if (source !== 'lua' && args.some((a) => String(a).startsWith(`${prefix}:`))) seen.push(args[0].toLowerCase())
  })
  await sleep(100)
  await store.verifyAndRotateRefresh({ rid, now })
  await store.getRid(rid)
  await sleep(200)
  monitor.disconnect()
  assert.deepEqual(seen, [await scriptCommand(node), 'hgetall'])
})

test('methods work detached from the store, and close() ends it', async () => {
  const { store } = newStore()
  const { issueInitial, getRid, close } = store
  const { rid } = await issueInitial('olga', { now: nowSeconds(), absTtlSeconds: DAY })
  assert.equal((await getRid(rid)).userId, 'olga')
  await close()
  await rejects(getRid(rid), /^store_closed/, 'ERR_STORE_CLOSED')
})

test("the tests' key names (keys()) are exactly the keys the store writes", async () => {
  const { store, prefix, k } = newStore()
  const now = nowSeconds()
  const users = ['u', 'a:b', '{x}', 'é 😀', 'rid:*']
  const expected = []
  for (const user of users) {
    const first = await store.issueInitial(user, { now, deviceId: 'd:1', absTtlSeconds: DAY })
    const child = (await store.verifyAndRotateRefresh({ rid: first.rid, now, deviceId: 'd:1' })).newRid.rid
    assert.equal(k.ridOfKey(k.ridKey(first.rid)), first.rid)
    assert.equal(k.ridOfKey(k.ridKey(child)), child)
    assert.deepEqual(await store.scanRids(user), [child])
    expected.push(k.ridKey(first.rid), k.ridKey(child), k.userKey(user), k.deviceKey(user, 'd:1'))
    assert.deepEqual(await redis.smembers(k.userKey(user)), [k.ridKey(child)])
    assert.equal(await redis.get(k.deviceKey(user, 'd:1')), k.ridKey(child))
  }
  assert.deepEqual(Object.keys(await dump(redis, prefix)).sort(), expected.sort())
  // A hand-made rid of a user (k.rid) is found by the store like one it issued.
  const made = k.rid('u', 'hand-made')
  await redis.hset(k.ridKey(made), { userId: 'u', parentRid: '', absExpAt: String(now + DAY), status: 'active' })
  assert.equal((await store.getRid(made)).userId, 'u')
  assert.equal((await store.verifyAndRotateRefresh({ rid: made, now })).userId, 'u')
  assert.equal(k.ridOfKey(`${prefix}:user:x`), null)
})
