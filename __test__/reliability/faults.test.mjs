// All or nothing, under every write that can fail. Redis keeps a script's earlier writes
// when a later command fails, so each scenario below (every state change, with every
// hardening option on) is run against a fault in each write it makes: a key of another
// type (the audit stream, the user index, the device key) and a Redis user whose ACL rule
// lacks exactly one command. A call that rejects must leave every key under the prefix
// (type, content, expiry) exactly as it was, and once the fault is gone the same call
// must do the whole change. A call that resolves must have done all of it.
// REDIS_TOPOLOGY=cluster runs the same scenarios in the cluster layout; in the original's
// layout gcScope 'registry' is on too, and the registry key is among the faults.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRedisStore } from '../../index.mjs'
import { dump, failOnUnhandledRejections, hasFunctions, isCluster, keys, nowSeconds, ownServer, rawClient, uniquePrefix, userTag } from '../shared/helpers.mjs'

failOnUnhandledRejections()

// A server of this file's own: the test creates ACL users.
const server = await ownServer()
const admin = await rawClient(server.url)
const functions = await hasFunctions(isCluster ? admin.nodes('master')[0] : admin)
const nodes = isCluster ? admin.nodes('all') : [admin]
const port = Number(new URL(server.url).port)

const IDLE = 3600
const OPTIONS = {
  onReuse: 'revoke-lineage',
  reuseGraceSeconds: 30,
  idleTtlSeconds: IDLE,
  maxSessionsPerUser: 2,
  audit: { maxLen: 1000 },
  // The cluster layout refuses the registry (one key cannot be written with every slot's).
  ...(isCluster ? {} : { gcScope: 'registry' }),
}

/** The rule the command line prints for these options (the package's one list). */
function cliRule(prefix) {
  const cli = fileURLToPath(new URL('../../cli/main.mjs', import.meta.url))
  const args = ['acl', '--prefix', prefix, '--audit', ...(functions ? [] : ['--no-functions']), ...(isCluster ? ['--cluster'] : ['--registry']), '--json']
  return JSON.parse(execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' })).rule
}

let users = 0
/** A store logged in as a new user with exactly `rule`. */
async function storeAs(rule) {
  const name = `faults${++users}`
  for (const node of nodes) await node.call('ACL', 'SETUSER', name, 'on', '>secret', ...rule.split(' '))
  const url = `redis://${name}:secret@127.0.0.1:${port}`
  return { name, store: makeStore(url) }
}

function makeStore(url) {
  const s = createRedisStore({ url, absTtlSeconds: 7 * 24 * 3600, commandTimeoutMs: 5000, ...(isCluster ? { cluster: true } : {}), ...OPTIONS, prefix: PREFIX })
  after(() => s.close())
  return s
}

// Every scenario runs under one prefix (the ACL rule names it); each uses users of its own.
const PREFIX = uniquePrefix('faults')
const full = makeStore(server.url)
const auditKey = (user) => (isCluster ? `${PREFIX}:audit:{${userTag(user)}}` : `${PREFIX}:audit`)
const k = keys(PREFIX)

/** Setup: one active session of `user` on device 'd'. */
async function oneSession(s, user) {
  const now = nowSeconds()
  const a = await s.issueInitial(user, { now, deviceId: 'd' })
  return { user, now, rid: a.rid }
}

/** Setup: a session of `user` on device 'd' rotated once: `rid` is used, `child` active. */
async function rotatedOnce(s, user) {
  const now = nowSeconds()
  const a = await s.issueInitial(user, { now, deviceId: 'd' })
  const b = await s.verifyAndRotateRefresh({ rid: a.rid, now, deviceId: 'd' })
  return { user, now, rid: a.rid, child: b.newRid.rid }
}

/** Done: the rid in the state's `field` has `status`, and where given, the user has `sessions` sessions. */
function ridHasStatus(field, status, { sessions } = {}) {
  return async (st, s) => {
    assert.equal((await s.getRid(st[field])).status, status)
    if (sessions !== undefined) assert.equal((await s.scanRids(st.user)).length, sessions)
  }
}

/**
 * Each scenario: `setup(store, user)` writes its starting state with the full store and
 * returns what `call` needs; `call(store, state)` is the change under test; `expect` the
 * rejection codes that are its normal outcome (the change still happened); `done(state,
 * store)` checks that the whole change happened.
 */
const SCENARIOS = [
  {
    name: 'issue, ending the oldest session at maxSessionsPerUser',
    async setup(s, user) {
      const now = nowSeconds()
      const a = await s.issueInitial(user, { now: now - 20, deviceId: 'old' })
      await s.issueInitial(user, { now: now - 10, deviceId: 'mid' })
      return { user, now, oldest: a.rid }
    },
    call: (s, st) => s.issueInitial(st.user, { now: st.now, deviceId: 'new' }),
    done: ridHasStatus('oldest', 'tombstoned', { sessions: 2 }),
  },
  {
    name: 'rotation',
    setup: oneSession,
    call: (s, st) => s.verifyAndRotateRefresh({ rid: st.rid, now: st.now, deviceId: 'd' }),
    done: ridHasStatus('rid', 'used', { sessions: 1 }),
  },
  {
    name: 'a replay ending its lineage (onReuse revoke-lineage)',
    setup: rotatedOnce,
    // Another binding: not the grace window's answer, a reuse.
    call: (s, st) => s.verifyAndRotateRefresh({ rid: st.rid, now: st.now, deviceId: 'thief' }),
    expect: ['ERR_REPLAY'],
    done: ridHasStatus('child', 'tombstoned'),
  },
  {
    name: 'an idle session ended on rotation (ERR_IDLE)',
    setup: oneSession,
    call: (s, st) => s.verifyAndRotateRefresh({ rid: st.rid, now: st.now + IDLE + 5, deviceId: 'd' }),
    expect: ['ERR_IDLE'],
    done: ridHasStatus('rid', 'tombstoned'),
  },
  {
    name: 'logout of an active session',
    setup: oneSession,
    call: (s, st) => s.logout(st.rid),
    async done(st, s) {
      assert.equal((await s.getRid(st.rid)).status, 'tombstoned')
      assert.deepEqual(await s.scanRids(st.user), [])
    },
  },
  {
    name: 'logout of a used rid (its lineage ends)',
    setup: rotatedOnce,
    call: (s, st) => s.logout(st.rid),
    done: ridHasStatus('child', 'tombstoned'),
  },
  {
    name: 'tombstoneLineage',
    // From the lineage's root: its active end is ended too.
    setup: rotatedOnce,
    call: (s, st) => s.tombstoneLineage(st.rid),
    done: ridHasStatus('child', 'tombstoned'),
  },
  {
    name: 'logoutDevice',
    async setup(s, user) {
      const now = nowSeconds()
      await s.issueInitial(user, { now, deviceId: 'd' })
      await s.issueInitial(user, { now, deviceId: 'd' })
      return { user }
    },
    call: (s, st) => s.logoutDevice(st.user, 'd'),
    async done(st, s) {
      assert.deepEqual(await s.scanRids(st.user), [])
    },
  },
  {
    name: 'logoutAll',
    async setup(s, user) {
      const now = nowSeconds()
      await s.issueInitial(user, { now, deviceId: 'd' })
      await s.issueInitial(user, { now })
      return { user }
    },
    call: (s, st) => s.logoutAll(st.user),
    async done(st, s) {
      assert.deepEqual(await s.scanRids(st.user), [])
    },
  },
  {
    name: 'gcOrphans removing garbage',
    audited: false,
    // gc is a sequence of script calls (a SCAN page each, indexes then rid hashes): each
    // is all or nothing, and a call that fails part way may have finished the batches
    // before it, each a cleanup of its own; the retry finishes the rest.
    batches: true,
    async setup(s, user) {
      const now = nowSeconds()
      const live = await s.issueInitial(user, { now, deviceId: 'd' })
      const gone = k.ridKey(k.rid(user, `gone-${user}`))
      const old = k.ridKey(k.rid(user, `old-${user}`))
      await admin.sadd(k.userKey(user), gone)
      await admin.hset(old, 'userId', user, 'status', 'used', 'absExpAt', String(now - 10))
      // The registry's gc judges indexed sessions only (the keyspace pass finds this one
      // in no index as well).
      if (OPTIONS.gcScope) await admin.sadd(k.userKey(user), old)
      return { user, live: live.rid, gone, old }
    },
    call: (s) => s.gcOrphans(),
    async done(st, s) {
      assert.equal(await admin.sismember(k.userKey(st.user), st.gone), 0)
      assert.equal(await admin.exists(st.old), 0)
      assert.equal((await s.getRid(st.live)).status, 'active')
    },
  },
]

/** The faults of types: a key of the scenario's user made to hold another type. */
function typeFaults(user) {
  return [
    { name: 'the audit stream holds a string', key: auditKey(user), write: (key) => admin.set(key, 'not a stream') },
    { name: 'the user index holds a string', key: k.userKey(user), write: (key) => admin.set(key, 'not a set') },
    { name: 'the device key holds a set', key: k.deviceKey(user, 'd'), write: (key) => admin.sadd(key, 'not a string') },
    ...(OPTIONS.gcScope ? [{ name: 'the registry holds a string', key: `${PREFIX}:registry`, write: (key) => admin.set(key, 'not a set') }] : []),
  ]
}

let scenarioUsers = 0
/** Runs `scenario` with `faulty` as the store that meets the fault (after `inject`),
 * then `heal` and the retry with the full store. Returns whether the faulty call rejected. */
async function runWithFault(scenario, { faulty, inject = async () => {}, heal = async () => {}, label }) {
  const user = `u${++scenarioUsers}`
  const st = await scenario.setup(full, user)
  await inject(user)
  const before = await dump(admin, PREFIX)
  const outcome = await scenario.call(faulty, st).then(
    () => ({ ok: true }),
    (error) => ({ error }),
  )
  const normal = outcome.ok || scenario.expect?.includes(outcome.error.code)
  if (!normal) {
    assert.ok(outcome.error instanceof Error && typeof outcome.error.code === 'string', `${label}: a clear error`)
    if (!scenario.batches) assert.deepEqual(await dump(admin, PREFIX), before, `${label}: rejected (${outcome.error.message}) and changed something`)
  }
  await heal(user)
  if (!normal) {
    const retry = await scenario.call(full, st).then(
      () => null,
      (error) => error,
    )
    if (retry) assert.ok(scenario.expect?.includes(retry.code), `${label}: the retry failed: ${retry.message}`)
  }
  try {
    await scenario.done(st, full)
  } catch (err) {
    err.message = `${label}: ${err.message}`
    throw err
  }
  return !normal
}

test('a key of another type fails a state change cleanly, and the retry does all of it', async () => {
  for (const scenario of SCENARIOS) {
    for (const fault of typeFaults('x')) {
      let saved
      const rejected = await runWithFault(scenario, {
        faulty: full,
        label: `${scenario.name} / ${fault.name}`,
        async inject(user) {
          const key = typeFaults(user).find((f) => f.name === fault.name).key
          saved = { key, dumped: await admin.dumpBuffer(key), ttl: await admin.pttl(key) }
          await admin.del(key)
          await fault.write(key)
        },
        async heal() {
          await admin.del(saved.key)
          if (saved.dumped) await admin.restore(saved.key, Math.max(saved.ttl, 0), saved.dumped, 'REPLACE')
        },
      })
      // Every state change appends to the audit stream: that fault must stop each one.
      if (fault.name.startsWith('the audit stream') && scenario.audited !== false) assert.ok(rejected, `${scenario.name}: the audit fault did not stop it`)
    }
  }
})

test('every state change, with every hardening option, runs as a user with exactly the rule `acl` prints, and the server denies it nothing', async () => {
  const rule = cliRule(PREFIX)
  const { name, store } = await storeAs(rule)
  for (const scenario of SCENARIOS) await runWithFault(scenario, { faulty: store, label: `${scenario.name} as ${name}` })
  const report = await store.gcOrphans()
  assert.equal(typeof report.scannedRids, 'number')
  for (const node of nodes) {
    const log = (await node.call('ACL', 'LOG')).map((flat) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[v, flat[i + 1]]]))))
    assert.deepEqual(
      log.filter((e) => e.username === name).map((e) => `${e.reason} ${e.object}`),
      [],
    )
  }
})

test('a user lacking exactly one command of the rule fails cleanly with nothing written, and the retry does all of it', async () => {
  const rule = cliRule(PREFIX)
  const commands = rule.split(' ').filter((item) => item.startsWith('+'))
  // The server check, the scripts' loading paths and the rare EVAL path are covered by
  // the ACL suite; here: every command a state change's script calls.
  const loading = [
    '+info',
    '+command|info',
    '+evalsha',
    '+script|load',
    '+eval',
    '+fcall',
    '+function|load',
    '+scan',
    '+cluster|slots',
    '+asking',
    '+ping',
    '+client|setinfo',
  ]
  const stopped = new Set()
  for (const command of commands.filter((c) => !loading.includes(c))) {
    const { store } = await storeAs(
      rule
        .split(' ')
        .filter((item) => item !== command)
        .join(' '),
    )
    for (const scenario of SCENARIOS) {
      if (await runWithFault(scenario, { faulty: store, label: `${scenario.name} without ${command}` })) stopped.add(command)
    }
  }
  // Each withheld command stopped some state change: the scenarios reach every write.
  const unused = commands.filter((c) => !loading.includes(c) && !stopped.has(c))
  // Reads that only views and other methods use (getRid's HGETALL, scanRids' SMEMBERS is
  // also the cap's) may be needed by none of these scenarios.
  const readsOnly = ['+hgetall', '+xrevrange', '+hget', '+srandmember', '+time', '+sismember']
  assert.deepEqual(
    unused.filter((c) => !readsOnly.includes(c)),
    [],
    'commands no state change needed',
  )
})
