// Random differential test: seeded random sequences of operations run on the original
// (@devcoons/redis-session-store 0.1.0) and on this package, on two prefixes of one
// Redis, compared after every operation.
//
// Each operation starts from the same data on both sides. Its results must be equal,
// and the data this package leaves must equal the data the original leaves with each
// documented deviation applied to it by the normaliser (differential-model.mjs) (one named rule per
// deviation; the rules count how often they fire). When the two sides' data then differ
// (a deviation fired), one side's data is copied over the other's before the next
// operation - in half of the sequences the original's data is taken (so this package
// also runs on data only the original writes, like used rids in the index), in the
// other half this package's - so deviations never cascade into unrelated differences.
//
// DIFF_RUNS (default 200) sequences of DIFF_OPS (default 30) operations; DIFF_SEED sets
// the first seed (default: fixed). A failure prints the seed and a shrunk sequence.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RidMap, snapshot, tokenize, outcome, diffSnapshots } from './compat-lib.mjs'
import { DEVIATIONS, generate, normalise, expectedResult, checkTombstone, sameJson } from './differential-model.mjs'
import { nowSeconds, redisUrl, uniquePrefix, rawClient, readKeys } from '../shared/helpers.mjs'
import { createOriginalStore } from '../shared/original.mjs'
import { createRedisStore } from '../../index.js'

const url = await redisUrl()
const RUNS = Number(process.env.DIFF_RUNS ?? 200)
const OPS = Number(process.env.DIFF_OPS ?? 30)
const FIRST_SEED = Number(process.env.DIFF_SEED ?? 0x5eed)

// ---------------------------------------------------------------------------------
// Running a sequence

/** Makes the keys under `to` an exact copy of those under `from` (prefix swapped in key
 * names, set members and string values), expiries included. */
async function copyPrefix(client, from, to) {
  const old = await readKeys(client, to)
  const entries = await readKeys(client, from, { millis: true })
  const swap = (v) => (v.startsWith(`${from}:`) ? `${to}${v.slice(from.length)}` : v)
  const write = client.multi()
  if (old.length) write.del(...old.map((e) => e.key))
  for (const { key, type, expireAt, content } of entries) {
    const dst = swap(key)
    if (type === 'hash') write.hset(dst, ...content)
    else if (type === 'set') write.sadd(dst, ...content.map(swap))
    else write.set(dst, swap(content))
    if (expireAt > 0) write.pexpireat(dst, expireAt)
  }
  await write.exec()
}

/** The lines that show what differed in a failed step. */
function explain(r) {
  const lines = []
  if (r.expected !== undefined && r.natPost !== undefined) {
    lines.push('data: [key, what, expected (original + documented deviations), native]')
    for (const d of diffSnapshots(r.expected, r.natPost)) lines.push(`  ${JSON.stringify(d)}`)
  } else if (r.natPost !== undefined) {
    lines.push('data: [key, what, original, native]')
    for (const d of diffSnapshots(r.origPost, r.natPost)) lines.push(`  ${JSON.stringify(d)}`)
  }
  for (const k of ['orig', 'nat', 'expected']) if (r[k] !== undefined && r.natPost === undefined) lines.push(`${k}: ${JSON.stringify(r[k])}`)
  if (r.pre) lines.push(`state before: ${JSON.stringify(r.pre)}`)
  return lines
}

function describe(op) {
  return JSON.stringify(op)
}

const SIDES = ['orig', 'nat']
/** A rid neither side ever issued: what an operation on an unknown rid presents. */
const GHOST = '00000000-0000-4000-8000-00000000dead'

/** A sequence's two sides: fresh prefixes, a store of each implementation, their rid maps. */
async function openRun(pair) {
  const prefixes = { orig: uniquePrefix('dif-o'), nat: uniquePrefix('dif-n') }
  const stores = { orig: await pair.originalFor(prefixes.orig), nat: pair.nativeFor(prefixes.nat) }
  const maps = { orig: new RidMap(), nat: new RidMap() }
  for (const side of SIDES) maps[side].add('G', GHOST)
  const run = { client: pair.client, stores, prefixes, maps, base: nowSeconds(), tokens: [], lastNew: null }
  run.snap = (side) => snapshot(run.client, prefixes[side], run.maps[side], run.base)
  return run
}

async function closeRun(run) {
  await run.stores.orig.close()
  await run.stores.nat.close()
  const keys = []
  for (const side of SIDES) keys.push(...(await run.client.keys(`${run.prefixes[side]}:*`)))
  if (keys.length) await run.client.del(...keys)
}

/** The token of the rid an operation presents: the newest rid, one made so far, or the ghost. */
function ridToken(op, run) {
  if (op.recent && run.lastNew) return run.lastNew
  return op.rid < 0 || run.tokens.length === 0 ? 'G' : run.tokens[op.rid % run.tokens.length]
}

/** One operation on one side: a store call, or a raw change made the same on both sides. */
function callOp(op, side, run) {
  const s = run.stores[side]
  const client = run.client
  const rid = op.ridToken !== undefined ? run.maps[side].rid(op.ridToken) : undefined
  const bind = {}
  for (const f of ['deviceId', 'uaHash', 'ipHash']) if (f in op) bind[f] = op[f]
  switch (op.op) {
    case 'issue':
      return s.issueInitial(op.user, { now: run.base + op.now, absTtlSeconds: op.ttl, ...bind })
    case 'rotate':
      return s.verifyAndRotateRefresh({ rid, now: run.base + op.now, ...bind })
    case 'tombstone':
      return s.tombstoneLineage(rid)
    case 'logout':
      return s.logout(rid)
    case 'logoutDevice':
      return s.logoutDevice(op.user, op.dev)
    case 'logoutAll':
      return s.logoutAll(op.user)
    case 'getRid':
      return s.getRid(rid)
    case 'evict':
      return client.del(`${run.prefixes[side]}:rid:${rid}`).then(() => undefined)
    case 'age': {
      const key = `${run.prefixes[side]}:rid:${rid}`
      return client
        .exists(key)
        .then(
          (e) =>
            e &&
            client
              .multi()
              .hset(key, 'absExpAt', String(run.base + op.absExpAt))
              .persist(key)
              .exec(),
        )
        .then(() => undefined)
    }
    case 'scanRids':
      return s.scanRids(op.user)
    case 'gc': {
      const opts = {}
      if ('dryRun' in op) opts.dryRun = op.dryRun
      if ('graceSeconds' in op) opts.graceSeconds = op.graceSeconds
      return s.gcOrphans(Object.keys(opts).length ? opts : undefined)
    }
  }
  throw new Error(`unknown op ${op.op}`)
}

/** New rids: both sides must agree on making one; it is registered under the same token on both. Returns a failure or null. */
function recordNewRid(op, raw, run) {
  const newRid = (r) => r.ok?.newRid?.rid ?? (op.op === 'issue' ? r.ok?.rid : undefined)
  if ((newRid(raw.orig) === undefined) !== (newRid(raw.nat) === undefined)) {
    return { message: 'one side created a rid, the other did not', orig: raw.orig, nat: raw.nat }
  }
  if (newRid(raw.orig) === undefined) return null
  const token = `R${run.tokens.length}`
  run.tokens.push(token)
  run.lastNew = token
  for (const side of SIDES) run.maps[side].add(token, newRid(raw[side]))
  return null
}

/** This package's result against the original's with the documented deviations; an error must have the same message. Returns a failure or null. */
function checkResult(op, res, pre, fire) {
  if (res.orig.err) {
    const nat = res.nat.err
    return nat && nat.message === res.orig.err.message && nat.isError ? null : { message: 'results differ', orig: res.orig, nat: res.nat }
  }
  const { want, nat } = expectedResult(op, res, pre, fire)
  return sameJson(nat, want) ? null : { message: 'results differ', orig: res.orig, nat, expected: want }
}

/** This package's data after a step against the original's with the documented deviations. Returns a failure or null. */
function checkData(op, { pre, origPost, natPost, resOrig, realNow, fire }) {
  // logout of a rid that is not active ends its lineage, as tombstoneLineage does.
  const loggedOutStatus = op.op === 'logout' ? pre[`rid:${op.ridToken}`]?.fields?.find(([name]) => name === 'status')?.[1] : undefined
  if (op.op === 'tombstone' || (loggedOutStatus !== undefined && loggedOutStatus !== 'active')) {
    const err = checkTombstone(op, pre, origPost, natPost, fire)
    return err ? { message: err, pre, origPost, natPost } : null
  }
  const want = normalise(op, { pre, orig: origPost, resOrig, fire, realNow, natPost })
  return sameJson(natPost, want) ? null : { message: 'data differ beyond the documented deviations', pre, origPost, natPost, expected: want }
}

/**
 * When the sides' data differ (a deviation fired), copies one side's over the other's:
 * the original's or this package's, as the sequence says. Returns the data both sides
 * now hold (the next step's state before), or null when the copy failed.
 */
async function resync(mode, origPost, natPost, run) {
  if (sameJson(origPost, natPost)) return origPost
  const [from, to, state] = mode === 'fromOriginal' ? ['orig', 'nat', origPost] : ['nat', 'orig', natPost]
  await copyPrefix(run.client, run.prefixes[from], run.prefixes[to])
  run.maps = { [from]: run.maps[from], [to]: run.maps[from].clone() }
  return sameJson(await run.snap(to), state) ? state : null
}

/** Runs one sequence; returns { ok: true } or { ok: false, step, message, op, ...what differed }. */
async function runSequence(pair, seq, fired) {
  const fire = (name) => fired.set(name, (fired.get(name) ?? 0) + 1)
  const run = await openRun(pair)
  try {
    let pre = null
    for (let step = 0; step < seq.ops.length; step++) {
      const op = { ...seq.ops[step] }
      const fail = (failure) => ({ ok: false, step, op, ...failure })
      if ('rid' in op) op.ridToken = ridToken(op, run)
      // The state before: the previous step's (checked equal on both sides), read once
      // at the start.
      if (!pre) {
        pre = await run.snap('orig')
        const preNat = await run.snap('nat')
        if (!sameJson(pre, preNat)) return fail({ message: 'states differ before the step', pre, preNat })
      }
      const raw = {}
      for (const side of SIDES) raw[side] = await outcome(Promise.resolve().then(() => callOp(op, side, run)))
      const realNow = nowSeconds() - run.base
      const created = recordNewRid(op, raw, run)
      if (created) return fail(created)
      const res = {}
      for (const side of SIDES) res[side] = tokenize(raw[side], run.maps[side], run.prefixes[side], run.base)
      const wrongResult = checkResult(op, res, pre, fire)
      if (wrongResult) return fail(wrongResult)
      const origPost = await run.snap('orig')
      const natPost = await run.snap('nat')
      const wrongData = checkData(op, { pre, origPost, natPost, resOrig: res.orig, realNow, fire })
      if (wrongData) return fail(wrongData)
      pre = await resync(seq.resync, origPost, natPost, run)
      if (!pre) return fail({ message: 'copying the data failed (test harness)' })
    }
    return { ok: true }
  } finally {
    await closeRun(run)
  }
}

/** Smaller failing sequences: drop chunks of operations, then single ones, then
 * simplify the remaining operations' times and bindings. */
async function shrink(pair, seq, budget = 400) {
  let best = seq
  let tries = 0
  const fails = async (candidate) => {
    tries++
    return !(await runSequence(pair, candidate, new Map())).ok
  }
  let changed = true
  while (changed && tries < budget) {
    changed = false
    for (let size = Math.max(1, Math.floor(best.ops.length / 2)); size >= 1 && tries < budget; size = Math.floor(size / 2)) {
      for (let i = 0; i + size <= best.ops.length && tries < budget; ) {
        const candidate = { ...best, ops: [...best.ops.slice(0, i), ...best.ops.slice(i + size)] }
        if (await fails(candidate)) {
          best = candidate
          changed = true
        } else i += size
      }
    }
    for (let i = 0; i < best.ops.length && tries < budget; i++) {
      const op = best.ops[i]
      const simpler = []
      if (op.now !== undefined && op.now !== 0) simpler.push({ ...op, now: 0 })
      for (const f of ['deviceId', 'uaHash', 'ipHash', 'recent', 'dryRun', 'graceSeconds']) {
        if (f in op) {
          const o = { ...op }
          delete o[f]
          simpler.push(o)
        }
      }
      for (const s of simpler) {
        const candidate = { ...best, ops: best.ops.map((o, j) => (j === i ? s : o)) }
        if (await fails(candidate)) {
          best = candidate
          changed = true
          break
        }
      }
    }
  }
  return best
}

// ---------------------------------------------------------------------------------

// Each sequence gets fresh prefixes and a fresh store of each implementation.
const pair = {
  client: await rawClient(),
  originalFor: (prefix) => createOriginalStore({ url, prefix, absTtlSeconds: 3600 }),
  nativeFor: (prefix) => createRedisStore({ url, prefix, absTtlSeconds: 3600 }),
}

test(`differential: ${RUNS} random sequences of ${OPS} operations agree modulo the documented deviations`, async (t) => {
  const fired = new Map()
  const started = Date.now()
  for (let i = 0; i < RUNS; i++) {
    const seed = FIRST_SEED + i
    const seq = generate(seed, OPS)
    const result = await runSequence(pair, seq, fired)
    if (!result.ok) {
      const shrunk = await shrink(pair, seq)
      const again = await runSequence(pair, shrunk, new Map())
      const report = [
        `differential failure, seed ${seed} (rerun: DIFF_SEED=${seed} DIFF_RUNS=1)`,
        `first failure at step ${result.step}: ${result.message}: ${describe(result.op)}`,
        `shrunk sequence (${shrunk.ops.length} ops, resync ${shrunk.resync}):`,
        ...shrunk.ops.map((o, j) => `  ${j}: ${describe(o)}`),
        `shrunk failure at step ${again.step}: ${again.message}`,
        ...explain(again),
      ].join('\n')
      console.error(report)
      assert.fail(report)
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  t.diagnostic(`${RUNS} sequences x ${OPS} ops in ${seconds} s; rules fired: ${JSON.stringify(Object.fromEntries([...fired].sort()))}`)
  // With the default number of runs the generator reaches every deviation rule, so a
  // rule that silently stopped applying (or a generator that stopped reaching it) shows.
  if (RUNS >= 200 && OPS >= 30) {
    for (const name of ['D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'D7', 'D8', 'D9', 'D10']) {
      assert.ok((fired.get(name) ?? 0) > 0, `deviation ${name} (${DEVIATIONS[name]}) was exercised`)
    }
  }
})

test('the differential harness fails on an undocumented difference', async () => {
  // A store that behaves like this package except that logout leaves the device key in
  // place and getRid drops ipHash: both must be reported, not absorbed by the normaliser.
  const broken = (prefix) => {
    const s = pair.nativeFor(prefix)
    return {
      ...s,
      async getRid(rid) {
        const h = await s.getRid(rid)
        if (h) delete h.ipHash
        return h
      },
    }
  }
  const brokenPair = { ...pair, nativeFor: broken }
  const seq = {
    seed: 0,
    resync: 'fromNative',
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600, deviceId: 'd1', ipHash: 'x' },
      { op: 'getRid', rid: 0 },
    ],
  }
  const r = await runSequence(brokenPair, seq, new Map())
  assert.equal(r.ok, false)
  assert.equal(r.step, 1)
  assert.equal(r.message, 'results differ')
  // And one that writes an extra field on issue is caught in the data.
  const writes = (prefix) => {
    const s = pair.nativeFor(prefix)
    return {
      ...s,
      async issueInitial(userId, input) {
        const out = await s.issueInitial(userId, input)
        await pair.client.hset(`${prefix}:rid:${out.rid}`, 'extra', '1')
        return out
      },
    }
  }
  const r2 = await runSequence({ ...pair, nativeFor: writes }, { ...seq, ops: seq.ops.slice(0, 1) }, new Map())
  assert.equal(r2.ok, false)
  assert.equal(r2.message, 'data differ beyond the documented deviations')
  // The shrinker reduces a failing sequence to the operations that matter.
  const long = { ...generate(1234, 12), resync: 'fromNative' }
  long.ops.splice(5, 0, { op: 'issue', user: 'u2', now: 0, ttl: 3600 })
  assert.equal((await runSequence({ ...pair, nativeFor: writes }, long, new Map())).ok, false)
  const shrunk = await shrink({ ...pair, nativeFor: writes }, long)
  assert.equal(shrunk.ops.length, 1)
  assert.equal(shrunk.ops[0].op, 'issue')
})

// Mutants: stores that behave like this package except for one deviation, which they
// undo (they act like the original there). The normaliser expects the deviation, so
// each must be reported.
const MUTANTS = [
  {
    name: 'rotation keeps the used parent in the index',
    wrap: (s, prefix) => ({
      ...s,
      async verifyAndRotateRefresh(input) {
        const out = await s.verifyAndRotateRefresh(input)
        await pair.client.sadd(`${prefix}:user:${out.userId}:rids`, `${prefix}:rid:${input.rid}`)
        return out
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600 },
      { op: 'rotate', rid: 0, now: 1 },
    ],
  },
  {
    name: 'logoutDevice ends only the newest session',
    wrap: (s, prefix) => ({
      ...s,
      async logoutDevice(userId, deviceId) {
        const key = await pair.client.get(`${prefix}:device:${userId}:${deviceId}`)
        if (key) await s.logout(key.slice(`${prefix}:rid:`.length))
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600, deviceId: 'd1' },
      { op: 'issue', user: 'u1', now: 0, ttl: 3600, deviceId: 'd1' },
      { op: 'logoutDevice', user: 'u1', dev: 'd1' },
    ],
  },
  {
    name: 'tombstoneLineage ends one rid',
    wrap: (s, prefix) => ({
      ...s,
      async tombstoneLineage(rid) {
        await pair.client.hset(`${prefix}:rid:${rid}`, 'status', 'tombstoned')
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600 },
      { op: 'rotate', rid: 0, now: 1 },
      { op: 'tombstone', rid: 0 },
    ],
  },
  {
    name: 'index expiry shrinks',
    wrap: (s, prefix) => ({
      ...s,
      async issueInitial(userId, input) {
        const out = await s.issueInitial(userId, input)
        await pair.client.expireat(`${prefix}:user:${userId}:rids`, out.absExp)
        return out
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600 },
      { op: 'issue', user: 'u1', now: 0, ttl: 120 },
    ],
  },
  {
    name: 'scanRids returns full keys',
    wrap: (s, prefix) => ({
      ...s,
      async scanRids(userId) {
        return (await s.scanRids(userId)).map((r) => `${prefix}:rid:${r}`)
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600 },
      { op: 'scanRids', user: 'u1' },
    ],
  },
  {
    name: 'rotation error message changed',
    wrap: (s) => ({
      ...s,
      async verifyAndRotateRefresh(input) {
        try {
          return await s.verifyAndRotateRefresh(input)
        } catch (e) {
          throw new Error(e.message.replace('ERR_REPLAY', 'ERR_REUSED'))
        }
      },
    }),
    ops: [
      { op: 'issue', user: 'u1', now: 0, ttl: 3600 },
      { op: 'rotate', rid: 0, now: 1 },
      { op: 'rotate', rid: 0, now: 2 },
    ],
  },
]

for (const mutant of MUTANTS) {
  test(`the differential harness reports a mutant: ${mutant.name}`, async () => {
    const seq = { seed: 0, resync: 'fromNative', ops: mutant.ops }
    // The unmutated store passes the same sequence, in both resync modes.
    for (const resync of ['fromNative', 'fromOriginal']) {
      assert.deepEqual(await runSequence(pair, { ...seq, resync }, new Map()), { ok: true })
    }
    const mutated = { ...pair, nativeFor: (prefix) => mutant.wrap(pair.nativeFor(prefix), prefix) }
    const r = await runSequence(mutated, seq, new Map())
    assert.equal(r.ok, false)
    assert.equal(r.step, mutant.ops.length - 1, r.message)
  })
}
