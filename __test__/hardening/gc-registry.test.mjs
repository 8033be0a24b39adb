// gcScope: 'registry' against a real Redis: the routine gc walks the store's registry of
// users, not the keyspace. Shows that without the option nothing more is stored; that the
// first gc with it makes the full pass and registers the users already there (turning it
// on with live sessions loses none); that the routine gc then collects what it should,
// leaves other applications' keys and unindexed hashes alone, and keeps the registry
// bounded (users whose index is gone leave it); that a dry run writes nothing; that a bad
// value and the cluster layout are refused; and that a registry key the store cannot
// write fails a state change or a gc cleanly, with nothing written.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { dump, failOnUnhandledRejections, hasFunctions, keys, nowSeconds, rawClient, redisUrl, uniquePrefix } from '../shared/helpers.mjs'

failOnUnhandledRejections()

const url = await redisUrl()
const admin = await rawClient(url)
// Redis 6.2 has no functions, and its ACL refuses a rule that names them.
const functions = await hasFunctions(admin)
const TTL = 7 * 24 * 3600

function store(prefix, extra = {}) {
  const s = createRedisStore({ url, prefix, absTtlSeconds: TTL, ...extra })
  after(() => s.close())
  return s
}

/** The registry's members, sorted. */
const registry = async (prefix) => (await admin.smembers(`${prefix}:registry`)).sort()

test('without gcScope, or with keyspace, no registry key is ever written', async () => {
  for (const extra of [{}, { gcScope: 'keyspace' }]) {
    const prefix = uniquePrefix('gcreg')
    const s = store(prefix, extra)
    const a = await s.issueInitial('u1', { now: nowSeconds() })
    await s.verifyAndRotateRefresh({ rid: a.rid, now: nowSeconds() })
    await s.gcOrphans()
    assert.equal(await admin.exists(`${prefix}:registry`), 0)
    assert.deepEqual(
      Object.keys(await dump(admin, prefix)).filter((key) => key.includes('registry')),
      [],
    )
  }
})

test('a bad gcScope and the cluster layout with registry are refused with a TypeError', () => {
  for (const gcScope of ['all', true, 1, null]) {
    assert.throws(
      () => createRedisStore({ url, absTtlSeconds: TTL, gcScope }),
      (err) => err instanceof TypeError && /gcScope/.test(err.message),
    )
  }
  assert.throws(
    () => createRedisStore({ url, absTtlSeconds: TTL, cluster: true, gcScope: 'registry' }),
    (err) => err instanceof TypeError && /gcScope/.test(err.message) && /cluster/.test(err.message),
  )
  store(uniquePrefix('gcreg'), { cluster: true, gcScope: 'keyspace' }).close()
})

test('a user whose index is created is registered in the same call, and only then', async () => {
  const prefix = uniquePrefix('gcreg')
  const k = keys(prefix)
  const s = store(prefix, { gcScope: 'registry' })
  const a = await s.issueInitial('u1', { now: nowSeconds() })
  assert.deepEqual(await registry(prefix), [k.userKey('u1')])
  await s.issueInitial('u1', { now: nowSeconds() })
  await s.verifyAndRotateRefresh({ rid: a.rid, now: nowSeconds() })
  assert.deepEqual(await registry(prefix), [k.userKey('u1')])
  await s.issueInitial('u2', { now: nowSeconds() })
  assert.deepEqual(await registry(prefix), [k.userKey('u1'), k.userKey('u2')])
})

test('turned on with live sessions: the first gc makes the full pass and registers them; a dry run writes nothing', async () => {
  const prefix = uniquePrefix('gcreg')
  const k = keys(prefix)
  const before = store(prefix)
  await before.issueInitial('old1', { now: nowSeconds() })
  await before.issueInitial('old2', { now: nowSeconds() })
  await admin.sadd(k.userKey('old1'), k.ridKey('gone-1'))
  const s = store(prefix, { gcScope: 'registry' })
  const start = await dump(admin, prefix)
  const dry = await s.gcOrphans({ dryRun: true })
  assert.equal(dry.removedFromSets, 1)
  assert.deepEqual(await dump(admin, prefix), start, 'a dry run wrote something')
  const first = await s.gcOrphans()
  assert.equal(first.removedFromSets, 1)
  assert.equal(first.scannedUserSets, 2)
  assert.deepEqual(await registry(prefix), ['', k.userKey('old1'), k.userKey('old2')])
  // From now on gc walks the registry; its dry run writes nothing either.
  await admin.sadd(k.userKey('old2'), k.ridKey('gone-2'))
  const seeded = await dump(admin, prefix)
  assert.equal((await s.gcOrphans({ dryRun: true })).removedFromSets, 1)
  assert.deepEqual(await dump(admin, prefix), seeded, 'a dry run wrote something')
  assert.equal((await s.gcOrphans()).removedFromSets, 1)
  assert.equal(await admin.sismember(k.userKey('old2'), k.ridKey('gone-2')), 0)
})

test('the routine gc collects what it should among foreign keys, and leaves them and unindexed hashes alone', async () => {
  const prefix = uniquePrefix('gcreg')
  const k = keys(prefix)
  const s = store(prefix, { gcScope: 'registry' })
  await s.gcOrphans() // the full pass, on an empty store
  const now = nowSeconds()
  const live = await s.issueInitial('u1', { now })
  await s.issueInitial('u2', { now })
  await admin.sadd(k.userKey('u1'), k.ridKey('gone'))
  // An ended session still in its index, past absExpAt: gc deletes it.
  const ended = k.ridKey('ended')
  await admin.hset(ended, 'userId', 'u2', 'status', 'tombstoned', 'absExpAt', String(now - 10))
  await admin.sadd(k.userKey('u2'), ended)
  const foreign = { [`${prefix}-other:a`]: 'x', 'other-app:key': 'y' }
  for (const [key, value] of Object.entries(foreign)) await admin.set(key, value)
  after(() => admin.del(...Object.keys(foreign)))
  const stray = k.ridKey('no-user')
  await admin.hset(stray, 'status', 'active')
  const report = await s.gcOrphans()
  assert.equal(report.removedFromSets, 1)
  assert.equal(report.scannedUserSets, 2)
  assert.equal(report.deletedRidHashes, 1, 'the ended session')
  assert.equal(await admin.exists(ended), 0)
  assert.equal(await admin.sismember(k.userKey('u2'), ended), 0)
  assert.equal((await s.getRid(live.rid)).status, 'active')
  for (const [key, value] of Object.entries(foreign)) assert.equal(await admin.get(key), value)
  // The documented miss: a hash in no index is left to the keyspace pass.
  assert.equal(await admin.exists(stray), 1)
  const full = store(prefix)
  assert.equal((await full.gcOrphans()).deletedRidHashes, 1)
  assert.equal(await admin.exists(stray), 0)
})

test('the registry stays bounded: users whose index is gone or emptied leave it', async () => {
  const prefix = uniquePrefix('gcreg')
  const k = keys(prefix)
  const s = store(prefix, { gcScope: 'registry' })
  await s.gcOrphans()
  for (let i = 0; i < 30; i++) await s.issueInitial(`u${i}`, { now: nowSeconds() })
  assert.equal((await registry(prefix)).length, 31)
  for (let i = 0; i < 20; i++) await s.logoutAll(`u${i}`)
  // An index whose every member is gone: gc empties it and unregisters it in one run.
  await admin.del(...(await admin.smembers(k.userKey('u25'))))
  const report = await s.gcOrphans()
  assert.equal(report.removedFromSets, 1)
  const left = await registry(prefix)
  assert.deepEqual(left, ['', ...Array.from({ length: 10 }, (_, i) => k.userKey(`u${i + 20}`)).filter((key) => key !== k.userKey('u25'))].sort())
  for (let i = 20; i < 30; i++) await s.logoutAll(`u${i}`)
  // A registered index key that now holds another type fails the routine gc (its user's
  // sessions cannot be judged), with nothing written; once it is gone, it leaves.
  await admin.set(k.userKey('u29'), 'not a set')
  const held = await dump(admin, prefix)
  await assert.rejects(s.gcOrphans(), /WRONGTYPE/)
  assert.deepEqual(await dump(admin, prefix), held)
  await admin.del(k.userKey('u29'))
  await s.gcOrphans()
  assert.deepEqual(await registry(prefix), [''])
})

test('a registry key the store cannot write fails a state change and a gc cleanly, with nothing written', async () => {
  const prefix = uniquePrefix('gcreg')
  const s = store(prefix, { gcScope: 'registry' })
  await s.issueInitial('u1', { now: nowSeconds() })
  await s.gcOrphans()
  const saved = await admin.dumpBuffer(`${prefix}:registry`)
  await admin.del(`${prefix}:registry`)
  await admin.set(`${prefix}:registry`, 'not a set')
  const start = await dump(admin, prefix)
  await assert.rejects(s.issueInitial('u2', { now: nowSeconds() }), /WRONGTYPE|another type/)
  await assert.rejects(s.gcOrphans())
  assert.deepEqual(await dump(admin, prefix), start)
  await admin.del(`${prefix}:registry`)
  await admin.restore(`${prefix}:registry`, 0, saved)
  await s.issueInitial('u2', { now: nowSeconds() })

  // An ACL user that may not touch the registry key: a new user's first session is refused
  // with nothing written.
  const name = `gcreg-${prefix}`
  const rule = (await import('../../index.mjs')).aclRule(prefix, [...(functions ? ['functions'] : []), 'registry'])
  const items = rule.split(' ').flatMap((item) => (item === `~${prefix}:*` ? [`~${prefix}:rid:*`, `~${prefix}:user:*`, `~${prefix}:device:*`] : [item]))
  await admin.call('ACL', 'SETUSER', name, 'on', '>secret', ...items)
  after(() => admin.call('ACL', 'DELUSER', name))
  const port = new URL(url).port
  const limited = store(prefix, { url: `redis://${name}:secret@127.0.0.1:${port}`, gcScope: 'registry' })
  const before = await dump(admin, prefix)
  await assert.rejects(limited.issueInitial('u3', { now: nowSeconds() }), /NOPERM|may not/)
  assert.deepEqual(await dump(admin, prefix), before)
})
