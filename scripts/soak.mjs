#!/usr/bin/env node
// Soak test: minutes of mixed load on one store against a redis-server
// of its own (appendonly, fsync always, so data survives its restarts), while the server
// is killed and restarted, its script cache flushed and its connections killed.
//
// Checks, and exits non-zero when one fails:
//   - zero lost logouts: every session a logout / logoutDevice / logoutAll /
//     tombstoneLineage ended (as the call returned) is not active, checked after at
//     least one server restart (and the rest at the end), then forgotten, so that the
//     checker's own memory stays flat;
//   - lineages sound: no session has two children, no lineage two active sessions;
//   - zero unexpected errors: a failing call rejects with a fault code
//     (ERR_REDIS_UNAVAILABLE, ERR_REDIS_TIMEOUT) or a session outcome the load can
//     cause (ERR_NOT_FOUND, ERR_REPLAY);
//   - no crash, no unhandled rejection, the same store works after every fault;
//   - memory flat: RSS and heap (after GC) of the last third of the run against the first.
//
//   npm run soak                         (default 120 s)
//   SOAK_SECONDS=300 npm run soak
//   node --expose-gc scripts/soak.mjs    (same; --expose-gc gives steadier heap figures)

import Redis from 'ioredis'
import { createRedisStore } from '../index.mjs'
import { startRedis } from './redis-server.mjs'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120)
const WORKERS = Number(process.env.SOAK_WORKERS ?? 16)
const FAULT_EVERY_MS = Number(process.env.SOAK_FAULT_EVERY_MS ?? 4000)
const TIMEOUT_MS = 500

const FAULT_CODES = new Set(['ERR_REDIS_UNAVAILABLE', 'ERR_REDIS_TIMEOUT'])
const SESSION_CODES = new Set(['ERR_NOT_FOUND', 'ERR_REPLAY'])

const problems = []
const problem = (text) => {
  if (problems.length < 50) problems.push(text)
  else if (problems.length === 50) problems.push('... more')
}
process.on('unhandledRejection', (reason) => problem(`unhandled rejection: ${reason?.stack ?? reason}`))

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const nowSeconds = () => Math.floor(Date.now() / 1000)

const srv = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] })
const admin = new Redis(srv.url, { retryStrategy: () => 100, maxRetriesPerRequest: null })
admin.on('error', () => {})
const store = createRedisStore({ url: srv.url, prefix: 'soak', absTtlSeconds: 3600, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: TIMEOUT_MS })

const stats = { calls: 0, ok: 0, faults: {}, session: {}, unexpected: 0, restarts: 0, flushes: 0, clientKills: 0, ended: 0 }
/** Sessions a returned logout ended, not checked yet: [rid, kind, restarts when ended]. */
let ended = []
let endedTotal = 0
let checkedTotal = 0
let lost = 0

/** Runs one store call; returns its value, or undefined after a counted failure. */
async function call(what, fn) {
  stats.calls++
  try {
    const value = await fn()
    stats.ok++
    return { ok: true, value }
  } catch (err) {
    const code = err?.code
    const okFault = FAULT_CODES.has(code)
    if (!(err instanceof Error)) problem(`${what}: rejected with a non-Error ${err}`)
    if (okFault) stats.faults[code] = (stats.faults[code] ?? 0) + 1
    else if (SESSION_CODES.has(code)) stats.session[code] = (stats.session[code] ?? 0) + 1
    else {
      stats.unexpected++
      problem(`${what}: unexpected ${code}: ${err?.message}`)
    }
    return { ok: false, code }
  }
}

/**
 * One user's life, again and again: a few logins on a few devices, rotations (some racing
 * each other), then one of the four ways to end sessions. What a returned call ended is
 * recorded for the final check.
 */
async function worker(w, deadline) {
  for (let round = 0; Date.now() < deadline; round++) {
    const user = `user${w}:${round % 50}`
    const heads = [] // current rid of each lineage issued this round
    for (let i = 0; i < 4; i++) {
      const r = await call('issueInitial', () => store.issueInitial(user, { now: nowSeconds(), deviceId: `dev${i % 2}` }))
      if (r.ok) heads.push({ rid: r.value.rid, device: `dev${i % 2}` })
    }
    // Rotations, two of them racing on the same rid.
    for (const h of heads) {
      const [a, b] = await Promise.all([
        call('rotate', () => store.verifyAndRotateRefresh({ rid: h.rid, now: nowSeconds(), deviceId: h.device })),
        call('rotate', () => store.verifyAndRotateRefresh({ rid: h.rid, now: nowSeconds(), deviceId: h.device })),
      ])
      if (a.ok && b.ok) problem(`two rotations of ${h.rid} both succeeded`)
      if (a.ok) h.rid = a.value.newRid.rid
      else if (b.ok) h.rid = b.value.newRid.rid
    }
    if (heads.length === 0) continue
    // End sessions, with a rotation racing the logout.
    const kind = round % 4
    const target = heads[round % heads.length]
    const racer = call('rotate', () => store.verifyAndRotateRefresh({ rid: target.rid, now: nowSeconds(), deviceId: target.device }))
    let done
    let covered = []
    if (kind === 0) {
      done = await call('logout', () => store.logout(target.rid))
      covered = [target.rid]
    } else if (kind === 1) {
      done = await call('logoutDevice', () => store.logoutDevice(user, target.device))
      covered = heads.filter((h) => h.device === target.device).map((h) => h.rid)
    } else if (kind === 2) {
      done = await call('logoutAll', () => store.logoutAll(user))
      covered = heads.map((h) => h.rid)
    } else {
      done = await call('tombstoneLineage', () => store.tombstoneLineage(target.rid))
      covered = [target.rid]
    }
    const raced = await racer
    if (done.ok) {
      for (const rid of covered) ended.push([rid, kind, stats.restarts])
      // A rotation that won the race made a child; for everything but logout(rid) it
      // belongs to what was ended, and must have been ended too.
      if (raced.ok && kind !== 0) ended.push([raced.value.newRid.rid, kind, stats.restarts])
      endedTotal += covered.length + (raced.ok && kind !== 0 ? 1 : 0)
    }
  }
}

/** Faults, in turn: kill -9 and restart (data kept), SCRIPT FLUSH, CLIENT KILL. */
async function faults(deadline) {
  for (let i = 0; Date.now() < deadline - 2000; i++) {
    await sleep(FAULT_EVERY_MS)
    if (Date.now() >= deadline - 2000) break
    try {
      if (i % 3 === 0) {
        await srv.kill('SIGKILL')
        await sleep(300)
        await srv.restart()
        stats.restarts++
      } else if (i % 3 === 1) {
        await admin.call('SCRIPT', 'FLUSH')
        stats.flushes++
      } else {
        stats.clientKills += Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'))
      }
    } catch (err) {
      problem(`fault injection failed: ${err.message}`)
    }
  }
}

/** Checks the given ended sessions; false when the server could not be asked. */
async function checkEnded(batch) {
  for (let i = 0; i < batch.length; i += 1000) {
    const part = batch.slice(i, i + 1000)
    const pipe = admin.pipeline()
    for (const [rid] of part) pipe.hget(`soak:rid:${rid}`, 'status')
    let replies
    try {
      replies = await pipe.exec()
    } catch {
      return false
    }
    if (replies.some(([err]) => err)) return false
    replies.forEach(([, status], k) => {
      if (status === 'active') {
        lost++
        problem(`lost logout: ${part[k][0]} (ended by kind ${part[k][1]}) is active`)
      }
    })
  }
  checkedTotal += batch.length
  return true
}

/** Every few seconds: checks what was ended before the latest restart, and forgets it. */
async function checker(deadline) {
  while (Date.now() < deadline) {
    await sleep(3000)
    const due = ended.filter(([, , restarts]) => restarts < stats.restarts)
    if (due.length && (await checkEnded(due))) ended = ended.filter(([, , restarts]) => restarts >= stats.restarts)
  }
}

const memory = []
async function sampleMemory(deadline) {
  while (Date.now() < deadline) {
    globalThis.gc?.()
    const m = process.memoryUsage()
    memory.push({ t: Date.now(), rss: m.rss, heap: m.heapUsed, external: m.external })
    await sleep(2000)
  }
}

const started = Date.now()
const deadline = started + SECONDS * 1000
console.log(`soak: ${SECONDS} s, ${WORKERS} workers, a fault every ${FAULT_EVERY_MS} ms, server ${srv.url} (pid ${srv.pid})`)
await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w, deadline)), faults(deadline), sampleMemory(deadline), checker(deadline)])

// The same store must work after the last fault, without a new store.
let recovered = false
for (let i = 0; i < 100 && !recovered; i++) {
  recovered = (await call('recovery', () => store.getRid('none'))).ok
  if (!recovered) await sleep(100)
}
if (!recovered) problem('the store did not recover after the last fault')

// Zero lost logouts: what is left unchecked is checked now.
if (!(await checkEnded(ended))) problem('could not check the last ended sessions')
if (checkedTotal !== endedTotal) problem(`checked ${checkedTotal} of ${endedTotal} ended sessions`)

// Lineages: at most one child per session, at most one active session per lineage.
const sessions = new Map()
let cursor = '0'
do {
  const [next, keys] = await admin.scan(cursor, 'MATCH', 'soak:rid:*', 'COUNT', 2000)
  cursor = next
  const pipe = admin.pipeline()
  for (const k of keys) pipe.hmget(k, 'parentRid', 'status')
  const replies = await pipe.exec()
  for (const [j, k] of keys.entries()) sessions.set(k.slice('soak:rid:'.length), replies[j][1])
} while (cursor !== '0')
const childCount = new Map()
for (const [, [parent]] of sessions) if (parent) childCount.set(parent, (childCount.get(parent) ?? 0) + 1)
let doubleChildren = 0
for (const [parent, n] of childCount)
  if (n > 1) {
    doubleChildren++
    problem(`${parent} has ${n} children`)
  }
const rootOf = (rid) => {
  let at = rid
  for (let i = 0; i < 1000 && sessions.get(at)?.[0] && sessions.has(sessions.get(at)[0]); i++) at = sessions.get(at)[0]
  return at
}
const activePerLineage = new Map()
for (const [rid, [, status]] of sessions) if (status === 'active') activePerLineage.set(rootOf(rid), (activePerLineage.get(rootOf(rid)) ?? 0) + 1)
let doubleActive = 0
for (const [root, n] of activePerLineage)
  if (n > 1) {
    doubleActive++
    problem(`lineage ${root} has ${n} active sessions`)
  }

const gc = await call('gcOrphans', () => store.gcOrphans({ dryRun: true }))
// One store, one connection: the reconnects left nothing behind on the server.
const clientsAtEnd = (await admin.call('CLIENT', 'LIST', 'TYPE', 'normal')).split('\n').filter(Boolean).length - 1
if (clientsAtEnd > 1) problem(`${clientsAtEnd} store connections open on the server at the end`)
await store.close()
admin.disconnect()
await srv.stop()

// Memory: compare the last third of the samples with the first third (after warm-up).
const mb = (b) => Math.round((b / 1048576) * 10) / 10
const third = Math.max(1, Math.floor(memory.length / 3))
const avg = (xs, f) => xs.reduce((a, x) => a + f(x), 0) / xs.length
const early = memory.slice(1, 1 + third)
const late = memory.slice(-third)
const rssEarly = avg(early, (m) => m.rss)
const rssLate = avg(late, (m) => m.rss)
const heapEarly = avg(early, (m) => m.heap)
const heapLate = avg(late, (m) => m.heap)
const rssGrowth = rssLate / rssEarly - 1
const seconds = (Date.now() - started) / 1000
const summary = {
  seconds: Math.round(seconds),
  workers: WORKERS,
  calls: stats.calls,
  callsPerSecond: Math.round(stats.calls / seconds),
  ok: stats.ok,
  faultRejections: stats.faults,
  sessionOutcomes: stats.session,
  unexpectedErrors: stats.unexpected,
  serverRestarts: stats.restarts,
  scriptFlushes: stats.flushes,
  connectionsKilled: stats.clientKills,
  sessionsEndedByReturnedLogouts: endedTotal,
  sessionsCheckedNotActive: checkedTotal,
  lostLogouts: lost,
  sessionsWithTwoChildren: doubleChildren,
  lineagesWithTwoActive: doubleActive,
  sessionsInRedis: sessions.size,
  storeConnectionsAtEnd: clientsAtEnd,
  gcDryRun: gc.ok ? gc.value : gc.code,
  memoryMB: {
    rssFirstThird: mb(rssEarly),
    rssLastThird: mb(rssLate),
    rssPeak: mb(Math.max(...memory.map((m) => m.rss))),
    heapFirstThird: mb(heapEarly),
    heapLastThird: mb(heapLate),
    samples: memory.length,
    gcExposed: typeof globalThis.gc === 'function',
  },
}
if (stats.restarts === 0 && SECONDS >= 20) problem('no server restart happened')
if (rssGrowth > 0.25 && rssLate - rssEarly > 32 * 1048576) problem(`RSS grew ${Math.round(rssGrowth * 100)}% (${mb(rssEarly)} -> ${mb(rssLate)} MB)`)
console.log(JSON.stringify(summary, null, 2))
if (problems.length) {
  console.error(`soak FAILED:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log('soak passed: zero lost logouts, zero unexpected errors, lineages sound, memory flat')
process.exit(0)
