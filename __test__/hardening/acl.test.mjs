// The ACL rules the package derives from its one list of commands (aclRule(), which
// SCALING.md shows and the CLI's `acl` prints) against a throwaway
// redis-server of this file's own: the store does everything it does as a user with
// exactly that rule and nothing else, the server logs no denied command, and the rule is
// minimal: without any one of its commands something the store does fails.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import Redis from 'ioredis'
import { createRedisStore } from '../../index.mjs'
import { startRedis } from '../../scripts/redis-server.mjs'
import { aclFeatures, aclRule, sentinelUserRule } from '../../index.mjs'
import { failOnUnhandledRejections, hasFunctions, nowSeconds } from '../shared/helpers.mjs'

/** Each feature's rule items ('+command'), by feature name. */
const ACL_COMMANDS = Object.fromEntries(aclFeatures().map((f) => [f.name, f.commands.map((c) => `+${c}`)]))
const SENTINEL_USER_RULE = sentinelUserRule()
/** The commands that only a rare path needs, which a test cannot provoke on demand. */
const RARE_PATH_COMMANDS = ['+eval']
/** Commands only a server older than Redis 7 needs (TIME, for the index expiry check that
 * Redis 7 does with EXPIREAT ... GT), unless audit is on (its entries read the clock). */
const BEFORE_REDIS_7_COMMANDS = ['+time']
/** The commands of the scripts' EVALSHA path: on a server with functions, the store uses
 * them only when it may not use functions (a user without the functions addition). */
const EVALSHA_PATH_COMMANDS = ['+evalsha', '+script|load']

/** How the server words a permission refusal: NOPERM for a call, its own text inside a script. */
const REFUSED = /NOPERM|no permissions|can't run this command|may not run/i

failOnUnhandledRejections()

// Its own server, never REDIS_URL: the test creates users.
const server = await startRedis()
after(() => server.stop())
const admin = new Redis(server.url)
after(() => admin.quit())
const functions = await hasFunctions(admin)

/** The rule a user of this server gets: with the functions addition where it has them. */
const rule = (prefix, features = []) => aclRule(prefix, functions ? ['functions', ...features] : features)

let users = 0
/** A user with exactly `rule` (and a password); returns its name and a store URL. */
async function userWith(rule) {
  const name = `sessions${++users}`
  await admin.call('ACL', 'SETUSER', name, 'on', '>secret', ...rule.split(' '))
  return { name, url: `redis://${name}:secret@127.0.0.1:${server.port}` }
}

function storeFor(url, prefix, extra = {}) {
  const s = createRedisStore({ url, prefix, absTtlSeconds: 3600, commandTimeoutMs: 1000, ...extra })
  after(() => s.close())
  return s
}

/** The server's ACL LOG entries for `user` (repeats of one denial are one entry, counted). */
async function logEntries(user) {
  const entries = await admin.call('ACL', 'LOG')
  return entries.map((flat) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[v, flat[i + 1]]])))).filter((entry) => entry.username === user)
}

/** The commands the server refused `user` (ACL LOG). */
async function denied(user) {
  return (await logEntries(user)).map((entry) => `${entry.reason} ${entry.object}`)
}

/**
 * Everything the store does: the nine methods along every path that needs its own
 * command (a new and an existing index, device keys, the batches of logoutAll, each kind
 * of garbage gc removes), and with `operator` the operator views. Starts from an empty
 * script cache (and no function library), so scripts are loaded as on a fresh server.
 * Throws on the first failure.
 */
async function exercise(url, prefix, { operator = false } = {}) {
  await admin.call('SCRIPT', 'FLUSH')
  if (functions) await admin.call('FUNCTION', 'FLUSH')
  const s = storeFor(url, prefix)
  const now = nowSeconds()
  const a1 = await s.issueInitial('alice', { now, deviceId: 'phone' })
  const a2 = await s.issueInitial('alice', { now, deviceId: 'phone' })
  await s.issueInitial('alice', { now, deviceId: 'tablet' })
  const rotated = await s.verifyAndRotateRefresh({ rid: a1.rid, now, deviceId: 'phone' })
  assert.equal((await s.getRid(a1.rid)).status, 'used')
  assert.equal((await s.scanRids('alice')).length, 3)
  await s.logout(rotated.newRid.rid)
  await s.logoutDevice('alice', 'tablet')
  await s.tombstoneLineage(a2.rid)
  assert.deepEqual(await s.scanRids('alice'), [])
  for (let i = 0; i < 3; i++) await s.issueInitial('bob', { now, deviceId: `d${i}` })
  await s.logoutAll('bob')
  assert.deepEqual(await s.scanRids('bob'), [])
  // Garbage of every kind gc removes, written by the admin.
  await admin.sadd(`${prefix}:user:carol:rids`, `${prefix}:rid:gone`)
  await admin.hset(`${prefix}:rid:no-user`, 'status', 'active')
  await admin.hset(`${prefix}:rid:unindexed`, 'userId', 'dave', 'status', 'active', 'absExpAt', String(now + 3600))
  await admin.hset(`${prefix}:rid:old`, 'userId', 'erin', 'status', 'used', 'absExpAt', String(now - 10))
  const dry = await s.gcOrphans({ dryRun: true })
  const report = await s.gcOrphans()
  for (const r of [dry, report]) {
    assert.ok(r.removedFromSets >= 1 && r.addedToSets >= 1 && r.deletedRidHashes >= 2, JSON.stringify(r))
  }
  if (operator) {
    assert.equal((await s.listSessions('dave')).length, 1)
    assert.equal((await s.inspectLineage(a1.rid)).sessions.length, 2)
    assert.ok((await s.keyspaceStats()).ridKeys > 0)
  }
}

test('SCALING.md shows the rules this test applies', () => {
  const doc = readFileSync(new URL('../../SCALING.md', import.meta.url), 'utf8')
  assert.ok(doc.includes(aclRule('auth')), 'the store rule for the default prefix')
  for (const [feature, commands] of Object.entries(ACL_COMMANDS)) {
    if (feature !== 'store') assert.ok(doc.includes(commands.join(' ')), `the ${feature} addition`)
  }
  assert.ok(doc.includes(SENTINEL_USER_RULE), 'the Sentinel user rule')
})

test('a user with exactly the store rule can do everything the store does, and the server denies it nothing', async () => {
  const { name, url } = await userWith(rule('aclp'))
  await exercise(url, 'aclp')
  assert.deepEqual(await denied(name), [])
  // Nothing outside the prefix: the rule is what confines the store.
  const outside = new Redis(url, { enableReadyCheck: false })
  after(() => outside.quit())
  await assert.rejects(outside.get('other:key'), /NOPERM/)
})

test('the operator views need the operator addition', async () => {
  const full = await userWith(rule('aclo', ['operator']))
  await exercise(full.url, 'aclo', { operator: true })
  assert.deepEqual(await denied(full.name), [])
  const base = await userWith(rule('aclb'))
  await assert.rejects(exercise(base.url, 'aclb', { operator: true }), REFUSED)
})

test('the rule is minimal: without any one of its commands, something the store does fails', async () => {
  // With functions (Redis 7, Valkey), the EVALSHA path is the fallback (the next test
  // covers it), and TIME is read only for audit entries.
  const needed = [...ACL_COMMANDS.store, ...ACL_COMMANDS.operator, ...(functions ? ACL_COMMANDS.functions : [])].filter(
    (c) => !RARE_PATH_COMMANDS.includes(c) && !(functions && [...EVALSHA_PATH_COMMANDS, ...BEFORE_REDIS_7_COMMANDS].includes(c)),
  )
  const notNeeded = []
  for (const [i, command] of needed.entries()) {
    const withheld = rule(`aclm${i}`, ['operator']).replace(` ${command}`, '')
    assert.ok(!withheld.split(' ').includes(command))
    const { name, url } = await userWith(withheld)
    try {
      await exercise(url, `aclm${i}`, { operator: true })
      // The server check works without what it may not read, but the server logs it.
      if ((await denied(name)).length === 0) notNeeded.push(command)
    } catch (err) {
      assert.match(String(err.message), REFUSED, `${command}: ${err.message}`)
    }
  }
  assert.deepEqual(notNeeded, [], 'commands the store ran without')
})

test('a user that may not use functions (a rule without +fcall or +function|load) falls back to EVALSHA, which then needs its commands', {
  skip: !functions && 'the server has no functions',
}, async () => {
  for (const [i, withheld] of ['+fcall', '+function|load'].entries()) {
    const withoutFunctions = rule(`aclf${i}`, ['operator']).replace(` ${withheld}`, '')
    const { name, url } = await userWith(withoutFunctions)
    await exercise(url, `aclf${i}`, { operator: true })
    // One refusal, the first call's; the store does not ask again.
    const entries = await logEntries(name)
    assert.deepEqual(
      entries.map((e) => [e.object, Number(e.count)]),
      [[withheld === '+fcall' ? 'fcall' : 'function|load', 1]],
    )
    for (const [j, command] of EVALSHA_PATH_COMMANDS.entries()) {
      const without = await userWith(withoutFunctions.replace(` ${command}`, ''))
      await assert.rejects(exercise(without.url, `aclf${i}${j}`, { operator: true }), REFUSED, `${withheld} and ${command} withheld`)
    }
  }
})

test('replicated writes need the durability addition (WAIT)', async () => {
  // A server without replicas: with WAIT allowed the call is refused for want of an
  // acknowledgement; without it, for want of the permission.
  const durability = { replicas: 1, timeoutMs: 100 }
  const allowed = await userWith(rule('acld', ['durability']))
  await assert.rejects(storeFor(allowed.url, 'acld', { durability }).issueInitial('u', { now: nowSeconds() }), (err) => err.code === 'ERR_NOT_REPLICATED')
  assert.deepEqual(await denied(allowed.name), [])
  const refused = await userWith(rule('acln'))
  await assert.rejects(
    storeFor(refused.url, 'acln', { durability }).issueInitial('u', { now: nowSeconds() }),
    (err) => err.code === 'ERR_REDIS_AUTH' && REFUSED.test(err.message) && /'wait'/.test(err.message),
  )
})
