// The opt-in hardening options through the public entry point, against a real Redis:
// reuse detection (onReuse), the grace window, idle expiry, the session limit, the audit
// stream, events, metrics and the "your devices" view. REDIS_TOPOLOGY=cluster runs the
// same tests against a Redis Cluster (cfg.cluster): the one REDIS_URL names, else a
// throwaway 3+3 cluster.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { redisUrl, uniquePrefix, nowSeconds, settle, sleep, scriptCommand, startOfNextSecond } from '../shared/helpers.mjs'
import { luaShownFirst, scriptCalls, violations } from '../shared/monitor.mjs'

const CLUSTER = process.env.REDIS_TOPOLOGY === 'cluster'
let url
let cluster
if (CLUSTER && !process.env.REDIS_URL) {
  const { startCluster } = await import('../../scripts/redis-cluster.mjs')
  cluster = await startCluster()
  after(() => cluster.stop())
  url = cluster.url
} else {
  url = await redisUrl()
}
const DAY = 24 * 3600

/** The ports of the cluster's primaries (of the throwaway cluster, or asked of REDIS_URL's). */
async function primaryPorts() {
  if (cluster) return cluster.primaryPorts()
  const { default: Redis } = await import('ioredis')
  const seed = new Redis(url)
  try {
    const nodes = await seed.call('CLUSTER', 'NODES')
    return nodes
      .split('\n')
      .filter((l) => l.includes('master') && !l.includes('fail'))
      .map((l) => Number(l.split(' ')[1].split(':')[1].split('@')[0]))
  } finally {
    seed.disconnect()
  }
}

const stores = []
after(() => Promise.all(stores.map((s) => s.close())))

function newStore(extra = {}) {
  const prefix = uniquePrefix('hard')
  const store = createRedisStore({ url, prefix, absTtlSeconds: 30 * DAY, ...(CLUSTER ? { cluster: true } : {}), ...extra })
  stores.push(store)
  return store
}

const isReplay = (err) => err.message === 'rotate_fail:ERR_REPLAY' && err.code === 'ERR_REPLAY'
/** Two turns of the event loop: events are delivered with setImmediate. */
const events = () => new Promise((r) => setImmediate(() => setImmediate(r)))

test('without options a rotation stores the nine fields only and reuse ends nothing', async () => {
  const s = newStore()
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t, deviceId: 'd' })
  const { newRid } = await s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd' })
  assert.deepEqual(Object.keys(await s.getRid(rid)).sort(), ['absExpAt', 'createdAt', 'deviceId', 'expAt', 'ipHash', 'parentRid', 'status', 'uaHash', 'userId'])
  assert.equal((await s.getRid(newRid.rid)).expAt, String(t + 1 + 7 * DAY))
  await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 2 }), isReplay)
  assert.equal((await s.getRid(newRid.rid)).status, 'active')
  assert.deepEqual(await s.readAudit({ userId: 'u' }), [], 'no audit stream without cfg.audit')
  assert.equal(s.metrics(), null)
  assert.equal(s.metricsText(), '')
})

test('two concurrent refreshes inside the grace window both get the same child', async () => {
  const s = newStore({ reuseGraceSeconds: 30, onReuse: 'revoke-lineage' })
  const t = nowSeconds()
  for (let round = 0; round < 20; round++) {
    const { rid } = await s.issueInitial(`u${round}`, { now: t, deviceId: 'd', uaHash: 'ua' })
    const [a, b] = await Promise.all([
      s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd', uaHash: 'ua' }),
      s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd', uaHash: 'ua' }),
    ])
    assert.deepEqual(a, b)
    assert.deepEqual(await s.scanRids(`u${round}`), [a.newRid.rid], 'never a second child')
    const parent = await s.getRid(rid)
    assert.equal(parent.childRid, a.newRid.rid)
    assert.equal(parent.rotatedAt, String(t + 1))
    // A third refresh with another binding inside the window is reuse: the lineage ends.
    await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 2, deviceId: 'd', uaHash: 'other-ua' }), isReplay)
    assert.equal((await s.getRid(a.newRid.rid)).status, 'tombstoned')
    assert.deepEqual(await s.scanRids(`u${round}`), [])
  }
})

test('outside the grace window one refresh wins and the other is reuse; with revoke-lineage the lineage ends', async () => {
  for (const onReuse of ['error', 'revoke-lineage']) {
    const s = newStore({ onReuse })
    const t = nowSeconds()
    for (let round = 0; round < 20; round++) {
      const { rid } = await s.issueInitial('u', { now: t, deviceId: `d${round}` })
      const outcomes = await Promise.all([settle(s.verifyAndRotateRefresh({ rid, now: t + 1 })), settle(s.verifyAndRotateRefresh({ rid, now: t + 1 }))])
      const won = outcomes.filter((o) => o.value)
      const lost = outcomes.filter((o) => o.error)
      assert.equal(won.length, 1, onReuse)
      assert.ok(isReplay(lost[0].error), lost[0].error.message)
      const child = await s.getRid(won[0].value.newRid.rid)
      assert.equal(child.status, onReuse === 'error' ? 'active' : 'tombstoned', onReuse)
    }
    const listed = await s.scanRids('u')
    assert.equal(listed.length, onReuse === 'error' ? 20 : 0, onReuse)
  }
  // With a window, a refresh after it is reuse too, and the window never extends itself.
  const s = newStore({ reuseGraceSeconds: 5, onReuse: 'revoke-lineage' })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t })
  const first = await s.verifyAndRotateRefresh({ rid, now: t })
  assert.deepEqual(await s.verifyAndRotateRefresh({ rid, now: t + 5 }), first)
  await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 6 }), isReplay)
  assert.equal((await s.getRid(first.newRid.rid)).status, 'tombstoned')
})

test('inside the window, once the child was rotated or ended, the parent is reuse', async () => {
  const s = newStore({ reuseGraceSeconds: 60 })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t })
  const c1 = await s.verifyAndRotateRefresh({ rid, now: t + 1 })
  await s.verifyAndRotateRefresh({ rid: c1.newRid.rid, now: t + 2 })
  await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 3 }), isReplay)
  const other = await s.issueInitial('v', { now: t })
  const c2 = await s.verifyAndRotateRefresh({ rid: other.rid, now: t + 1 })
  await s.logout(c2.newRid.rid)
  await assert.rejects(s.verifyAndRotateRefresh({ rid: other.rid, now: t + 2 }), isReplay)
  assert.deepEqual(await s.scanRids('v'), [])
})

test('a replay after a revoke cannot bring a session back', async () => {
  const s = newStore({ reuseGraceSeconds: 60, onReuse: 'revoke-lineage' })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t, deviceId: 'd' })
  const c1 = await s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd' })
  await s.tombstoneLineage(c1.newRid.rid)
  for (const r of [rid, c1.newRid.rid]) {
    await assert.rejects(s.verifyAndRotateRefresh({ rid: r, now: t + 2, deviceId: 'd' }), isReplay)
    assert.equal((await s.getRid(r)).status, 'tombstoned')
  }
  assert.deepEqual(await s.scanRids('u'), [])
  assert.deepEqual(await s.listSessions('u'), [])
})

test('three sessions issued are three listed; revoking all but the current leaves exactly it usable', async () => {
  const s = newStore()
  const t = nowSeconds()
  const issued = []
  for (const [i, device] of ['phone', 'laptop', 'tablet'].entries()) {
    issued.push(await s.issueInitial('alice', { now: t - 300 + i, deviceId: device, uaHash: `ua-${device}`, ipHash: `ip-${device}` }))
  }
  const rotated = await s.verifyAndRotateRefresh({ rid: issued[0].rid, now: t - 10, deviceId: 'phone' })
  const current = rotated.newRid.rid
  const listed = await s.listSessions('alice')
  assert.equal(listed.length, 3)
  const phone = listed.find((x) => x.rid === current)
  assert.equal(phone.signedInAt, t - 300, 'signed in when the lineage began')
  assert.equal(phone.lastRotatedAt, t - 10)
  assert.equal(phone.createdAt, t - 10)
  assert.deepEqual([phone.deviceId, phone.uaHash, phone.ipHash], ['phone', '', ''], 'the binding of the rotation')
  const laptop = listed.find((x) => x.deviceId === 'laptop')
  assert.deepEqual([laptop.signedInAt, laptop.lastRotatedAt, laptop.uaHash, laptop.ipHash], [t - 299, t - 299, 'ua-laptop', 'ip-laptop'])
  for (const x of listed) if (x.rid !== current) await s.logout(x.rid)
  assert.deepEqual(
    (await s.listSessions('alice')).map((x) => x.rid),
    [current],
  )
  assert.deepEqual(await s.scanRids('alice'), [current])
  for (const x of listed) {
    if (x.rid === current) continue
    await assert.rejects(s.verifyAndRotateRefresh({ rid: x.rid, now: t }), isReplay)
  }
  await s.verifyAndRotateRefresh({ rid: current, now: t })
  // The operator's other views leave signedInAt out.
  const lineage = await s.inspectLineage(current)
  assert.equal(lineage.sessions[0].signedInAt, undefined)
})

test('a refresh racing a revoke never resurrects a revoked session', async () => {
  for (const options of [{}, { reuseGraceSeconds: 30, onReuse: 'revoke-lineage' }]) {
    const s = newStore(options)
    const t = nowSeconds()
    for (let round = 0; round < 30; round++) {
      const user = `u${round}`
      const { rid } = await s.issueInitial(user, { now: t, deviceId: 'd' })
      const revoke = [() => s.tombstoneLineage(rid), () => s.logoutAll(user), () => s.logoutDevice(user, 'd')][round % 3]
      const [rotation] = await Promise.all([
        settle(s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd' })),
        revoke(),
        settle(s.verifyAndRotateRefresh({ rid, now: t + 1, deviceId: 'd' })),
      ])
      assert.deepEqual(await s.scanRids(user), [], `round ${round}: nothing active`)
      if (rotation.value) {
        await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 2, deviceId: 'd' }), isReplay)
        await assert.rejects(s.verifyAndRotateRefresh({ rid: rotation.value.newRid.rid, now: t + 2, deviceId: 'd' }), isReplay)
      }
      assert.deepEqual(await s.scanRids(user), [], `round ${round}: still nothing active`)
    }
  }
})

test('idleTtlSeconds refuses and ends a rid not rotated in time; expAt is the deadline', async () => {
  const s = newStore({ idleTtlSeconds: 600 })
  const t = nowSeconds()
  const { rid, absExp } = await s.issueInitial('u', { now: t, deviceId: 'd', absTtlSeconds: 900 })
  assert.equal((await s.getRid(rid)).expAt, String(t + 600))
  const c1 = await s.verifyAndRotateRefresh({ rid, now: t + 600, deviceId: 'd' })
  assert.equal((await s.getRid(c1.newRid.rid)).expAt, String(absExp), 'never past absExpAt')
  const c2 = await s.issueInitial('u', { now: t, deviceId: 'e' })
  const seen = []
  s.on('idle', (e) => seen.push(e))
  await assert.rejects(s.verifyAndRotateRefresh({ rid: c2.rid, now: t + 601 }), (err) => {
    assert.equal(err.message, 'rotate_fail:ERR_IDLE')
    assert.equal(err.code, 'ERR_IDLE')
    return true
  })
  assert.equal((await s.getRid(c2.rid)).status, 'tombstoned')
  assert.deepEqual(await s.scanRids('u'), [c1.newRid.rid])
  await events()
  assert.deepEqual(seen, [{ rid: c2.rid }])
  // At its lower limit: one second, started on a second's boundary so that Redis does not
  // remove the session before the late rotation reaches it.
  const strict = newStore({ idleTtlSeconds: 1 })
  const t1 = await startOfNextSecond()
  const x = await strict.issueInitial('u', { now: t1 })
  await assert.rejects(strict.verifyAndRotateRefresh({ rid: x.rid, now: t1 + 2 }), /ERR_IDLE/)
  await assert.rejects(strict.verifyAndRotateRefresh({ rid: x.rid, now: t1 + 2 }), isReplay)
})

test('maxSessionsPerUser ends the least recently rotated sessions, or refuses', async () => {
  const s = newStore({ maxSessionsPerUser: 2 })
  const t = nowSeconds()
  const evicted = []
  s.on('evicted', (e) => evicted.push(e))
  const a = await s.issueInitial('u', { now: t, deviceId: 'a' })
  const b = await s.issueInitial('u', { now: t + 1, deviceId: 'b' })
  const a2 = await s.verifyAndRotateRefresh({ rid: a.rid, now: t + 2, deviceId: 'a' })
  const c = await s.issueInitial('u', { now: t + 3, deviceId: 'c' })
  assert.deepEqual(Object.keys(c).sort(), ['absExp', 'rid'], 'the result is the original shape')
  assert.deepEqual((await s.scanRids('u')).sort(), [a2.newRid.rid, c.rid].sort())
  assert.equal((await s.getRid(b.rid)).status, 'tombstoned')
  await events()
  assert.deepEqual(evicted, [{ userId: 'u', rid: b.rid }])
  // Concurrent issues never leave more than the limit.
  await Promise.all(Array.from({ length: 10 }, (_, i) => s.issueInitial('u', { now: t + 4 + i })))
  assert.equal((await s.scanRids('u')).length, 2)

  // The oldest is found wherever it sits in the index, and a limit lowered later ends as
  // many of the oldest as it takes.
  const shared = uniquePrefix('limit')
  const wide = newStore({ maxSessionsPerUser: 6, prefix: shared })
  const order = [3, 0, 5, 1, 4, 2]
  const issued = []
  for (const i of order) issued[i] = (await wide.issueInitial('w', { now: t + 10 * i, deviceId: `d${i}` })).rid
  const oldest = () => issued.shift()
  const tie = await wide.issueInitial('w', { now: t })
  assert.equal((await wide.getRid(oldest())).status, 'tombstoned', 'the oldest of six, issued second')
  const left = [...issued, tie.rid]
  assert.deepEqual((await wide.scanRids('w')).sort(), [...left].sort())
  // Now `tie` (created at t) is the oldest: a store limited to 3 ends it and the next three.
  const narrow = newStore({ maxSessionsPerUser: 3, prefix: shared })
  const last = await narrow.issueInitial('w', { now: t + 100 })
  const kept = [issued[3], issued[4], last.rid]
  assert.deepEqual((await narrow.scanRids('w')).sort(), [...kept].sort())
  for (const rid of [tie.rid, ...issued.slice(0, 3)]) assert.equal((await narrow.getRid(rid)).status, 'tombstoned')
  // Of two sessions issued in the same second, the one with the smaller key ends.
  const tied = newStore({ maxSessionsPerUser: 2 })
  const pair = [(await tied.issueInitial('v', { now: t })).rid, (await tied.issueInitial('v', { now: t })).rid]
  await tied.issueInitial('v', { now: t + 1 })
  const [smaller, larger] = [...pair].sort()
  assert.deepEqual([(await tied.getRid(smaller)).status, (await tied.getRid(larger)).status], ['tombstoned', 'active'])

  const one = newStore({ maxSessionsPerUser: 1, sessionLimitPolicy: 'refuse' })
  const only = await one.issueInitial('u', { now: t })
  await assert.rejects(one.issueInitial('u', { now: t }), (err) => {
    assert.equal(err.message, 'rotate_fail:ERR_SESSION_LIMIT')
    assert.equal(err.code, 'ERR_SESSION_LIMIT')
    return true
  })
  assert.deepEqual(await one.scanRids('u'), [only.rid])
  await one.logout(only.rid)
  await one.issueInitial('u', { now: t })
})

test('audit entries match the state changes one for one under concurrent load', async () => {
  const s = newStore({ audit: { maxLen: 100000 }, onReuse: 'revoke-lineage', reuseGraceSeconds: 2, maxSessionsPerUser: 3 })
  const t = nowSeconds()
  const users = ['ann', 'bob', 'cyd']
  const rids = new Set()
  const work = []
  for (let i = 0; i < 60; i++) {
    const user = users[i % 3]
    work.push(
      (async () => {
        const { rid } = await s.issueInitial(user, { now: t, deviceId: `d${i % 4}` })
        rids.add(rid)
        let current = rid
        for (let step = 1; step <= 3; step++) {
          const r = await settle(s.verifyAndRotateRefresh({ rid: current, now: t + step * 3, deviceId: `d${i % 4}` }))
          if (!r.value) return
          rids.add(r.value.newRid.rid)
          // Now and then replay the old rid (reuse), retry inside the window, or log out.
          if (i % 7 === 0) await settle(s.verifyAndRotateRefresh({ rid: current, now: t + step * 3 + 5 }))
          if (i % 5 === 0) await settle(s.verifyAndRotateRefresh({ rid: current, now: t + step * 3, deviceId: `d${i % 4}` }))
          current = r.value.newRid.rid
        }
        if (i % 3 === 0) await s.logout(current)
        if (i % 11 === 0) await s.logoutAll(user)
      })(),
    )
  }
  await Promise.all(work)
  const entries = []
  for (const user of users) entries.push(...(await s.readAudit({ userId: user, count: 10000 })))
  const hashes = await Promise.all([...rids].map((rid) => s.getRid(rid).then((h) => [rid, h])))
  const count = (pred) => hashes.filter(([, h]) => pred(h)).length
  const of = (event) => entries.filter((e) => e.event === event)
  assert.equal(
    of('issued').length,
    count((h) => h.parentRid === ''),
  )
  assert.equal(
    of('rotated').length,
    count((h) => h.parentRid !== ''),
  )
  assert.equal(
    of('ended').length,
    count((h) => h.status === 'tombstoned'),
  )
  assert.equal(entries.length, of('issued').length + of('rotated').length + of('ended').length)
  // Each session ended at most once, and every ended session has its entry.
  const endedRids = of('ended').map((e) => e.rid)
  assert.equal(new Set(endedRids).size, endedRids.length)
  for (const [rid, h] of hashes) assert.equal(endedRids.includes(rid), h.status === 'tombstoned', rid)
  for (const e of entries) {
    assert.ok(users.includes(e.userId))
    assert.equal(typeof e.time, 'number')
    assert.match(e.id, /^\d+-\d+$/)
  }
  for (const e of of('rotated')) assert.equal((await s.getRid(e.childRid)).parentRid, e.rid)
  assert.ok(new Set(of('ended').map((e) => e.reason)).size >= 2)
  // The index never lists an ended session.
  for (const user of users) {
    for (const rid of await s.scanRids(user)) assert.equal((await s.getRid(rid)).status, 'active')
  }
  const one = await s.readAudit({ userId: 'ann', count: 1 })
  assert.equal(one.length, 1)
  if (!CLUSTER) assert.equal((await s.readAudit({ count: 5 })).length, 5)
})

test('events arrive after the call settles; a throwing listener cannot break the store', async () => {
  const s = newStore({ onReuse: 'revoke-lineage' })
  const t = nowSeconds()
  const seen = []
  const order = []
  for (const name of ['issued', 'rotated', 'replay', 'binding_mismatch', 'expired', 'logout']) {
    s.on(name, (payload) => seen.push([name, payload]))
  }
  s.on('issued', () => order.push('listener'))
  const issued = await s.issueInitial('u', { now: t, deviceId: 'd', absTtlSeconds: 100 })
  order.push('caller')
  await events()
  assert.deepEqual(order, ['caller', 'listener'])
  const rotated = await s.verifyAndRotateRefresh({ rid: issued.rid, now: t + 1, deviceId: 'd' })
  await assert.rejects(s.verifyAndRotateRefresh({ rid: rotated.newRid.rid, now: t + 2, deviceId: 'x' }), /ERR_BINDING/)
  await assert.rejects(s.verifyAndRotateRefresh({ rid: rotated.newRid.rid, now: t + 200 }), /expired_abs/)
  await assert.rejects(s.verifyAndRotateRefresh({ rid: issued.rid, now: t + 2 }), isReplay)
  await s.logout(issued.rid)
  await events()
  assert.deepEqual(seen, [
    ['issued', { userId: 'u', rid: issued.rid, absExp: t + 100, deviceId: 'd' }],
    ['rotated', { userId: 'u', rid: issued.rid, newRid: rotated.newRid }],
    ['binding_mismatch', { rid: rotated.newRid.rid }],
    ['expired', { rid: rotated.newRid.rid }],
    ['replay', { rid: issued.rid, revoked: true }],
    ['logout', { kind: 'logout', rid: issued.rid }],
  ])

  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    s.on('issued', () => {
      throw new Error('listener boom')
    })
    s.on('issued', async () => {
      throw new Error('async boom')
    })
    const again = await s.issueInitial('u', { now: t, deviceId: 'd' })
    assert.equal((await s.getRid(again.rid)).status, 'active')
    await events()
    await events()
    assert.deepEqual(warnings.map((w) => w.message).sort(), ['async boom', 'listener boom'])
  } finally {
    process.off('warning', onWarning)
  }
  assert.throws(
    () => s.on('nope', () => {}),
    (err) => err instanceof TypeError && /event must be one of/.test(err.message),
  )
  assert.throws(
    () => s.on('issued', 'x'),
    (err) => err instanceof TypeError && /listener must be a function/.test(err.message),
  )
  // off removes a listener.
  const quiet = newStore()
  let calls = 0
  const listener = () => calls++
  quiet.on('issued', listener).off('issued', listener)
  await quiet.issueInitial('u', { now: t })
  await events()
  assert.equal(calls, 0)
})

test('metrics count calls by method and outcome and never change an outcome', async () => {
  const s = newStore({ metrics: true })
  const t = nowSeconds()
  const { rid } = await s.issueInitial('u', { now: t })
  await s.verifyAndRotateRefresh({ rid, now: t + 1 })
  await assert.rejects(s.verifyAndRotateRefresh({ rid, now: t + 2 }), isReplay)
  await assert.rejects(s.verifyAndRotateRefresh({ rid: '', now: t }), TypeError)
  const m = s.metrics()
  assert.deepEqual(m.calls, { issueInitial: { ok: 1 }, verifyAndRotateRefresh: { ok: 1, ERR_REPLAY: 1, ERR_INVALID_ARG: 1 } })
  assert.equal(m.latency.verifyAndRotateRefresh.count, 3)
  assert.equal(m.latency.verifyAndRotateRefresh.buckets['+Inf'], 3)
  assert.ok(m.latency.issueInitial.sum > 0)
  const text = s.metricsText()
  assert.match(text, /^# TYPE session_store_calls_total counter$/m)
  assert.match(text, /^session_store_calls_total\{method="verifyAndRotateRefresh",outcome="ERR_REPLAY"\} 1$/m)
  assert.match(text, /^session_store_call_duration_seconds_bucket\{method="issueInitial",le="\+Inf"\} 1$/m)
  assert.match(text, /^session_store_call_duration_seconds_count\{method="verifyAndRotateRefresh"\} 3$/m)
})

test('every option is checked at createRedisStore, naming the option and the rule', () => {
  const base = { url, absTtlSeconds: 60 }
  const bad = [
    [{ onReuse: 'revoke' }, /^cfg\.onReuse must be 'error' or 'revoke-lineage'/],
    [{ reuseGraceSeconds: 301 }, /^cfg\.reuseGraceSeconds must be an integer from 0 to 300/],
    [{ reuseGraceSeconds: -1 }, /^cfg\.reuseGraceSeconds/],
    [{ reuseGraceSeconds: '5' }, /^cfg\.reuseGraceSeconds/],
    [{ idleTtlSeconds: 0 }, /^cfg\.idleTtlSeconds must be an integer from 1 to 315360000 \(seconds\)/],
    [{ idleTtlSeconds: Date.now() }, /^cfg\.idleTtlSeconds/],
    [{ idleTtlSeconds: 1.5 }, /^cfg\.idleTtlSeconds/],
    [{ maxSessionsPerUser: 0 }, /^cfg\.maxSessionsPerUser must be an integer from 1 to 10000/],
    [{ maxSessionsPerUser: 10001 }, /^cfg\.maxSessionsPerUser/],
    [{ maxSessionsPerUser: 2, sessionLimitPolicy: 'lru' }, /^cfg\.sessionLimitPolicy must be 'evict-oldest' or 'refuse'/],
    [{ sessionLimitPolicy: 'refuse' }, /^cfg\.sessionLimitPolicy must be given together with cfg\.maxSessionsPerUser/],
    [{ audit: true }, /^cfg\.audit must be an object/],
    [{ audit: {} }, /^cfg\.audit\.maxLen must be an integer from 1/],
    [{ audit: { maxLen: 0 } }, /^cfg\.audit\.maxLen/],
    [{ audit: { maxLen: Infinity } }, /^cfg\.audit\.maxLen/],
    [{ metrics: 1 }, /^cfg\.metrics must be a boolean/],
  ]
  for (const [extra, message] of bad) {
    assert.throws(
      () => createRedisStore({ ...base, ...extra }),
      (err) => {
        assert.ok(err instanceof TypeError, JSON.stringify(extra))
        assert.match(err.message, message)
        return true
      },
    )
  }
  // Limits accepted.
  for (const extra of [
    { onReuse: 'error', reuseGraceSeconds: 0 },
    { onReuse: 'revoke-lineage', reuseGraceSeconds: 300 },
    { idleTtlSeconds: 1 },
    { idleTtlSeconds: 315360000 },
    { maxSessionsPerUser: 1, sessionLimitPolicy: 'evict-oldest' },
    { maxSessionsPerUser: 10000, sessionLimitPolicy: 'refuse' },
    { audit: { maxLen: 1 } },
    { metrics: false },
  ]) {
    createRedisStore({ ...base, ...extra }).close()
  }
})

test('readAudit checks its argument', async () => {
  const s = newStore({ audit: { maxLen: 10 } })
  for (const opts of [null, 5, { count: 0 }, { count: 10001 }, { count: 1.5 }, { userId: '' }, { userId: 7 }]) {
    await assert.rejects(s.readAudit(opts), TypeError, JSON.stringify(opts))
  }
  // The stream stays capped near maxLen.
  const t = nowSeconds()
  for (let i = 0; i < 300; i++) await s.issueInitial('capped', { now: t })
  const all = await s.readAudit({ userId: 'capped', count: 10000 })
  assert.ok(all.length < 300, `trimmed to about maxLen (got ${all.length})`)
})

test('the CLI `audit` command prints the audit stream', async () => {
  const { spawn } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const CLI = fileURLToPath(new URL('../../cli/main.mjs', import.meta.url))
  const prefix = uniquePrefix('hard-cli')
  const s = createRedisStore({ url, prefix, absTtlSeconds: 3600, audit: { maxLen: 100 }, ...(CLUSTER ? { cluster: true } : {}) })
  stores.push(s)
  const t = nowSeconds()
  const { rid } = await s.issueInitial('carol', { now: t, deviceId: 'phone' })
  await s.logout(rid)
  const cli = (args) =>
    new Promise((resolve, reject) => {
      const env = { ...process.env, NO_COLOR: '1' }
      delete env.FORCE_COLOR
      const child = spawn(process.execPath, [CLI, '--url', url, '--prefix', prefix, ...(CLUSTER ? ['--cluster'] : []), ...args], { env })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      child.on('error', reject)
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
  const json = await cli(['audit', 'carol', '--json'])
  assert.equal(json.code, 0, json.stderr)
  const entries = JSON.parse(json.stdout)
  assert.deepEqual(
    entries.map((e) => [e.event, e.rid, e.deviceId, e.reason]),
    [
      ['ended', rid, 'phone', 'logout'],
      ['issued', rid, 'phone', ''],
    ],
  )
  const text = await cli(['audit', 'carol', '--count', '1'])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, /TIME\s+EVENT\s+USER\s+RID/)
  assert.match(text.stdout, new RegExp(`ended\\s+carol\\s+${rid}\\s+phone\\s+logout`))
  assert.doesNotMatch(text.stdout, /issued/)
  const bad = await cli(['audit', 'carol', '--count', '0'])
  assert.equal(bad.code, 2)
  const none = await cli(['audit', 'nobody'])
  assert.match(none.stdout, /no audit entries for user nobody/)
})

test('audit entries match the stored state across a server crash and restart (AOF on)', { skip: CLUSTER && 'standalone server only' }, async () => {
  const { startRedis } = await import('../../scripts/redis-server.mjs')
  const { default: Redis } = await import('ioredis')
  const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  const prefix = uniquePrefix('hard-aof')
  const s = createRedisStore({
    url: server.url,
    prefix,
    absTtlSeconds: 3600,
    commandTimeoutMs: 500,
    connectTimeoutMs: 500,
    audit: { maxLen: 1_000_000 },
    onReuse: 'revoke-lineage',
    maxSessionsPerUser: 4,
  })
  const raw = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    const t = nowSeconds()
    let stop = false
    let okCalls = 0
    let failedCalls = 0
    let restarted = false
    let okAfterRestart = 0
    const worker = async (w) => {
      for (let i = 0; !stop; i++) {
        const user = `u${(w + i) % 5}`
        const issued = await settle(s.issueInitial(user, { now: t, deviceId: `d${i % 3}` }))
        if (!issued.value) {
          failedCalls++
          await sleep(20)
          continue
        }
        okCalls++
        if (restarted) okAfterRestart++
        const r = await settle(s.verifyAndRotateRefresh({ rid: issued.value.rid, now: t + 1 }))
        if (r.error && r.error.code !== 'ERR_REPLAY') failedCalls++
        if (i % 4 === 0) await settle(s.verifyAndRotateRefresh({ rid: issued.value.rid, now: t + 2 })) // reuse
        if (r.value && i % 3 === 0 && (await settle(s.logout(r.value.newRid.rid))).error) failedCalls++
      }
    }
    const workers = Array.from({ length: 6 }, (_, w) => worker(w))
    await sleep(400)
    await server.kill('SIGKILL')
    await sleep(500)
    await server.restart()
    restarted = true
    await sleep(600)
    stop = true
    await Promise.all(workers)
    assert.ok(okCalls > 10, `load ran (${okCalls} issues)`)
    assert.ok(failedCalls > 0, 'calls failed while the server was down')
    assert.ok(okAfterRestart > 0, 'calls succeeded after the restart')

    await raw.connect()
    const hashes = new Map()
    let cursor = '0'
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}:rid:*`, 'COUNT', 1000)
      for (const key of keys) hashes.set(key.slice(`${prefix}:rid:`.length), await raw.hgetall(key))
      cursor = next
    } while (cursor !== '0')
    const flat = await raw.xrange(`${prefix}:audit`, '-', '+')
    const entries = flat.map(([, fields]) => Object.fromEntries(fields.flatMap((v, i) => (i % 2 ? [] : [[v, fields[i + 1]]]))))
    const all = [...hashes.values()]
    const of = (event) => entries.filter((e) => e.event === event)
    assert.equal(of('issued').length, all.filter((h) => h.parentRid === '').length)
    assert.equal(of('rotated').length, all.filter((h) => h.parentRid !== '').length)
    assert.equal(of('ended').length, all.filter((h) => h.status === 'tombstoned').length)
    for (const e of entries) assert.ok(hashes.has(e.rid), `entry for a stored session ${e.rid}`)
  } finally {
    await s.close()
    raw.disconnect()
    await server.stop()
  }
})

test('options at their limits at run time', async () => {
  const t = nowSeconds()
  // The longest grace window: its last second still answers, the next is reuse.
  const wide = newStore({ reuseGraceSeconds: 300 })
  const { rid } = await wide.issueInitial('u', { now: t })
  const first = await wide.verifyAndRotateRefresh({ rid, now: t })
  assert.deepEqual(await wide.verifyAndRotateRefresh({ rid, now: t + 300 }), first)
  await assert.rejects(wide.verifyAndRotateRefresh({ rid, now: t + 301 }), isReplay)
  // One session per user, evicting: each sign-in ends the previous one.
  const single = newStore({ maxSessionsPerUser: 1 })
  const a = await single.issueInitial('u', { now: t })
  const b = await single.issueInitial('u', { now: t })
  assert.deepEqual(await single.scanRids('u'), [b.rid])
  await assert.rejects(single.verifyAndRotateRefresh({ rid: a.rid, now: t + 1 }), isReplay)
  // The longest idle limit is capped by absExpAt.
  const idle = newStore({ idleTtlSeconds: 315360000 })
  const c = await idle.issueInitial('u', { now: t, absTtlSeconds: 100 })
  assert.equal((await idle.getRid(c.rid)).expAt, String(t + 100))
  // The shortest audit stream still records the newest change.
  const tiny = newStore({ audit: { maxLen: 1 } })
  const d = await tiny.issueInitial('u', { now: t })
  await tiny.logout(d.rid)
  const [newest] = await tiny.readAudit({ userId: 'u', count: 1 })
  assert.deepEqual([newest.event, newest.rid, newest.reason], ['ended', d.rid, 'logout'])
})

test('the hardening options and store members are typed, and bad uses fail to compile', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { fileURLToPath } = await import('node:url')
  const { execFile } = await import('node:child_process')
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const dir = mkdtempSync(join(tmpdir(), 'rss-hard-types-'))
  const entry = JSON.stringify(join(root, 'index'))
  const good = `import { createRedisStore, type Cfg, type SessionStore, type AuditEntry } from ${entry}
const cfg: Cfg = { url: 'redis://h', absTtlSeconds: 60, onReuse: 'revoke-lineage', reuseGraceSeconds: 10,
  idleTtlSeconds: 600, maxSessionsPerUser: 5, sessionLimitPolicy: 'refuse', audit: { maxLen: 1000 }, metrics: true }
const store = createRedisStore(cfg)
store.on('issued', (e) => { const rid: string = e.rid; const exp: number = e.absExp; void rid; void exp })
store.on('replay', (e) => { const revoked: boolean = e.revoked; void revoked }).off('evicted', (e) => void e.userId)
const entries: Promise<AuditEntry[]> = store.readAudit({ userId: 'u', count: 5 })
const text: string = store.metricsText()
const m = store.metrics()
if (m) { const n: number = m.calls['issueInitial']['ok']; void n }
store.listSessions('u').then((l) => { const at: number | undefined = l[0].signedInAt; void at })
// The original's shape stays assignable.
const plain: SessionStore = store
void entries; void text; void plain
`
  const bad = [
    `createRedisStore({ url: 'u', absTtlSeconds: 1, onReuse: 'revoke' })`,
    `createRedisStore({ url: 'u', absTtlSeconds: 1, sessionLimitPolicy: 'lru' })`,
    `createRedisStore({ url: 'u', absTtlSeconds: 1, audit: {} })`,
    `createRedisStore({ url: 'u', absTtlSeconds: 1, metrics: 'yes' })`,
    `createRedisStore({ url: 'u', absTtlSeconds: 1 }).on('nope', () => {})`,
    `createRedisStore({ url: 'u', absTtlSeconds: 1 }).on('issued', (e) => { const n: number = e.rid; void n })`,
  ]
  const tsc = (file) =>
    new Promise((resolve) => {
      const args = [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'esnext',
        '--moduleResolution',
        'bundler',
        '--types',
        'node',
        '--typeRoots',
        join(root, 'node_modules', '@types'),
        '--pretty',
        'false',
        file,
      ]
      execFile(process.execPath, args, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, out: stdout + stderr }))
    })
  try {
    writeFileSync(join(dir, 'good.ts'), good)
    const ok = await tsc(join(dir, 'good.ts'))
    assert.equal(ok.code, 0, ok.out)
    for (const [i, line] of bad.entries()) {
      const file = join(dir, `bad${i}.ts`)
      writeFileSync(file, `import { createRedisStore } from ${entry}\n${line}\n`)
      const r = await tsc(file)
      assert.notEqual(r.code, 0, `should not compile: ${line}`)
      assert.match(r.out, /bad\d+\.ts\(2,/, `the error is on the bad line: ${r.out}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('listSessions and inspectLineage are one round trip each, and a rotation with every option on is one too', {
  skip: CLUSTER && 'counts commands on one server',
}, async () => {
  const { default: Redis } = await import('ioredis')
  const prefix = uniquePrefix('hard-rtt')
  const s = createRedisStore({
    url,
    prefix,
    absTtlSeconds: 3600,
    onReuse: 'revoke-lineage',
    reuseGraceSeconds: 10,
    idleTtlSeconds: 600,
    maxSessionsPerUser: 5,
    audit: { maxLen: 100 },
    metrics: true,
  })
  stores.push(s)
  const t = nowSeconds()
  const { rid } = await s.issueInitial('ned', { now: t - 50, deviceId: 'd' })
  const { newRid } = await s.verifyAndRotateRefresh({ rid, now: t - 20, deviceId: 'd' })
  const client = new Redis(url)
  const monitor = await client.monitor()
  const seen = []
  monitor.on('monitor', (_time, args, source) => {
    if (source !== 'lua' && args.some((a) => String(a).includes(prefix))) seen.push(args[0].toLowerCase())
  })
  try {
    await sleep(100)
    const listed = await s.listSessions('ned')
    const lineage = await s.inspectLineage(rid)
    await s.verifyAndRotateRefresh({ rid: newRid.rid, now: t, deviceId: 'd' })
    await s.issueInitial('ned', { now: t })
    await sleep(200)
    assert.equal(listed[0].signedInAt, t - 50)
    assert.deepEqual(
      lineage.sessions.map((x) => x.rid),
      [rid, newRid.rid],
    )
    assert.deepEqual(seen, Array(4).fill(await scriptCommand(client)))
  } finally {
    monitor.disconnect()
    client.disconnect()
  }
})

test('on a cluster, every key a script touches was declared to it, with every option on', { skip: !CLUSTER && 'cluster only' }, async () => {
  const { default: Redis } = await import('ioredis')
  const monitors = []
  for (const port of await primaryPorts()) {
    const client = new Redis({ port, host: '127.0.0.1' })
    const monitor = await client.monitor()
    const lines = []
    monitor.on('monitor', (_time, args, source) => lines.push({ args: args.map(String), source }))
    monitors.push({ client, monitor, lines })
  }
  try {
    await sleep(200)
    const s = newStore({ onReuse: 'revoke-lineage', reuseGraceSeconds: 5, idleTtlSeconds: 100, maxSessionsPerUser: 2, audit: { maxLen: 100 } })
    const t = nowSeconds()
    const a = await s.issueInitial('u', { now: t, deviceId: 'd1' })
    const b = await s.issueInitial('u', { now: t + 1, deviceId: 'd2' })
    const a1 = await s.verifyAndRotateRefresh({ rid: a.rid, now: t + 2, deviceId: 'd1' })
    assert.deepEqual(await s.verifyAndRotateRefresh({ rid: a.rid, now: t + 3, deviceId: 'd1' }), a1) // grace
    await s.issueInitial('u', { now: t + 4, deviceId: 'd3' }) // evicts b
    assert.equal((await s.getRid(b.rid)).status, 'tombstoned')
    await s.listSessions('u')
    const a2 = await s.verifyAndRotateRefresh({ rid: a1.newRid.rid, now: t + 5, deviceId: 'd1' })
    await assert.rejects(s.verifyAndRotateRefresh({ rid: a.rid, now: t + 30 }), isReplay) // revokes the lineage
    assert.equal((await s.getRid(a2.newRid.rid)).status, 'tombstoned')
    const c = await s.issueInitial('v', { now: t, deviceId: 'dv' })
    await assert.rejects(s.verifyAndRotateRefresh({ rid: c.rid, now: t + 101 }), /ERR_IDLE/)
    const d = await s.issueInitial('w', { now: t, deviceId: 'dw' })
    await s.logout(d.rid)
    await s.issueInitial('w', { now: t, deviceId: 'dw' })
    await s.logoutDevice('w', 'dw')
    await s.issueInitial('w', { now: t })
    await s.logoutAll('w')
    const e = await s.issueInitial('x', { now: t })
    await s.tombstoneLineage(e.rid)
    await sleep(300)
    const calls = []
    for (const { client, lines } of monitors) calls.push(...scriptCalls(lines, await luaShownFirst(client, lines)))
    // Every script call but the probes (which declare no key), and script commands that
    // came without their script line.
    const mine = calls.filter((c) => c.keys === null || c.keys.length > 0)
    const commands = mine.reduce((n, c) => n + c.calls.length, 0)
    assert.ok(mine.length >= 15, `scripts ran (${mine.length})`)
    assert.ok(commands >= 100, `their commands were seen (${commands})`)
    assert.deepEqual(violations(mine), [])
  } finally {
    for (const { client, monitor } of monitors) {
      monitor.disconnect()
      client.disconnect()
    }
  }
})
