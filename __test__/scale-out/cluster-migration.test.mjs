// Moving a deployment from one node to a Redis Cluster logs nobody out: sessions issued
// on the old node, by this package or by the original, are copied with migrateFrom and
// keep rotating, logging out and being collected on the cluster, through their old rids.
// Real servers: a throwaway redis-server and a throwaway 3+3 cluster.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { startRedis } from '../../scripts/redis-server.mjs'
import { startCluster } from '../../scripts/redis-cluster.mjs'
import { createOriginalStore } from '../shared/original.mjs'
import { nowSeconds } from '../shared/helpers.mjs'

const DAY = 86400
const node = await startRedis()
const cluster = await startCluster()
after(async () => {
  await node.stop()
  await cluster.stop()
})

test('sessions of the old node keep working on the cluster after migrateFrom, old rids included', async () => {
  const prefix = 'mig'
  const now = nowSeconds()
  const old = createRedisStore({ url: node.url, prefix, absTtlSeconds: 30 * DAY })
  const original = await createOriginalStore({ url: node.url, prefix, absTtlSeconds: 30 * DAY })
  const target = createRedisStore({ url: cluster.url, cluster: true, prefix, absTtlSeconds: 30 * DAY })
  try {
    // Before the move: sessions by both implementations, a rotated lineage, a logout.
    const a0 = await old.issueInitial('ann', { now, deviceId: 'phone', absTtlSeconds: 10 * DAY })
    const a1 = await old.verifyAndRotateRefresh({ rid: a0.rid, now: now + 1, deviceId: 'phone' })
    const b = await original.issueInitial('bob', { now, deviceId: 'laptop', absTtlSeconds: 10 * DAY })
    const c = await old.issueInitial('cat', { now, absTtlSeconds: 10 * DAY })
    await old.logout(c.rid)
    // Garbage: a hash without userId, and a used session past its absExpAt left without expiry.
    await original.client.hset(`${prefix}:rid:junk`, { status: 'active' })
    await original.client.hset(`${prefix}:rid:stale`, { userId: 'eve', status: 'used', absExpAt: String(now - 10) })

    const dry = await target.migrateFrom({ url: node.url, dryRun: true })
    assert.equal(dry.dryRun, true)
    assert.equal(await target.getRid(a1.newRid.rid), null, 'a dry run writes nothing')

    const first = await target.migrateFrom({ url: node.url })
    assert.deepEqual({ ...first }, { scanned: 6, copied: 4, advanced: 0, unchanged: 0, skipped: 2, dryRun: false })
    assert.equal(await target.getRid('stale'), null, 'sessions past their absolute expiry are not copied')

    // Old rids are read, rotated and replay-checked on the cluster.
    const copied = await target.getRid(a1.newRid.rid)
    assert.equal(copied.userId, 'ann')
    assert.equal(copied.status, 'active')
    assert.match(copied.parentRid, new RegExp(`^[0-9a-f]{16}\\.${a0.rid}$`))
    await assert.rejects(target.verifyAndRotateRefresh({ rid: a0.rid, now: now + 2 }), /rotate_fail:ERR_REPLAY/)
    const a2 = await target.verifyAndRotateRefresh({ rid: a1.newRid.rid, now: now + 2, deviceId: 'phone' })
    assert.equal(a2.userId, 'ann')
    assert.equal(a2.newRid.absExp, a0.absExp, 'the lineage keeps its absolute expiry')
    assert.match(a2.newRid.rid, /^[0-9a-f]{16}\./, 'the child is a rid of the cluster layout')
    assert.deepEqual(await target.scanRids('ann'), [a2.newRid.rid])

    // The original's session: rotates on the cluster; the ended one stays ended.
    const b1 = await target.verifyAndRotateRefresh({ rid: b.rid, now: now + 3, deviceId: 'laptop' })
    assert.equal(b1.userId, 'bob')
    await assert.rejects(target.verifyAndRotateRefresh({ rid: c.rid, now: now + 3 }), /rotate_fail:ERR_REPLAY/)

    // Changes on the old node after the first copy catch up; ended sessions never come back.
    const b2old = await old.issueInitial('bob', { now, absTtlSeconds: 10 * DAY })
    await old.logoutAll('bob')
    const second = await target.migrateFrom({ url: node.url })
    assert.equal(second.copied, 1, 'the session issued in between is copied')
    assert.ok(second.advanced >= 1, 'bob’s sessions ended on the old node end on the cluster too')
    assert.equal((await target.getRid(b2old.rid)).status, 'tombstoned')
    const third = await target.migrateFrom({ url: node.url })
    assert.equal(third.copied + third.advanced, 0, 'a third copy changes nothing')
    assert.equal((await target.getRid(a2.newRid.rid)).status, 'active', 'a copy never touches newer cluster sessions')

    // Logout through an old rid, logoutDevice and logoutAll by user, and gc on the cluster.
    await target.logoutDevice('ann', 'phone')
    assert.deepEqual(await target.scanRids('ann'), [])
    await target.tombstoneLineage(a0.rid)
    assert.equal((await target.getRid(a0.rid)).status, 'tombstoned')
    const report = await target.gcOrphans({ graceSeconds: 0 })
    assert.ok(report.scannedRids >= 6)
  } finally {
    await Promise.all([old.close(), original.close(), target.close()])
  }
})

test('migrateFrom needs a cluster store and a single-node source', async () => {
  const standalone = createRedisStore({ url: node.url, absTtlSeconds: 60 })
  await assert.rejects(standalone.migrateFrom({ url: node.url }), (err) => err instanceof TypeError && /cfg\.cluster/.test(err.message))
  const target = createRedisStore({ url: cluster.url, cluster: true, absTtlSeconds: 60 })
  await assert.rejects(target.migrateFrom({ url: 'http://x' }), (err) => err instanceof TypeError && /source\.url/.test(err.message))
  await assert.rejects(target.migrateFrom({ url: node.url, dryRun: 'yes' }), (err) => err instanceof TypeError && /source\.dryRun/.test(err.message))
  await assert.rejects(target.migrateFrom(null), TypeError)
  await Promise.all([standalone.close(), target.close()])
})

test('the CLI migrates with `migrate --from`, then lists the copied sessions on the cluster', async () => {
  const { execFile } = await import('node:child_process')
  const { promisify } = await import('node:util')
  const cli = (...args) => promisify(execFile)(process.execPath, [new URL('../../cli/main.mjs', import.meta.url).pathname, ...args])
  const prefix = 'cli-mig'
  const old = createRedisStore({ url: node.url, prefix, absTtlSeconds: DAY })
  const issued = await old.issueInitial('zoe', { now: nowSeconds(), deviceId: 'tab', absTtlSeconds: DAY })
  await old.close()
  const common = ['--url', cluster.url, '--cluster', '--prefix', prefix]
  const dry = JSON.parse((await cli(...common, 'migrate', '--from', node.url, '--dry-run', '--json')).stdout)
  assert.equal(dry.copied, 1)
  assert.equal(dry.dryRun, true)
  const { stdout } = await cli(...common, 'migrate', '--from', node.url)
  assert.match(stdout, /copied\s+1 session\b/)
  const listed = JSON.parse((await cli(...common, 'list', 'zoe', '--json')).stdout)
  const sessions = listed.sessions ?? listed
  assert.equal(sessions.length, 1)
  assert.equal(sessions[0].rid.endsWith(`.${issued.rid}`), true, 'the copy keeps the old rid behind the user tag')
  assert.equal(sessions[0].deviceId, 'tab')
})
