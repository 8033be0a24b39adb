// The model of the differential test (compat-differential.test.mjs): the generator of
// random operation sequences, and the expected outcome of each operation on this
// package - the original's outcome with every documented deviation applied, one named
// rule per deviation, each counted when it fires.
//
// States are tokenized snapshots from compat-lib: keys 'rid:R3', 'user:u1:rids',
// 'device:u1:d1'; times 't+N'.

import { seededRandom } from '../shared/helpers.mjs'
import { rel } from './compat-lib.mjs'

// ---------------------------------------------------------------------------------
// Generator

// 'a' on device 'b:d1' and 'a:b' on device 'd1' share a device key in both layouts.
const USERS = ['u1', 'u2', 'a', 'a:b']
const DEVICES = ['d1', 'd2', 'b:d1']
const BIND = [undefined, '', 'x', 'y']
// Offsets from the sequence's base time. -1000 with a short TTL gives a session that is
// past its absExpAt when issued; none lands within seconds of the real clock.
const NOW = [-1000, 0, 1, 10, 100, 5000, 200000, 800000]
const TTL = [30, 120, 3600, 200000, 900000]

export function generate(seed, length) {
  const rnd = seededRandom(seed)
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)]
  const ridRef = () => (rnd() < 0.08 ? -1 : Math.floor(rnd() * 1000))
  const binding = () => {
    const b = {}
    for (const f of ['deviceId', 'uaHash', 'ipHash']) {
      const v = f === 'deviceId' ? pick([undefined, '', ...DEVICES]) : pick(BIND)
      if (v !== undefined || rnd() < 0.2) b[f] = v
    }
    return b
  }
  const ops = []
  const logins = [] // [user, deviceId] of the issues generated so far
  for (let i = 0; i < length; i++) {
    const r = rnd()
    if (r < 0.25) {
      const op = { op: 'issue', user: pick(USERS), now: pick(NOW), ttl: pick(TTL), ...binding() }
      // A second login on a device already used: what logoutDevice's deviation is about.
      if (logins.length && rnd() < 0.3) [op.user, op.deviceId] = pick(logins)
      if (op.deviceId) logins.push([op.user, op.deviceId])
      ops.push(op)
    } else if (r < 0.5) {
      ops.push({ op: 'rotate', rid: ridRef(), now: pick(NOW), ...(rnd() < 0.5 ? { recent: true } : {}), ...binding() })
    } else if (r < 0.56) {
      ops.push({ op: 'tombstone', rid: ridRef() })
    } else if (r < 0.64) {
      ops.push({ op: 'logout', rid: ridRef() })
    } else if (r < 0.71) {
      const [user, dev] = logins.length && rnd() < 0.7 ? pick(logins) : [pick(USERS), pick(DEVICES)]
      ops.push({ op: 'logoutDevice', user, dev })
    } else if (r < 0.76) {
      ops.push({ op: 'logoutAll', user: pick(USERS) })
    } else if (r < 0.84) {
      ops.push({ op: 'getRid', rid: ridRef() })
    } else if (r < 0.89) {
      ops.push({ op: 'scanRids', user: pick(USERS) })
    } else if (r < 0.915) {
      // Raw, the same on both sides: a hash evicted, or one that lost its expiry and is
      // past its absExpAt (restored from an old dump, say). These reach gc's deletions
      // and the paths for index members and device keys whose hash is gone.
      ops.push(rnd() < 0.5 ? { op: 'evict', rid: ridRef() } : { op: 'age', rid: ridRef(), absExpAt: pick([-50, -5000]) })
    } else {
      ops.push({ op: 'gc', ...(rnd() < 0.5 ? { dryRun: rnd() < 0.5 } : {}), ...(rnd() < 0.4 ? { graceSeconds: pick([0, 60, 100000]) } : {}) })
    }
  }
  return { seed, resync: rnd() < 0.5 ? 'fromOriginal' : 'fromNative', ops }
}

// ---------------------------------------------------------------------------------
// Snapshot helpers (tokenized snapshots from compat-lib: keys 'rid:R3', 'user:u1:rids',
// 'device:u1:d1'; times 't+N')

const clone = (x) => structuredClone(x)
const relNum = (s) => Number(String(s).replace(/^t/, ''))
const fieldsOf = (state, key) => (state[key]?.type === 'hash' ? Object.fromEntries(state[key].fields) : null)
const hasUser = (h) => h != null && h.userId !== undefined && h.userId !== ''
const indexKey = (user) => `user:${user}:rids`
const deviceKey = (user, dev) => `device:${user}:${dev}`

function setStatus(state, key, status) {
  const entry = state[key]
  const f = entry.fields.find(([name]) => name === 'status')
  if (f) f[1] = status
  else entry.fields.push(['status', status])
}

function srem(state, key, member) {
  const entry = state[key]
  if (!entry) return
  entry.members = entry.members.filter((m) => m !== member)
  if (entry.members.length === 0) delete state[key]
}

/** This package's end of one session: tombstoned, out of its index, device key dropped
 * when it points at it. */
function endSession(state, key) {
  const h = fieldsOf(state, key)
  setStatus(state, key, 'tombstoned')
  srem(state, indexKey(h.userId), key)
  if (h.deviceId) {
    const dk = deviceKey(h.userId, h.deviceId)
    if (state[dk]?.value === key) delete state[dk]
  }
}

/** Expiry of an index after this package adds a session with absExpAt `abs` to it
 * (D1: it only grows; a persistent index stays persistent). */
function grownExpiry(before, abs) {
  if (!before) return abs
  if (before.exp === -1) return -1
  return Math.max(relNum(before.exp), abs)
}

// ---------------------------------------------------------------------------------
// The normaliser: from the state before (`pre`, the same on both sides), the original's
// state after (`orig`) and the operation, the state this package must leave. Every
// documented deviation is one named rule; `fired` counts them.

// [n] is the row of the deviations table in COMPATIBILITY.md.
export const DEVIATIONS = {
  D1: "[1] index expiry only grows (the original sets it to the newest session's absExpAt, even a past one)",
  D2: '[7] rotation removes the used parent from the index (the index holds active sessions)',
  D3: '[3] logoutDevice ends every active session of the user bound to the device',
  D4: "[4] logoutDevice never ends another user's session reached through ':' in ids (and keeps that key)",
  D5: '[5] logout / tombstoneLineage / logoutAll / logoutDevice of a missing rid write nothing (the original writes a bare tombstoned hash)',
  D6: '[6] tombstoneLineage ends the whole lineage (the original: the one rid)',
  D7: '[10] logout, logoutAll and tombstoneLineage delete the device key when it points at a session they end',
  D8: '[7] scanRids returns the bare rids of active sessions (the original: full keys of the whole index)',
  D9: '[9] gcOrphans report is the superset (removedRids, dryRun)',
  D10: '[12] gcOrphans gives an index it re-creates an expiry (the original leaves it persistent)',
  O1: 'open point: gcOrphans re-creating an index for a session past its absExpAt (no expiry) and a live one leaves it persistent or with the live absExpAt, by SCAN order',
  D11: '[14] logout of a rid already rotated away (or ended) ends its whole lineage (the original: the one rid)',
  L1: 'known limitation: tombstoneLineage finds descendants through the index; an active descendant missing from it (only the original loses index entries) is not reached',
}

/** issue: the index holds the new rid; its expiry only grows (D1). */
function afterIssue(op, x, { pre, resOrig, fire, realNow }) {
  if (!resOrig.ok) return x
  const idx = indexKey(op.user)
  const abs = relNum(resOrig.ok.absExp)
  const members = [...new Set([...(pre[idx]?.members ?? []), `rid:${resOrig.ok.rid}`])].sort()
  const exp = grownExpiry(pre[idx], abs)
  const want = exp !== -1 && exp <= realNow ? undefined : { type: 'set', exp: exp === -1 ? -1 : rel(exp, 0), members }
  if (JSON.stringify(want) !== JSON.stringify(x[idx])) fire('D1')
  if (want) x[idx] = want
  else delete x[idx]
  return x
}

/** rotate: the used parent leaves the index (D2); the index expiry only grows (D1). */
function afterRotate(op, x, { pre, resOrig, fire }) {
  if (!resOrig.ok) return x
  const parent = `rid:${op.ridToken}`
  const idx = indexKey(resOrig.ok.userId)
  const abs = relNum(resOrig.ok.newRid.absExp)
  if (x[idx].members.includes(parent)) fire('D2')
  srem(x, idx, parent)
  // This package removes the parent first: an index left empty is gone and re-created.
  const remaining = (pre[idx]?.members ?? []).filter((m) => m !== parent)
  const exp = grownExpiry(remaining.length ? pre[idx] : undefined, abs)
  const want = exp === -1 ? -1 : rel(exp, 0)
  if (x[idx].exp !== want) fire('D1')
  x[idx].exp = want
  return x
}

/** logout: a missing rid is left alone (D5); the device key pointing at the ended session goes (D7). */
function afterLogout(op, x, { pre, fire }) {
  const key = `rid:${op.ridToken}`
  const h = fieldsOf(pre, key)
  if (!hasUser(h)) {
    if (JSON.stringify(pre[key]) !== JSON.stringify(x[key])) fire('D5')
    restore(x, pre, key)
    return x
  }
  if (h.deviceId) {
    const dk = deviceKey(h.userId, h.deviceId)
    if (x[dk]?.value === key) {
      delete x[dk]
      fire('D7')
    }
  }
  return x
}

/** logoutDevice: every active session bound to the device ends (D3); another user's session reached through ':' is left alone (D4); a missing target is left alone (D5). */
function afterLogoutDevice(op, x, { pre, fire }) {
  const idx = indexKey(op.user)
  const dk = deviceKey(op.user, op.dev)
  const belongs = (h) => h != null && h.userId === op.user && h.deviceId === op.dev
  const target = pre[dk]?.value
  if (target !== undefined) {
    const th = fieldsOf(pre, target)
    if (!hasUser(th)) {
      // The original tombstones a hash that is not there (or has no userId) and drops
      // it from the index; this package only deletes the stale device key.
      if (JSON.stringify(pre[target]) !== JSON.stringify(x[target])) fire('D5')
      restore(x, pre, target)
      restore(x, pre, idx)
    } else if (!belongs(th)) {
      fire('D4')
      restore(x, pre, target)
      restore(x, pre, idx)
      restore(x, pre, dk)
      restore(x, pre, indexKey(th.userId))
    }
  }
  for (const m of pre[idx]?.members ?? []) {
    const h = fieldsOf(pre, m)
    if (m !== target && belongs(h) && h.status === 'active') {
      fire('D3')
      endSession(x, m)
    }
  }
  return x
}

/** logoutAll: missing members are left alone (D5); device keys pointing at ended sessions go (D7). */
function afterLogoutAll(op, x, { pre, fire }) {
  for (const m of pre[indexKey(op.user)]?.members ?? []) {
    const h = fieldsOf(pre, m)
    if (!hasUser(h)) {
      if (JSON.stringify(pre[m]) !== JSON.stringify(x[m])) fire('D5')
      restore(x, pre, m)
      continue
    }
    if (h.deviceId) {
      const dk = deviceKey(h.userId, h.deviceId)
      if (x[dk]?.value === m) {
        delete x[dk]
        fire('D7')
      }
    }
    if (h.userId !== op.user) srem(x, indexKey(h.userId), m)
  }
  return x
}

/** gc: an index it re-creates gets an expiry (D10), or either outcome of the open point O1. */
function afterGc(op, x, { pre, fire, realNow, natPost }) {
  if (op.dryRun) return x
  for (const [key, entry] of Object.entries(x)) {
    if (entry.type !== 'set' || !key.startsWith('user:')) continue
    const before = pre[key]
    const added = entry.members.filter((m) => !before?.members.includes(m))
    if (added.length === 0) continue
    // Step 1 removes members whose hash is gone; an index emptied that way is gone
    // before step 2 re-creates it.
    const survived = before?.members.some((m) => pre[m]) ? before : undefined
    let exp = survived ? (survived.exp === -1 ? -1 : relNum(survived.exp)) : undefined
    const abses = added.map((m) => relNum(fieldsOf(pre, m).absExpAt))
    const live = abses.filter((abs) => abs > realNow)
    if (!survived && live.length && live.length < abses.length) {
      // O1: a fresh index receiving both a session already past its absExpAt (a hash
      // without expiry) and a live one: this package's result depends on SCAN order.
      // Past one first: SADD makes the index persistent and it stays so (as the
      // original leaves it); live one first: it gets that absExpAt. Both accepted;
      // reported as an open point.
      fire('O1')
      const options = [-1, rel(Math.max(...live), 0)]
      const got = natPost[key]?.exp
      const want = options.includes(got) ? got : options[1]
      if (entry.exp !== want) {
        fire('D10')
        entry.exp = want
      }
      continue
    }
    for (const abs of abses) {
      if (abs > realNow) exp = exp === undefined ? abs : exp === -1 ? -1 : Math.max(exp, abs)
      else exp ??= -1
    }
    const want = exp === -1 ? -1 : rel(exp, 0)
    if (entry.exp !== want) {
      fire('D10')
      entry.exp = want
    }
  }
  return x
}

const EXPECTED_DATA = {
  issue: afterIssue,
  rotate: afterRotate,
  logout: afterLogout,
  logoutDevice: afterLogoutDevice,
  logoutAll: afterLogoutAll,
  gc: afterGc,
}

/**
 * The data this package must leave after `op`: the original's data after it (`ctx.orig`)
 * with every documented deviation applied. `ctx`: `pre` (the data before, the same on
 * both sides), `resOrig` (the original's result), `fire` (counts a rule), `realNow` (the
 * real clock, relative to the sequence's base), `natPost` (this package's data after, for
 * the open point whose outcome depends on SCAN order). tombstoneLineage is checked by
 * checkTombstone instead (a set of allowed outcomes).
 */
export function normalise(op, ctx) {
  const x = clone(ctx.orig)
  const rule = EXPECTED_DATA[op.op]
  return rule ? rule(op, x, ctx) : x
}

/**
 * The result this package must return for `op`, from the original's (`res.orig`):
 * scanRids returns the bare rids of active sessions (D8), gcOrphans' report is a superset
 * (D9). Returns { want, nat }, `nat` being this package's result in comparable form.
 */
export function expectedResult(op, res, pre, fire) {
  if (op.op === 'scanRids' && res.orig.ok) {
    const active = res.orig.ok
      .filter((k) => k.startsWith('rid:') && fieldsOf(pre, k)?.userId === op.user && fieldsOf(pre, k)?.status === 'active')
      .map((k) => k.slice(4))
      .sort()
    if (!sameJson([...res.orig.ok].sort(), active)) fire('D8')
    return { want: { ok: active }, nat: { ok: [...(res.nat.ok ?? ['<error>'])].sort(), ...(res.nat.err ? { err: res.nat.err } : {}) } }
  }
  if (op.op === 'gc' && res.orig.ok) {
    fire('D9')
    return { want: { ok: { ...res.orig.ok, removedRids: res.orig.ok.deletedRidHashes, dryRun: op.dryRun === true } }, nat: res.nat }
  }
  return { want: res.orig, nat: res.nat }
}

function restore(x, pre, key) {
  if (pre[key] === undefined) delete x[key]
  else x[key] = clone(pre[key])
}

/** The lineage of `key` in `state`: ancestors (through parentRid, same user), the rid,
 * and every session whose parent chain reaches it. */
function lineageOf(state, key) {
  const root = fieldsOf(state, key)
  const parentKey = (h) => (h?.parentRid ? `rid:${h.parentRid}` : null)
  const ancestors = new Set()
  for (let k = parentKey(root); k && !ancestors.has(k) && k !== key; k = parentKey(fieldsOf(state, k))) {
    const h = fieldsOf(state, k)
    if (!h || h.userId !== root.userId) break
    ancestors.add(k)
  }
  const members = new Set([key, ...ancestors])
  const descendants = new Set()
  for (const k of Object.keys(state)) {
    if (!k.startsWith('rid:') || members.has(k)) continue
    const path = []
    let at = k
    while (at && !members.has(at) && !descendants.has(at) && path.length < 1000) {
      const h = fieldsOf(state, at)
      if (!h || h.userId !== root.userId) {
        at = null
        break
      }
      path.push(at)
      at = parentKey(h)
    }
    if (at && (members.has(at) || descendants.has(at))) for (const p of path) descendants.add(p)
  }
  return { ancestors, descendants }
}

/** tombstoneLineage: the original tombstones the rid alone; this package must have ended
 * (endSession) a set E of the lineage with required <= E. Returns an error or null. */
export function checkTombstone(op, pre, orig, nat, fire) {
  const key = `rid:${op.ridToken}`
  const h = fieldsOf(pre, key)
  if (!hasUser(h)) {
    if (JSON.stringify(pre[key]) !== JSON.stringify(orig[key])) fire('D5')
    return sameJson(nat, pre) ? null : 'tombstoneLineage of a missing rid wrote something'
  }
  // The original: exactly the one status (its logout also unindexes the rid and drops a
  // device key pointing at it; this package's logout of such a rid ends the lineage, D11).
  const origWant = clone(pre)
  setStatus(origWant, key, 'tombstoned')
  if (op.op !== 'logout' && !sameJson(orig, origWant)) return 'the original did more than tombstone one rid (test model wrong)'
  const { ancestors, descendants } = lineageOf(pre, key)
  const lineage = [key, ...ancestors, ...descendants]
  const indexed = new Set(pre[indexKey(h.userId)]?.members ?? [])
  const required = new Set([key, ...ancestors])
  for (const d of descendants) {
    if (fieldsOf(pre, d).status !== 'active') continue
    if (indexed.has(d)) required.add(d)
    else fire('L1')
  }
  // Every lineage member this package visibly touched.
  const touched = lineage.filter(
    (k) =>
      JSON.stringify(pre[k]) !== JSON.stringify(nat[k]) ||
      (indexed.has(k) && !nat[indexKey(h.userId)]?.members.includes(k)) ||
      Object.entries(pre).some(([dk, e]) => dk.startsWith('device:') && e.value === k && !nat[dk]),
  )
  const ended = new Set([...required, ...touched])
  const want = clone(pre)
  for (const k of ended) endSession(want, k)
  if (!sameJson(nat, want)) return `${op.op}: not the end of a part of the lineage that includes the rid, its ancestors and its indexed active descendants`
  if (ended.size > 1 || !sameJson(nat, orig)) fire(op.op === 'logout' ? 'D11' : 'D6')
  const drops = Object.keys(pre).filter((k) => k.startsWith('device:') && !want[k])
  if (drops.length) fire('D7')
  return null
}

/** A state with its keys sorted and each entry's properties in one order, so that two
 * states compare equal exactly when they hold the same data. */
function canon(state) {
  if (!state || typeof state !== 'object' || Array.isArray(state) || 'ok' in state || 'err' in state) return state
  return Object.fromEntries(
    Object.keys(state)
      .sort()
      .map((k) => {
        const { type, exp, fields, members, value } = state[k] ?? {}
        return [k, { type, exp, fields, members, value }]
      }),
  )
}
export const sameJson = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b))
