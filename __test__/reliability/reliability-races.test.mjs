// Races against a real Redis. Every state change of the store is one
// Lua script, so any interleaving of concurrent calls must leave what some serial order
// of them would leave. These tests run many rounds of concurrent calls through several
// stores (several connections) and check the invariants the store promises:
//   - of N concurrent rotations of one rid exactly one succeeds, the rest ERR_REPLAY;
//   - a logout / logoutDevice / logoutAll / tombstoneLineage that has returned leaves no
//     active session it was meant to end, whatever rotations of them ran alongside;
//   - random small concurrent workloads: every observed result (each call's outcome and
//     the final keyspace) is explained by some serial order of the calls, checked
//     against a model of the documented behaviour.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import {
  redisUrl,
  uniquePrefix,
  rawClient,
  nowSeconds,
  failOnUnhandledRejections,
  seededRandom,
  storeConfig,
  keys,
  readKeys,
  pairs,
  clearPrefix,
  settle,
  sleep,
  isCluster,
  userTag,
} from '../shared/helpers.mjs'

await redisUrl()
const client = await rawClient()

failOnUnhandledRejections()

/** `count` stores on one prefix: separate connections, so calls really interleave. */
function stores(prefix, count = 3) {
  const list = Array.from({ length: count }, () => createRedisStore(storeConfig({ prefix, absTtlSeconds: 3600 })))
  after(() => Promise.all(list.map((s) => s.close())))
  return list
}

/** Runs `body` for each of `count` rounds, each with a prefix, three stores and a user `u<round>` of its own. */
async function roundsOnOwnPrefix(name, count, body) {
  const base = uniquePrefix(name)
  for (let round = 0; round < count; round++) {
    const prefix = `${base}-${round}`
    await body({ round, prefix, pool: stores(prefix, 3), user: `u${round}` })
  }
}

/** Every rid hash under a prefix, as { rid: hash }. */
async function allSessions(prefix) {
  const k = keys(prefix)
  const out = {}
  for (const { key, type, content } of await readKeys(client, prefix)) {
    const rid = k.ridOfKey(key)
    if (rid !== null && type === 'hash') out[rid] = Object.fromEntries(pairs(content))
  }
  return out
}

const activeOf = (sessions, pred = () => true) =>
  Object.entries(sessions)
    .filter(([, h]) => h.status === 'active' && pred(h))
    .map(([rid]) => rid)

/** Rotates a lineage again and again until a rotation fails; returns the results. */
async function rotateChain(store, rid, binding = {}, max = 200) {
  const results = []
  for (let i = 0; i < max; i++) {
    const r = await settle(store.verifyAndRotateRefresh({ rid, now: nowSeconds(), ...binding }))
    results.push(r)
    if (!r.ok) break
    rid = r.value.newRid.rid
  }
  return results
}

test('of N concurrent rotations of one rid exactly one succeeds, the others get ERR_REPLAY', async () => {
  const prefix = uniquePrefix('race-rot')
  const pool = stores(prefix, 4)
  const ROUNDS = 150
  const N = 12
  for (let round = 0; round < ROUNDS; round++) {
    const user = `u${round}`
    const { rid } = await pool[0].issueInitial(user, { now: nowSeconds(), deviceId: 'd' })
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => settle(pool[i % pool.length].verifyAndRotateRefresh({ rid, now: nowSeconds(), deviceId: 'd' }))),
    )
    const wins = results.filter((r) => r.ok)
    assert.equal(wins.length, 1, `round ${round}: exactly one rotation wins`)
    for (const r of results.filter((x) => !x.ok)) {
      assert.equal(r.error.message, 'rotate_fail:ERR_REPLAY')
      assert.equal(r.error.code, 'ERR_REPLAY')
    }
    const child = wins[0].value.newRid.rid
    assert.deepEqual(await pool[1].scanRids(user), [child])
    assert.equal((await pool[2].getRid(rid)).status, 'used')
    assert.equal(await client.get(keys(prefix).deviceKey(user, 'd')), keys(prefix).ridKey(child))
  }
  const sessions = await allSessions(prefix)
  assert.equal(Object.keys(sessions).length, ROUNDS * 2, 'one parent and one child per round, no extra child')
  assert.equal(activeOf(sessions).length, ROUNDS)
})

test('logout racing rotations of the same rid: the rid ends, the outcome is a serial one', async () => {
  const prefix = uniquePrefix('race-logout')
  const [a, b] = stores(prefix, 2)
  let rotatedFirst = 0
  let logoutFirst = 0
  const ROUNDS = 200
  for (let round = 0; round < ROUNDS; round++) {
    const user = `u${round}`
    const { rid } = await a.issueInitial(user, { now: nowSeconds(), deviceId: 'd' })
    // Alternate which call is sent first so that both orders occur.
    let rotations
    let logout
    if (round % 2) {
      logout = a.logout(rid)
      rotations = [1, 2, 3].map(() => settle(b.verifyAndRotateRefresh({ rid, now: nowSeconds() })))
    } else {
      rotations = [1, 2, 3].map(() => settle(b.verifyAndRotateRefresh({ rid, now: nowSeconds() })))
      logout = a.logout(rid)
    }
    await logout
    // Once logout has returned, the rid is over: a rotation started now must fail.
    const late = await settle(a.verifyAndRotateRefresh({ rid, now: nowSeconds() }))
    assert.equal(late.error?.code, 'ERR_REPLAY')
    const results = await Promise.all(rotations)
    const wins = results.filter((r) => r.ok)
    assert.ok(wins.length <= 1)
    for (const r of results.filter((x) => !x.ok)) assert.equal(r.error.code, 'ERR_REPLAY')
    const h = await a.getRid(rid)
    assert.equal(h.status, 'tombstoned')
    const sessions = await allSessions(prefix)
    const mine = Object.entries(sessions).filter(([, s]) => s.userId === user)
    if (wins.length === 1) {
      // The rotation came first: logout of the rid it used up ends the child too, since
      // whoever got the child's token holds what the rid's holder meant to end.
      rotatedFirst++
      const child = wins[0].value.newRid.rid
      assert.equal(mine.length, 2)
      assert.equal(sessions[child].parentRid, rid)
      assert.equal(sessions[child].status, 'tombstoned')
      assert.deepEqual(await a.scanRids(user), [])
    } else {
      logoutFirst++
      assert.equal(mine.length, 1, 'a refused rotation writes no child')
      assert.deepEqual(await a.scanRids(user), [])
      assert.equal(await client.exists(keys(prefix).deviceKey(user, 'd')), 0)
    }
  }
  assert.equal(rotatedFirst + logoutFirst, ROUNDS)
  assert.ok(logoutFirst > 0, 'some rounds had the logout win')
  assert.ok(rotatedFirst > 0, 'some rounds had a rotation win')
})

test('logoutDevice racing rotation chains leaves no active session of that user on that device', () =>
  roundsOnOwnPrefix('race-dev', 40, async ({ round, prefix, pool, user }) => {
    const other = `u${round}:d` // an id that aliases the device key of the original
    const onDevice = []
    for (let i = 0; i < 3; i++) onDevice.push((await pool[0].issueInitial(user, { now: nowSeconds(), deviceId: 'd' })).rid)
    const elsewhere = (await pool[0].issueInitial(user, { now: nowSeconds(), deviceId: 'e' })).rid
    const otherUser = (await pool[0].issueInitial(other, { now: nowSeconds(), deviceId: 'x' })).rid
    const chains = onDevice.map((rid, i) => rotateChain(pool[(i % 2) + 1], rid, { deviceId: 'd' }))
    const otherChain = rotateChain(pool[1], elsewhere, { deviceId: 'e' }, 30)
    await sleep(round % 5)
    await pool[0].logoutDevice(user, 'd')
    // Returned: nothing of (user, d) is active right now, and nothing can become active.
    let sessions = await allSessions(prefix)
    assert.deepEqual(
      activeOf(sessions, (h) => h.userId === user && h.deviceId === 'd'),
      [],
      `round ${round}: right after return`,
    )
    const chainResults = await Promise.all(chains)
    for (const results of chainResults) {
      const last = results.at(-1)
      assert.equal(last.ok, false)
      assert.equal(last.error?.code, 'ERR_REPLAY')
    }
    sessions = await allSessions(prefix)
    assert.deepEqual(
      activeOf(sessions, (h) => h.userId === user && h.deviceId === 'd'),
      [],
      `round ${round}: after the chains`,
    )
    assert.equal(await client.exists(keys(prefix).deviceKey(user, 'd')), 0)
    // The other device's lineage and the other user are untouched: one active session each.
    const stopped = await otherChain // stops only at its cap
    assert.ok(stopped.every((r) => r.ok))
    sessions = await allSessions(prefix)
    assert.equal(activeOf(sessions, (h) => h.userId === user && h.deviceId === 'e').length, 1)
    assert.equal(sessions[otherUser].status, 'active')
  }))

test('logoutAll racing rotation chains (more sessions than one script batch) leaves none active', async () => {
  const prefix = uniquePrefix('race-all')
  const pool = stores(prefix, 3)
  for (let round = 0; round < 4; round++) {
    const user = `u${round}`
    const rids = []
    // 600 sessions: logoutAll needs three script calls (batches of 256), so rotations
    // run between its calls too.
    const issued = await Promise.all(Array.from({ length: 600 }, (_, i) => pool[i % 3].issueInitial(user, { now: nowSeconds(), deviceId: `d${i % 7}` })))
    for (const { rid } of issued) rids.push(rid)
    const bystander = (await pool[0].issueInitial(`${user}x`, { now: nowSeconds() })).rid
    const chains = rids.filter((_, i) => i % 10 === 0).map((rid, i) => rotateChain(pool[1 + (i % 2)], rid))
    await sleep(round * 2)
    await pool[0].logoutAll(user)
    let sessions = await allSessions(prefix)
    assert.deepEqual(
      activeOf(sessions, (h) => h.userId === user),
      [],
      `round ${round}: right after return`,
    )
    for (const results of await Promise.all(chains)) assert.equal(results.at(-1).error?.code, 'ERR_REPLAY')
    sessions = await allSessions(prefix)
    assert.deepEqual(
      activeOf(sessions, (h) => h.userId === user),
      [],
    )
    assert.deepEqual(await pool[0].scanRids(user), [])
    assert.equal(sessions[bystander].status, 'active')
  }
})

test('tombstoneLineage racing a rotation chain ends the whole lineage, the active end included', () =>
  roundsOnOwnPrefix('race-tomb', 60, async ({ round, prefix, pool, user }) => {
    const { rid: root } = await pool[0].issueInitial(user, { now: nowSeconds(), deviceId: 'd' })
    const { rid: sibling } = await pool[0].issueInitial(user, { now: nowSeconds(), deviceId: 'd' })
    // Rotate a few times first so that the target is an ancestor, then race.
    let head = root
    for (let i = 0; i < 3; i++) head = (await pool[1].verifyAndRotateRefresh({ rid: head, now: nowSeconds(), deviceId: 'd' })).newRid.rid
    const chain = rotateChain(pool[1 + (round % 2)], head, { deviceId: 'd' })
    const siblingChain = rotateChain(pool[2], sibling, {}, 30)
    await sleep(round % 4)
    // Target: the root, the current head or a middle rid, in turn.
    await pool[0].tombstoneLineage(round % 3 === 0 ? root : round % 3 === 1 ? head : (await pool[0].getRid(head)).parentRid)
    const lineageActive = async () => {
      const sessions = await allSessions(prefix)
      const inLineage = new Set([root])
      let grew = true
      while (grew) {
        grew = false
        for (const [rid, h] of Object.entries(sessions)) {
          if (!inLineage.has(rid) && inLineage.has(h.parentRid)) {
            inLineage.add(rid)
            grew = true
          }
        }
      }
      return { sessions, active: [...inLineage].filter((rid) => sessions[rid]?.status === 'active') }
    }
    assert.deepEqual((await lineageActive()).active, [], `round ${round}: right after return`)
    assert.equal((await chain).at(-1).error?.code, 'ERR_REPLAY')
    const { active } = await lineageActive()
    assert.deepEqual(active, [])
    // The user's other lineage keeps exactly one active session.
    assert.ok((await siblingChain).every((r) => r.ok))
    assert.equal(activeOf(await allSessions(prefix), (h) => h.userId === user).length, 1)
  }))

test('gcOrphans racing rotations and logouts never deletes a live session nor re-indexes an ended one', async () => {
  const prefix = uniquePrefix('race-gc')
  const k = keys(prefix)
  const pool = stores(prefix, 3)
  const now = nowSeconds()
  // Garbage for gc to find while the load runs: expired used / tombstoned sessions.
  for (let i = 0; i < 50; i++) {
    await client.hset(k.ridKey(k.rid(`u${i % 5}`, `old${i}`)), {
      userId: `u${i % 5}`,
      parentRid: '',
      absExpAt: String(now - 100),
      status: i % 2 ? 'used' : 'tombstoned',
    })
  }
  const users = ['u0', 'u1', 'u2', 'u3', 'u4']
  const stop = { done: false }
  const work = users.map(async (user, w) => {
    for (let i = 0; !stop.done; i++) {
      const { rid } = await pool[w % 3].issueInitial(user, { now: nowSeconds(), deviceId: `d${i % 2}` })
      const chain = await rotateChain(pool[(w + 1) % 3], rid, { deviceId: `d${i % 2}` }, 3)
      const head = chain.at(-1).value.newRid.rid
      if (i % 3 === 0) await pool[w % 3].logout(head)
      else if (i % 3 === 1) await pool[w % 3].logoutDevice(user, `d${i % 2}`)
      else if (i % 7 === 2) await pool[w % 3].logoutAll(user)
    }
  })
  let gcRuns = 0
  let deleted = 0
  const deadline = Date.now() + 1500
  while (Date.now() < deadline) {
    const r = await pool[gcRuns % 3].gcOrphans({ graceSeconds: 0 })
    deleted += r.deletedRidHashes
    assert.equal(r.addedToSets, 0, 'no active session was ever missing from its index')
    gcRuns++
  }
  stop.done = true
  await Promise.all(work)
  assert.ok(gcRuns >= 3)
  assert.equal(deleted, 50, 'exactly the 50 expired sessions were deleted')
  // Each user's index is exactly their active sessions, and every active session exists.
  const sessions = await allSessions(prefix)
  for (const user of users) {
    const indexed = (await client.smembers(k.userKey(user))).map(k.ridOfKey).sort()
    assert.deepEqual(indexed, activeOf(sessions, (h) => h.userId === user).sort(), user)
  }
})

// ---------------------------------------------------------------------------------------
// Random concurrent workloads against a serial model.

/**
 * The documented state machine over names: sessions { name: {user, device, parent, status} },
 * index { user: Set(name) }, devkey { device key name: name } (keyed by the Redis key, so
 * ids that alias there alias here too). Mirrors the scripts: a
 * session is ended by status tombstoned, leaving the index, and dropping the device key
 * when it names it.
 */
class Model {
  /** `options`: { grace, revoke, max, refuse, idle } as the store is configured
   * (reuseGraceSeconds with every call inside the window, onReuse 'revoke-lineage',
   * maxSessionsPerUser with the refusing or the evicting policy, idleTtlSeconds); `ridOf(name)` gives a session's real rid, which breaks
   * ties between sessions created in the same second as the scripts do. `audited` counts the
   * audit entries the changes make: one per session issued and per session ended. */
  constructor(init, deviceKey, options = {}, ridOf = (name) => name) {
    this.sessions = structuredClone(init.sessions)
    this.index = Object.fromEntries(Object.entries(init.index).map(([u, s]) => [u, new Set(s)]))
    this.devkey = { ...init.devkey }
    this.deviceKey = deviceKey
    this.options = options
    this.ridOf = ridOf
    this.audited = 0
  }

  /** The user's active sessions, least recently rotated (issued) first. */
  activeOf(user) {
    return [...(this.index[user] ?? [])]
      .filter((name) => this.sessions[name].user === user && this.sessions[name].status === 'active')
      .sort((a, b) => this.sessions[a].created - this.sessions[b].created || (this.ridOf(a) < this.ridOf(b) ? -1 : 1))
  }

  end(name) {
    const s = this.sessions[name]
    if (s.status !== 'tombstoned') this.audited++
    s.status = 'tombstoned'
    this.index[s.user]?.delete(name)
    const key = this.deviceKey(s.user, s.device)
    if (s.device !== '' && this.devkey[key] === name) delete this.devkey[key]
  }

  apply(op, childName) {
    switch (op.kind) {
      case 'rotate': {
        const s = this.sessions[op.rid]
        if (!s) return 'ERR_NOT_FOUND'
        if (s.status !== 'active') {
          // The grace window: the same binding gets the child already issued, while it is active.
          const child = this.sessions[s.child]
          if (this.options.grace && s.status === 'used' && child?.status === 'active' && child.device === op.device) return 'ok'
          if (this.options.revoke && s.status === 'used') this.apply({ kind: 'tombstone', rid: op.rid })
          return 'ERR_REPLAY'
        }
        // Past its idle deadline (on the operation's clock): ended, before any other check.
        if (this.options.idle && op.now > s.created + this.options.idle) {
          this.end(op.rid)
          return 'ERR_IDLE'
        }
        if (op.device !== '' && op.device !== s.device) return 'ERR_BINDING'
        s.status = 'used'
        s.child = childName
        this.audited++
        this.index[s.user]?.delete(op.rid)
        this.sessions[childName] = { user: s.user, device: op.device, parent: op.rid, status: 'active', child: '', created: op.now }
        this.index[s.user] ??= new Set()
        this.index[s.user].add(childName)
        if (op.device !== '') this.devkey[this.deviceKey(s.user, op.device)] = childName
        return 'ok'
      }
      case 'issue': {
        const active = this.activeOf(op.user)
        const excess = this.options.max ? active.length - this.options.max + 1 : 0
        if (excess > 0 && this.options.refuse) return 'ERR_SESSION_LIMIT'
        for (const name of active.slice(0, Math.max(excess, 0))) this.end(name)
        this.audited++
        this.sessions[childName] = { user: op.user, device: op.device, parent: '', status: 'active', child: '', created: op.now }
        this.index[op.user] ??= new Set()
        this.index[op.user].add(childName)
        if (op.device !== '') this.devkey[this.deviceKey(op.user, op.device)] = childName
        return 'ok'
      }
      case 'logout': {
        const s = this.sessions[op.rid]
        if (!s) return 'ok'
        if (s.status === 'active') {
          this.end(op.rid)
          return 'ok'
        }
        // A rid already rotated away (or ended): its whole lineage ends.
        return this.apply({ kind: 'tombstone', rid: op.rid }, childName)
      }
      case 'logoutDevice': {
        const belongs = (s) => s.user === op.user && s.device === op.device
        for (const name of [...(this.index[op.user] ?? [])]) {
          const s = this.sessions[name]
          if (belongs(s) && s.status === 'active') this.end(name)
        }
        const key = this.deviceKey(op.user, op.device)
        const newest = this.devkey[key]
        if (newest !== undefined) {
          // The key may name another user's session when ids alias: then it stays.
          const owner = this.sessions[newest]
          if (owner && belongs(owner)) this.end(newest)
          if (!owner || belongs(owner)) delete this.devkey[key]
        }
        return 'ok'
      }
      case 'logoutAll':
        for (const name of [...(this.index[op.user] ?? [])]) this.end(name)
        delete this.index[op.user]
        return 'ok'
      case 'tombstone': {
        const root = this.sessions[op.rid]
        if (!root) return 'ok'
        const lineage = new Set([op.rid])
        for (let at = root.parent; at && this.sessions[at]?.user === root.user && !lineage.has(at); at = this.sessions[at].parent) lineage.add(at)
        for (const member of this.index[root.user] ?? []) {
          const path = []
          let at = member
          while (at && !lineage.has(at) && this.sessions[at]?.user === root.user) {
            path.push(at)
            at = this.sessions[at].parent
          }
          if (at && lineage.has(at)) for (const p of path) lineage.add(p)
        }
        for (const name of lineage) this.end(name)
        return 'ok'
      }
    }
    throw new Error(`unknown op ${op.kind}`)
  }

  /** A canonical picture of the state, comparable with what Redis holds. */
  snapshot() {
    const index = {}
    for (const [u, set] of Object.entries(this.index)) if (set.size) index[u] = [...set].sort()
    const sessions = Object.fromEntries(Object.entries(this.sessions).map(([n, { user, device, parent, status }]) => [n, { user, device, parent, status }]))
    return { sessions: sortKeys(sessions), index: sortKeys(index), devkey: sortKeys(this.devkey) }
  }
}

const sortKeys = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

function* permutations(items) {
  if (items.length <= 1) {
    yield items
    return
  }
  for (let i = 0; i < items.length; i++) {
    for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) yield [items[i], ...rest]
  }
}

const PROFILES = [
  { name: 'no option', cfg: {}, model: {} },
  {
    name: 'reuse revoking the lineage, a grace window and audit',
    cfg: { onReuse: 'revoke-lineage', reuseGraceSeconds: 300, audit: { maxLen: 100000 } },
    model: { revoke: true, grace: true, audit: true },
  },
  { name: 'a limit of 2 sessions, the oldest evicted', cfg: { maxSessionsPerUser: 2 }, model: { max: 2 } },
  { name: 'a limit of 2 sessions, refusing', cfg: { maxSessionsPerUser: 2, sessionLimitPolicy: 'refuse' }, model: { max: 2, refuse: true } },
  // Operations at two times: before every setup session's idle deadline, and after.
  { name: 'an idle timeout', cfg: { idleTtlSeconds: 30 }, model: { idle: 30 }, times: [20, 60] },
]

for (const profile of PROFILES)
  test(`random concurrent workloads (${profile.name}): every outcome is explained by some serial order`, async () => {
    const prefix = uniquePrefix('race-model')
    const USERS = ['alice', 'bob:x', 'bob'] // 'bob:x' and 'bob' alias under the original's device keys (not the cluster layout's)
    const DEVICES = ['d1', 'x:d1', '']
    const ROUNDS = 250
    let reordered = 0
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 1000 + round
      const rand = seededRandom(seed)
      const pick = (xs) => xs[Math.floor(rand() * xs.length)]
      const roundPrefix = `${prefix}-${round}`
      const rp = [0, 1, 2].map(() => createRedisStore(storeConfig({ prefix: roundPrefix, absTtlSeconds: 3600, ...profile.cfg })))
      // The setup goes over the session limit at will: the operations then meet users above it.
      const { maxSessionsPerUser, sessionLimitPolicy, ...setupCfg } = profile.cfg
      const setup = createRedisStore(storeConfig({ prefix: roundPrefix, absTtlSeconds: 3600, ...setupCfg }))
      const k = keys(roundPrefix)

      // Initial state: a few sessions, some rotated once so lineages have ancestors.
      const init = { sessions: {}, index: {}, devkey: {} }
      const names = {} // model name -> real rid
      const nameOf = {} // real rid -> model name
      const initial = []
      const sessionCount = 3 + Math.floor(rand() * 3)
      // A controlled clock: the setup's sessions a second apart, every operation later, so
      // the limit's "least recently rotated" and the idle deadlines are known to the model.
      // It runs ahead of the server's clock, so that no key expires while a round runs.
      const base = nowSeconds() + 1000
      const opNow = () => base + (profile.times ? pick(profile.times) : 50)
      for (let i = 0; i < sessionCount; i++) {
        const user = pick(USERS)
        const device = pick(DEVICES)
        const { rid } = await setup.issueInitial(user, { now: base + i, deviceId: device })
        const name = `s${i}`
        names[name] = rid
        nameOf[rid] = name
        init.sessions[name] = { user, device, parent: '', status: 'active', created: base + i }
        init.index[user] ??= []
        init.index[user].push(name)
        if (device !== '') init.devkey[k.deviceKey(user, device)] = name
        initial.push(name)
        if (rand() < 0.4) {
          const child = await setup.verifyAndRotateRefresh({ rid, now: base + i, deviceId: device })
          const cname = `s${i}c`
          names[cname] = child.newRid.rid
          nameOf[child.newRid.rid] = cname
          init.sessions[name].status = 'used'
          init.sessions[name].child = cname
          init.index[user] = init.index[user].filter((n) => n !== name)
          init.sessions[cname] = { user, device, parent: name, status: 'active', created: base + i }
          init.index[user].push(cname)
          if (device !== '') init.devkey[k.deviceKey(user, device)] = cname
          initial.push(cname)
        }
      }

      // 4 or 5 concurrent operations (at most 120 serial orders to try).
      const opCount = 4 + Math.floor(rand() * 2)
      const ops = []
      for (let i = 0; i < opCount; i++) {
        const r = rand()
        const target = pick(initial)
        if (r < 0.35) {
          const s = init.sessions[target]
          ops.push({ kind: 'rotate', rid: target, device: rand() < 0.8 ? s.device : pick(DEVICES), now: opNow() })
        } else if (r < 0.5) ops.push({ kind: 'issue', user: pick(USERS), device: pick(DEVICES), now: opNow() })
        else if (r < 0.6) ops.push({ kind: 'logout', rid: target })
        else if (r < 0.75) ops.push({ kind: 'logoutDevice', user: pick(USERS), device: pick(DEVICES.filter(Boolean)) })
        else if (r < 0.87) ops.push({ kind: 'logoutAll', user: pick(USERS) })
        else ops.push({ kind: 'tombstone', rid: target })
      }

      const call = (op, store) => {
        switch (op.kind) {
          case 'rotate':
            return store.verifyAndRotateRefresh({ rid: names[op.rid], now: op.now, deviceId: op.device })
          case 'issue':
            return store.issueInitial(op.user, { now: op.now, deviceId: op.device })
          case 'logout':
            return store.logout(names[op.rid])
          case 'logoutDevice':
            return store.logoutDevice(op.user, op.device)
          case 'logoutAll':
            return store.logoutAll(op.user)
          case 'tombstone':
            return store.tombstoneLineage(names[op.rid])
        }
      }
      const results = await Promise.all(ops.map((op, i) => settle(call(op, rp[i % rp.length]))))
      for (const s of [...rp, setup]) await s.close()

      // Name the children the real rotations created after the op that created them.
      const childName = (i) => `op${i}`
      results.forEach((r, i) => {
        // An answer within the grace window is a child already named.
        if (r.ok && ops[i].kind === 'rotate' && !nameOf[r.value.newRid.rid]) {
          names[childName(i)] = r.value.newRid.rid
          nameOf[r.value.newRid.rid] = childName(i)
        }
        if (r.ok && ops[i].kind === 'issue') {
          names[childName(i)] = r.value.rid
          nameOf[r.value.rid] = childName(i)
        }
      })
      const outcomes = results.map((r) => (r.ok ? 'ok' : r.error.code))

      // What Redis holds, in the model's terms.
      const real = { sessions: {}, index: {}, devkey: {} }
      for (const [rid, h] of Object.entries(await allSessions(roundPrefix))) {
        const name = nameOf[rid]
        assert.ok(name, `seed ${seed}: unexpected session ${rid} in Redis (a rotation applied twice?)`)
        real.sessions[name] = { user: h.userId, device: h.deviceId, parent: h.parentRid ? nameOf[h.parentRid] : '', status: h.status }
      }
      for (const user of USERS) {
        const members = await client.smembers(k.userKey(user))
        if (members.length) real.index[user] = members.map((m) => nameOf[k.ridOfKey(m)]).sort()
        for (const device of DEVICES.filter(Boolean)) {
          const v = await client.get(k.deviceKey(user, device))
          if (v !== null) real.devkey[k.deviceKey(user, device)] = nameOf[k.ridOfKey(v)]
        }
      }
      const realSnap = { sessions: sortKeys(real.sessions), index: sortKeys(real.index), devkey: sortKeys(real.devkey) }

      // The audit entries this round wrote (every stream under the prefix).
      let auditEntries = 0
      if (profile.model.audit) {
        const streams = isCluster ? USERS.map((u) => `${roundPrefix}:audit:{${userTag(u)}}`) : [`${roundPrefix}:audit`]
        for (const stream of new Set(streams)) auditEntries += await client.xlen(stream)
      }
      // Setup wrote one entry per session issued and rotated.
      const setupEntries = profile.model.audit ? Object.keys(init.sessions).length : 0

      // logoutAll is calls repeated until the user's index is empty, so a session issued
      // while it runs may be ended by its last call: that call is a second step (index
      // ops.length + i), placed anywhere after the first.
      const steps = [...ops.keys(), ...[...ops.keys()].filter((i) => ops[i].kind === 'logoutAll').map((i) => ops.length + i)]
      const firstStepAfter = (order) => order.some((step, at) => step >= ops.length && order.indexOf(step - ops.length) > at)
      let explained = null
      for (const order of permutations(steps)) {
        if (firstStepAfter(order)) continue
        const model = new Model(init, k.deviceKey, profile.model, (name) => names[name])
        let same = true
        for (const step of order) {
          const i = step % ops.length
          const outcome = model.apply(ops[i], childName(i))
          if (step < ops.length && outcome !== outcomes[i]) {
            same = false
            break
          }
        }
        const auditMatches = !profile.model.audit || auditEntries === setupEntries + model.audited
        if (same && auditMatches && JSON.stringify(model.snapshot()) === JSON.stringify(realSnap)) {
          explained = order
          break
        }
      }
      assert.ok(
        explained,
        `seed ${seed}: no serial order explains (audit entries: ${auditEntries - setupEntries})\n ops=${JSON.stringify(ops)}\n outcomes=${JSON.stringify(outcomes)}\n init=${JSON.stringify(init)}\n real=${JSON.stringify(realSnap)}`,
      )
      if (explained.some((v, i) => v !== steps[i])) reordered++
      // Clean the round's keys so the shared server stays small.
      await clearPrefix(client, roundPrefix)
    }
    // Informative: rounds whose first fitting order is not the submission order.
    console.log(`# model rounds: ${ROUNDS}, explained only by a reordering: ${reordered}`)
  })
