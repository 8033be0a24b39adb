// Sentinel and replicated writes, against real servers this file starts and stops: a
// primary, a replica and three Sentinels per deployment (scripts/redis-sentinel.mjs).
// The store finds its primary through the Sentinels, finds the new one by itself after a
// failover (asked for, or a killed primary), and with cfg.durability every state change
// is acknowledged by a replica or rejects with ERR_NOT_REPLICATED.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Redis from 'ioredis'
import { createRedisStore } from '../../index.mjs'
import { startSentinels, cli } from '../../scripts/redis-sentinel.mjs'
import { startCluster } from '../../scripts/redis-cluster.mjs'
import { eventually, failOnUnhandledRejections, nowSeconds, sleep } from '../shared/helpers.mjs'
import { aclRule, sentinelUserRule } from '../../index.mjs'

failOnUnhandledRejections()

const PASSWORD = 'data-node-secret'
const TIMEOUT_MS = 1000
const NOT_REPLICATED =
  /^not_replicated: 0 of 1 replicas acknowledged within 500 ms; the change was applied on the primary and may or may not survive a failover$/

// Each deployment is started at once (a Sentinel group needs a few seconds to discover
// itself) and used by one or two tests; all are stopped at the end.
function deployment(options) {
  const started = startSentinels(options)
  after(async () => (await started).stop())
  return started
}
const asked = deployment({ password: PASSWORD })
const killed = deployment()
const durable = deployment()
const announcing = deployment()

function sentinelStore(d, extra = {}) {
  const s = createRedisStore({
    url: d.password ? `redis://:${d.password}@ignored.invalid:1` : 'redis://ignored.invalid:1',
    prefix: 'snt',
    absTtlSeconds: 3600,
    commandTimeoutMs: TIMEOUT_MS,
    connectTimeoutMs: TIMEOUT_MS,
    sentinel: { masterName: d.masterName, nodes: d.sentinelUrls },
    ...extra,
  })
  after(() => s.close())
  return s
}

function raw(port, password) {
  const c = new Redis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, lazyConnect: false })
  c.on('error', () => {})
  after(() => c.disconnect())
  return c
}

/**
 * Issues sessions on `s` from `workers` loops until `stop.done`, recording when each call
 * started and ended, and each failure's code. Failures must be connection faults.
 */
async function issueLoad(s, stop, workers = 4) {
  const log = { issued: [], failures: [], unexpected: [] }
  const worker = async (w) => {
    for (let i = 0; !stop.done; i++) {
      const startedAt = Date.now()
      try {
        const { rid } = await s.issueInitial(`load${w}`, { now: nowSeconds(), deviceId: `d${i % 3}` })
        log.issued.push({ rid, startedAt, endedAt: Date.now() })
      } catch (err) {
        log.failures.push({ at: Date.now(), code: err.code, message: err.message })
        if (!(err instanceof Error) || !['ERR_REDIS_UNAVAILABLE', 'ERR_REDIS_TIMEOUT'].includes(err.code)) {
          log.unexpected.push(`${err.code}: ${err.message}`)
        }
        await sleep(10)
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)))
  assert.deepEqual(log.unexpected.slice(0, 5), [], 'calls fail only with connection faults')
  return log
}

/** The rids of `rids` whose hash is missing on the server behind `client`. */
async function missing(client, rids) {
  const pipe = client.pipeline()
  for (const rid of rids) pipe.exists(`snt:rid:${rid}`)
  const replies = await pipe.exec()
  return rids.filter((_, i) => replies[i][1] !== 1)
}

test('through Sentinel: issue, rotate and logout land on the primary, with the data node password from url', async () => {
  const d = await asked
  const s = sentinelStore(d)
  const primary = raw(await d.primaryPort(), PASSWORD)
  const now = nowSeconds()
  const { rid } = await s.issueInitial('alice', { now, deviceId: 'phone' })
  const rotated = await s.verifyAndRotateRefresh({ rid, now, deviceId: 'phone' })
  assert.equal(rotated.userId, 'alice')
  assert.equal(await primary.hget(`snt:rid:${rid}`, 'status'), 'used')
  assert.equal(await primary.hget(`snt:rid:${rotated.newRid.rid}`, 'status'), 'active')
  await s.logout(rotated.newRid.rid)
  assert.equal(await primary.hget(`snt:rid:${rotated.newRid.rid}`, 'status'), 'tombstoned')
  assert.deepEqual(await s.scanRids('alice'), [])
})

test("through Sentinel with ACL users: the Sentinels' own user from cfg.sentinel, the data nodes' from url, each with only its documented rule", async () => {
  const d = await asked
  for (const sentinel of d.sentinels) await cli(sentinel.port, ['ACL', 'SETUSER', 'watcher', 'on', '>watch-secret', ...sentinelUserRule().split(' ')])
  for (const node of d.nodes)
    await cli(node.port, ['ACL', 'SETUSER', 'sessions', 'on', '>store-secret', ...aclRule('snt', ['sentinel', 'functions']).split(' ')], PASSWORD)
  const s = sentinelStore(d, {
    url: 'redis://sessions:store-secret@ignored.invalid:1',
    sentinel: { masterName: d.masterName, nodes: d.sentinelUrls, username: 'watcher', password: 'watch-secret' },
  })
  const { rid } = await s.issueInitial('acl', { now: nowSeconds() })
  assert.equal((await s.getRid(rid)).userId, 'acl')
  // The Sentinels saw the store as `watcher` (the listener stays connected), and refused
  // it nothing.
  const sentinelClients = async () => (await Promise.all(d.sentinels.map((x) => cli(x.port, ['CLIENT', 'LIST'])))).join('\n')
  assert.match(await sentinelClients(), /user=watcher/)
  for (const sentinel of d.sentinels) assert.equal(await cli(sentinel.port, ['ACL', 'LOG']), '')
  for (const node of d.nodes) assert.equal(await cli(node.port, ['ACL', 'LOG'], PASSWORD), '')
  // close() ends the listener with the connection.
  await s.close()
  await eventually(async () => assert.doesNotMatch(await sentinelClients(), /user=watcher/), 3000)
  // Without the data nodes' Sentinel addition (ROLE), and without INFO (the client's
  // other way to ask a node for its role), the primary cannot be confirmed.
  for (const node of d.nodes) await cli(node.port, ['ACL', 'SETUSER', 'sessions', '-role', '-info'], PASSWORD)
  const refused = sentinelStore(d, { url: 'redis://sessions:store-secret@ignored.invalid:1' })
  await assert.rejects(refused.getRid(rid), /permission|NOPERM/i)
})

test('through Sentinel: a wrong master name or no reachable Sentinel rejects with ERR_REDIS_UNAVAILABLE, fast', async () => {
  const d = await asked
  const unknown = sentinelStore({ ...d, masterName: 'nosuchmaster' })
  const started = Date.now()
  await assert.rejects(unknown.getRid('x'), (err) => err.code === 'ERR_REDIS_UNAVAILABLE' && /not found in sentinel/i.test(err.message))
  const nobody = sentinelStore({ ...d, sentinelUrls: ['redis://127.0.0.1:1'] })
  await assert.rejects(nobody.getRid('x'), (err) => err.code === 'ERR_REDIS_UNAVAILABLE' && /refused/i.test(err.message))
  assert.ok(Date.now() - started < 2 * TIMEOUT_MS, `both failed within the timeouts (${Date.now() - started} ms)`)
})

test('SENTINEL FAILOVER while calls run: calls fail at most for the failover window, then the same store writes to the new primary', async (t) => {
  const d = await asked
  const s = sentinelStore(d)
  const oldPort = await d.primaryPort()
  const stop = { done: false }
  const running = issueLoad(s, stop)
  await sleep(300)
  const failoverAt = Date.now()
  await d.failover()
  const newPort = await d.waitForNewPrimary(oldPort)
  const switchedAt = Date.now()
  await sleep(1500)
  stop.done = true
  const log = await running
  assert.notEqual(newPort, oldPort)
  const failedFor = log.failures.length ? log.failures.at(-1).at - log.failures[0].at : 0
  t.diagnostic(
    `failover: new primary named after ${switchedAt - failoverAt} ms; ${log.failures.length} calls failed over ${failedFor} ms (${[...new Set(log.failures.map((f) => f.code))]}); ${log.issued.length} succeeded`,
  )
  assert.ok(failedFor < 5000, `calls failed for ${failedFor} ms`)
  assert.ok(
    log.failures.every((f) => f.at < switchedAt + 2 * TIMEOUT_MS),
    'no call failed once the new primary was named',
  )
  // Sessions issued once the Sentinels named the new primary are on it: the store did
  // not keep writing to the old primary (which stays a primary for seconds, and whose
  // writes the failover then discards).
  const later = log.issued.filter((i) => i.startedAt > switchedAt + 500).map((i) => i.rid)
  assert.ok(later.length > 10, `calls succeeded after the failover (${later.length})`)
  const newPrimary = raw(newPort, PASSWORD)
  assert.deepEqual(await missing(newPrimary, later), [], 'every session issued after the failover is on the new primary')
  const { rid } = await s.issueInitial('after', { now: nowSeconds() })
  assert.equal(await newPrimary.hget(`snt:rid:${rid}`, 'userId'), 'after')
})

test('primary killed (SIGKILL) while calls run: the same store recovers once the Sentinels promote the replica', async (t) => {
  const d = await killed
  const s = sentinelStore(d)
  const oldPort = await d.primaryPort()
  const before = await s.issueInitial('before', { now: nowSeconds() })
  // The replica has it before the kill, so it must survive the failover.
  const replicaPort = d.nodes.find((n) => n.port !== oldPort).port
  await eventually(async () => assert.equal(await raw(replicaPort).exists(`snt:rid:${before.rid}`), 1))
  const stop = { done: false }
  const running = issueLoad(s, stop)
  await sleep(300)
  const killedAt = Date.now()
  await d.nodeByPort(oldPort).kill('SIGKILL')
  const newPort = await d.waitForNewPrimary(oldPort)
  const promotedAt = Date.now()
  await eventually(() => s.getRid(before.rid))
  const recoveredAt = Date.now()
  await sleep(1000)
  stop.done = true
  const log = await running
  t.diagnostic(
    `kill: promoted after ${promotedAt - killedAt} ms, the store served again ${recoveredAt - promotedAt} ms later; ${log.failures.length} calls failed (${[...new Set(log.failures.map((f) => f.code))]})`,
  )
  assert.ok(log.failures.length > 0, 'the kill was seen by the calls')
  assert.ok(
    log.failures.every((f) => f.at < recoveredAt + 500),
    'no call failed once the store served again',
  )
  const later = log.issued.filter((i) => i.startedAt > recoveredAt).map((i) => i.rid)
  assert.ok(later.length > 10, `calls succeeded after the recovery (${later.length})`)
  const newPrimary = raw(newPort)
  assert.deepEqual(await missing(newPrimary, later), [], 'every session issued after the recovery is on the new primary')
  assert.equal(await newPrimary.hget(`snt:rid:${before.rid}`, 'userId'), 'before')
  assert.equal((await s.verifyAndRotateRefresh({ rid: before.rid, now: nowSeconds() })).userId, 'before')
})

test('after +switch-master the store goes to the announced primary without asking the Sentinels again', async () => {
  const d = await announcing
  for (const sentinel of d.sentinels) await cli(sentinel.port, ['ACL', 'SETUSER', 'watcher', 'on', '>watch-secret', ...sentinelUserRule().split(' ')])
  const s = sentinelStore(d, { sentinel: { masterName: d.masterName, nodes: d.sentinelUrls, username: 'watcher', password: 'watch-secret' } })
  await s.issueInitial('first', { now: nowSeconds() })
  const listening = async () => (await Promise.all(d.sentinels.map((x) => cli(x.port, ['CLIENT', 'LIST'])))).join('\n')
  await eventually(async () => assert.match(await listening(), /cmd=subscribe user=watcher/))
  // From now on a lookup through the Sentinels would be refused (and logged).
  for (const sentinel of d.sentinels) await cli(sentinel.port, ['ACL', 'SETUSER', 'watcher', '-sentinel|masters'])
  const oldPort = await d.primaryPort()
  await d.failover()
  const newPort = await d.waitForNewPrimary(oldPort)
  await sleep(300)
  const { rid } = await s.issueInitial('after', { now: nowSeconds() })
  assert.equal(await raw(newPort).exists(`snt:rid:${rid}`), 1, 'written to the new primary')
  for (const sentinel of d.sentinels) assert.equal(await cli(sentinel.port, ['ACL', 'LOG']), '', 'no lookup was tried')
})

/** One call of every state change, each on fresh sessions of `user`. */
async function everyStateChange(s, user) {
  const now = nowSeconds()
  const issue = () => s.issueInitial(user, { now, deviceId: 'dev' })
  return {
    issueInitial: issue,
    verifyAndRotateRefresh: async (rid) => s.verifyAndRotateRefresh({ rid, now }),
    logout: async (rid) => s.logout(rid),
    logoutDevice: async () => s.logoutDevice(user, 'dev'),
    logoutAll: async () => s.logoutAll(user),
    tombstoneLineage: async (rid) => s.tombstoneLineage(rid),
    gcOrphans: async () => s.gcOrphans(),
  }
}

test('replicated writes: every state change succeeds while the replica acknowledges, and rejects with ERR_NOT_REPLICATED (applied on the primary) while it is stopped', async (t) => {
  const d = await durable
  const s = sentinelStore(d, { durability: { replicas: 1, timeoutMs: 500 } })
  const plain = sentinelStore(d)
  const primaryPort = await d.primaryPort()
  const replica = d.nodes.find((n) => n.port !== primaryPort)
  const primary = raw(primaryPort)

  // WAIT's cost: sequential issues with and without it.
  const timeIssues = async (store, n = 200) => {
    const started = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await store.issueInitial('timing', { now: nowSeconds() })
    return Number(process.hrtime.bigint() - started) / 1e3 / n
  }
  await timeIssues(plain, 50)
  const [withWait, without] = [await timeIssues(s), await timeIssues(plain)]
  t.diagnostic(`issueInitial one at a time: ${withWait.toFixed(0)} µs with WAIT, ${without.toFixed(0)} µs without`)

  const changes = await everyStateChange(s, 'repl-up')
  const rids = []
  for (let i = 0; i < 4; i++) rids.push((await changes.issueInitial()).rid)
  await changes.verifyAndRotateRefresh(rids[0])
  await changes.logout(rids[1])
  await changes.tombstoneLineage(rids[2])
  await changes.logoutDevice()
  await changes.logoutAll()
  await changes.gcOrphans()

  await replica.kill('SIGSTOP')
  try {
    const down = await everyStateChange(s, 'repl-down')
    const ridsDown = []
    for (let i = 0; i < 3; i++) ridsDown.push((await (await everyStateChange(plain, 'repl-down')).issueInitial()).rid)
    const notReplicated = async (name, call, check) => {
      const started = Date.now()
      await assert.rejects(
        call(),
        (err) => {
          assert.ok(err instanceof Error)
          assert.equal(err.code, 'ERR_NOT_REPLICATED', `${name}: ${err.code} ${err.message}`)
          assert.match(err.message, NOT_REPLICATED)
          return true
        },
        name,
      )
      assert.ok(Date.now() - started >= 450, `${name} waited for the replica (${Date.now() - started} ms)`)
      if (check) assert.ok(await check(), `${name}: the change is on the primary`)
    }
    const indexSize = () => primary.scard('snt:user:repl-down:rids')
    const sizeBefore = await indexSize()
    await notReplicated('issueInitial', down.issueInitial, async () => (await indexSize()) === sizeBefore + 1)
    await notReplicated(
      'verifyAndRotateRefresh',
      () => down.verifyAndRotateRefresh(ridsDown[0]),
      async () => (await primary.hget(`snt:rid:${ridsDown[0]}`, 'status')) === 'used',
    )
    await notReplicated(
      'logout',
      () => down.logout(ridsDown[1]),
      async () => (await primary.hget(`snt:rid:${ridsDown[1]}`, 'status')) === 'tombstoned',
    )
    await notReplicated(
      'tombstoneLineage',
      () => down.tombstoneLineage(ridsDown[2]),
      async () => (await primary.hget(`snt:rid:${ridsDown[2]}`, 'status')) === 'tombstoned',
    )
    await notReplicated('logoutDevice', down.logoutDevice)
    await notReplicated('logoutAll', down.logoutAll, async () => (await indexSize()) === 0)
    // gc stops at its first page that is not acknowledged: the index page, here.
    await primary.sadd('snt:user:ghost:rids', 'snt:rid:gone')
    await notReplicated('gcOrphans', down.gcOrphans, async () => (await primary.exists('snt:user:ghost:rids')) === 0)
    // Reads and dry runs send no WAIT: they answer at once.
    const started = Date.now()
    assert.equal(await s.getRid(ridsDown[1]).then((h) => h.status), 'tombstoned')
    assert.deepEqual(await s.scanRids('repl-down'), [])
    assert.equal((await s.gcOrphans({ dryRun: true })).dryRun, true)
    assert.ok(Date.now() - started < 300, `reads did not wait (${Date.now() - started} ms)`)
  } finally {
    await replica.kill('SIGCONT')
  }
  await eventually(() => s.issueInitial('repl-back', { now: nowSeconds() }))
})

test('replicated writes: no acknowledged logout is lost when the primary is killed right after it', async () => {
  const d = await durable
  const s = sentinelStore(d, { durability: { replicas: 1, timeoutMs: 500 } })
  const oldPort = await d.primaryPort()
  await eventually(() => s.issueInitial('settle', { now: nowSeconds() }))
  const N = 200
  const issued = await Promise.all(Array.from({ length: N }, (_, i) => s.issueInitial(`lost${i % 20}`, { now: nowSeconds(), deviceId: 'd' })))
  const rids = issued.map((i) => i.rid)
  const outcomes = await Promise.allSettled(rids.map((rid) => s.logout(rid)))
  await d.nodeByPort(oldPort).kill('SIGKILL')
  const acknowledged = rids.filter((_, i) => outcomes[i].status === 'fulfilled')
  assert.equal(acknowledged.length, N, `every logout acknowledged (${outcomes.find((o) => o.status === 'rejected')?.reason?.message})`)
  const newPort = await d.waitForNewPrimary(oldPort)
  const newPrimary = raw(newPort)
  const pipe = newPrimary.pipeline()
  for (const rid of acknowledged) pipe.hget(`snt:rid:${rid}`, 'status')
  const statuses = (await pipe.exec()).map(([, status]) => status)
  assert.deepEqual(
    statuses.filter((st) => st !== 'tombstoned'),
    [],
    'every acknowledged logout is on the new primary',
  )
  // The new primary has no replica left: the same store now finds it, and says so.
  await eventually(async () => {
    await assert.rejects(s.logout(rids[0]), (err) => err.code === 'ERR_NOT_REPLICATED')
  })
})

test('replicated writes on a cluster: WAIT goes to the primary that ran the script', async () => {
  const cluster = await startCluster({ primaries: 3, replicas: 1, extraArgs: ['--repl-diskless-sync-delay', '0'] })
  after(() => cluster.stop())
  // Every replica has finished its first sync, so it acknowledges.
  await eventually(async () => {
    for (const node of cluster.nodes) {
      const info = await cli(node.port, ['INFO', 'replication'])
      assert.ok(info.includes('role:master') || info.includes('master_link_status:up'))
    }
  })
  // A replica on a loaded 2-core machine can take longer than a few hundred milliseconds
  // to acknowledge; the refusals below do not depend on the bound, so it is generous.
  const s = createRedisStore({ url: cluster.url, cluster: true, prefix: 'snt', absTtlSeconds: 3600, durability: { replicas: 1, timeoutMs: 1500 } })
  after(() => s.close())
  const users = Array.from({ length: 6 }, (_, i) => `cu${i}`)
  for (const user of users) await eventually(() => s.issueInitial(user, { now: nowSeconds() }))
  const replicas = []
  for (const node of cluster.nodes) {
    if ((await cli(node.port, ['ROLE'])).startsWith('slave')) replicas.push(node)
  }
  assert.equal(replicas.length, 3)
  const signal = (sig) => {
    for (const r of replicas) process.kill(r.pid, sig)
  }
  // Every primary's writes acknowledged by its replica.
  const caughtUp = () =>
    eventually(async () => {
      for (const node of cluster.nodes) {
        const info = await cli(node.port, ['INFO', 'replication'])
        if (!info.includes('role:master')) continue
        const offset = info.match(/master_repl_offset:(\d+)/)[1]
        assert.match(info, new RegExp(`slave0:.*offset=${offset},`))
      }
    })
  // One user at a time, the replicas stopped, every other primary's writes acknowledged
  // before: the user's primary is the only node with a write to wait for, so a WAIT sent
  // to any other node would succeed.
  for (const user of users) {
    await caughtUp()
    signal('SIGSTOP')
    try {
      await assert.rejects(s.issueInitial(user, { now: nowSeconds() }), (err) => err.code === 'ERR_NOT_REPLICATED', user)
    } finally {
      signal('SIGCONT')
    }
  }
  await eventually(() => s.issueInitial('cu0', { now: nowSeconds() }))
})
