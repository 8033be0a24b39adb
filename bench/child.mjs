// One benchmark child: runs one workload group against one implementation and prints a
// single JSON line on stdout. Started by bench/run.mjs, one process per implementation
// and round, so that the two never share a heap, an event loop or a connection.
//
//   node bench/child.mjs <original|native> <workload> '<json params>'
//   REDIS_URL   the server to use (run.mjs starts a throwaway one)
//   BENCH_CFG   JSON merged into the store's cfg (bench/options.mjs: one option per child)

import { performance } from 'node:perf_hooks'
import { loadImpl } from './impls.mjs'
import { latencySummary, scriptCommandStats } from './stats.mjs'

const [implName, workload, rawParams = '{}'] = process.argv.slice(2)
const params = JSON.parse(rawParams)
const url = process.env.REDIS_URL
const ABS_TTL = 30 * 24 * 3600
const nowSec = () => Math.floor(Date.now() / 1000)
const BINDING = { deviceId: 'd1', uaHash: 'ua', ipHash: 'ip' }

const impl = await loadImpl(implName)
const store = impl.createRedisStore({ url, prefix: 'auth', absTtlSeconds: ABS_TTL, ...JSON.parse(process.env.BENCH_CFG ?? '{}') })

/**
 * The state changes this process made that succeeded, fixtures and warm-ups included: the
 * parent checks them against the data left behind (each issue leaves one active session,
 * each rotation one used parent more).
 */
const made = { issued: 0, rotated: 0, loggedOut: 0 }

async function issue(userId) {
  const issued = await store.issueInitial(userId, { now: nowSec(), ...BINDING, absTtlSeconds: ABS_TTL })
  made.issued++
  return issued
}

async function rotate(rid) {
  const rotated = await store.verifyAndRotateRefresh({ rid, now: nowSec(), ...BINDING })
  made.rotated++
  return rotated
}

/** Counts a failed call by its message (the parent compares these between implementations). */
function countFailure(failures, err) {
  const message = String(err?.message ?? err)
  failures[message] = (failures[message] ?? 0) + 1
}

function cpuMicros(usage) {
  return usage.user + usage.system
}

/**
 * Runs `call(lane)` on `inflight` concurrent lanes until `durationMs` has passed.
 * Returns throughput, latency percentiles and client CPU (all threads of this process,
 * from process.cpuUsage()) per call.
 */
async function measure(call, inflight, durationMs) {
  const latencies = []
  const start = performance.now()
  const deadline = start + durationMs
  const failures = {}
  const cpu0 = process.cpuUsage()
  const lane = async (i) => {
    while (performance.now() < deadline) {
      const t = performance.now()
      await call(i).catch((err) => countFailure(failures, err))
      latencies.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: inflight }, (_, i) => lane(i)))
  const elapsedMs = performance.now() - start
  const cpu = cpuMicros(process.cpuUsage(cpu0))
  return {
    calls: latencies.length,
    failures,
    opsPerSec: latencies.length / (elapsedMs / 1000),
    ...latencySummary(latencies),
    cpuUsPerCall: cpu / latencies.length,
  }
}

/** Warm-up (discarded, but its failures kept), then the measured run. */
async function point(call, inflight, { warmupMs, durationMs }) {
  const warmup = await measure(call, inflight, warmupMs)
  const measured = await measure(call, inflight, durationMs)
  return { ...measured, warmupFailures: warmup.failures }
}

/** The per-call operation of each throughput workload, with its own fixtures. */
async function operation(op, inflight) {
  if (op === 'issueInitial') {
    let n = 0
    return () => issue(`u${n++ % 1000}`)
  }
  if (op === 'verifyAndRotateRefresh') {
    // One lineage per lane: each rotation continues from the child the last one made.
    const rids = []
    for (let i = 0; i < inflight; i++) rids.push((await issue(`u${i % 1000}`)).rid)
    return async (lane) => {
      rids[lane] = (await rotate(rids[lane])).newRid.rid
    }
  }
  if (op === 'getRid') {
    const rids = []
    for (let i = 0; i < 1000; i++) rids.push((await issue(`u${i}`)).rid)
    let n = 0
    return async () => {
      if ((await store.getRid(rids[n++ % rids.length])) === null) throw new Error('getRid: session missing')
    }
  }
  if (op === 'replayRejected') {
    // A rid already rotated, presented again: the rejection path of every replayed token.
    const used = []
    for (let i = 0; i < inflight; i++) {
      const { rid } = await issue(`r${i % 1000}`)
      await rotate(rid)
      used.push(rid)
    }
    return async (lane) => {
      const outcome = await rotate(used[lane]).then(
        () => 'rotated',
        (err) => err.message,
      )
      if (outcome !== 'rotate_fail:ERR_REPLAY') throw new Error(`replayRejected: ${outcome}`)
    }
  }
  if (op === 'noop') {
    if (!impl.NativeStore) throw new Error('noop: only the native implementation has it')
    const native = new impl.NativeStore({ url, absTtlSeconds: ABS_TTL })
    return () => native.noop()
  }
  if (op === 'jsAsyncNoop') {
    const fn = async () => {}
    return () => fn()
  }
  throw new Error(`unknown op ${op}`)
}

/** The server's counters this workload reads: time inside script calls, main-thread CPU. */
async function serverCounters(admin) {
  const [stats, cpu] = await Promise.all([admin.info('commandstats'), admin.info('cpu')])
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? Number.NaN)
  return { scriptUsec: scriptCommandStats(stats).usec, mainThreadCpuUs: (field('used_cpu_sys_main_thread') + field('used_cpu_user_main_thread')) * 1e6 }
}

const workloads = {
  /**
   * What each operation costs the server: `calls` calls at `inflight` after the fixtures
   * are made, bracketed by the server's counters (INFO commandstats: time inside script
   * calls; INFO cpu: the main thread's CPU, which adds every other command, parsing and
   * socket I/O).
   * params: { ops, calls, inflight }
   */
  async serverCost({ ops, calls, inflight }) {
    const Redis = (await import('ioredis')).default
    const admin = new Redis(url)
    const results = []
    for (const op of ops) {
      const call = await operation(op, inflight)
      await Promise.all(Array.from({ length: inflight }, (_, i) => call(i))) // warm: scripts loaded, connection up
      await admin.config('RESETSTAT')
      const before = await serverCounters(admin)
      const failures = {}
      let started = 0
      const lane = async (i) => {
        while (started < calls) {
          started++
          await call(i).catch((err) => countFailure(failures, err))
        }
      }
      await Promise.all(Array.from({ length: inflight }, (_, i) => lane(i)))
      const after = await serverCounters(admin)
      results.push({
        op,
        inflight,
        calls: started,
        failures,
        scriptUsPerCall: (after.scriptUsec - before.scriptUsec) / started,
        mainThreadCpuUsPerCall: (after.mainThreadCpuUs - before.mainThreadCpuUs) / started,
      })
    }
    admin.disconnect()
    return results
  },

  /** params: { points: [{ op, inflight }], warmupMs, durationMs } */
  async throughput({ points, warmupMs, durationMs }) {
    const results = []
    for (const { op, inflight } of points) {
      const call = await operation(op, inflight)
      results.push({ op, inflight, ...(await point(call, inflight, { warmupMs, durationMs })) })
    }
    return results
  },

  /**
   * Calls one after another with `gapMs` of idle time between them, as a lightly loaded
   * server makes them: client CPU per call, which includes whatever a call leaves running
   * after it settles. params: { op, calls, gapMs }
   */
  async paced({ op, calls, gapMs }) {
    const call = await operation(op, 1)
    await call(0)
    const cpu0 = process.cpuUsage()
    const t = performance.now()
    for (let i = 0; i < calls; i++) {
      await call(0)
      await new Promise((resolve) => setTimeout(resolve, gapMs))
    }
    return { op, calls, gapMs, ms: performance.now() - t, cpuUsPerCall: cpuMicros(process.cpuUsage(cpu0)) / calls }
  },

  /** gcOrphans once over data run.mjs seeded; RSS sampled every 5 ms while it runs. */
  async gc() {
    await store.getRid('warm-up-connection')
    const base = process.memoryUsage().rss
    let peak = base
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 5)
    const cpu0 = process.cpuUsage()
    const t = performance.now()
    const report = await store.gcOrphans({})
    const ms = performance.now() - t
    const cpuMs = cpuMicros(process.cpuUsage(cpu0)) / 1000
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    return { ms, cpuMs, rssBaseMB: base / 2 ** 20, rssPeakDeltaMB: (peak - base) / 2 ** 20, report }
  },

  /** logoutAll of the one user run.mjs seeded. params: { userId } */
  async logoutAll({ userId }) {
    await store.getRid('warm-up-connection')
    const cpu0 = process.cpuUsage()
    const t = performance.now()
    await store.logoutAll(userId)
    return { ms: performance.now() - t, cpuMs: cpuMicros(process.cpuUsage(cpu0)) / 1000 }
  },

  /**
   * A long mixed run at `inflight`: per call 50% getRid, 30% rotate, 15% issue, 5% logout,
   * each lane on its own session (a new one after a logout). RSS (and V8's heapTotal) is
   * read at start, after the warm-up share of calls, and at the end.
   * params: { calls, inflight, warmupShare }
   */
  async mixed({ calls, inflight, warmupShare }) {
    const rss = () => process.memoryUsage().rss / 2 ** 20
    const heapTotal = () => process.memoryUsage().heapTotal / 2 ** 20
    const rssStart = rss()
    const rids = []
    for (let i = 0; i < inflight; i++) rids.push((await issue(`m${i}`)).rid)
    const warmupCalls = Math.floor(calls * warmupShare)
    let started = 0
    let rssWarm = null
    let heapWarm = null
    let seed = 12345
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed / 2 ** 32
    }
    const rotateRefusals = {}
    const cpu0 = process.cpuUsage()
    const t = performance.now()
    const lane = async (i) => {
      while (started < calls) {
        started++
        if (rssWarm === null && started > warmupCalls) [rssWarm, heapWarm] = [rss(), heapTotal()]
        const r = random()
        if (r < 0.5) await store.getRid(rids[i])
        else if (r < 0.8) {
          try {
            rids[i] = (await rotate(rids[i])).newRid.rid
          } catch (err) {
            // Expected only after a logout; the parent checks which refusals occurred.
            countFailure(rotateRefusals, err)
            rids[i] = (await issue(`m${i}`)).rid // start a new session
            started++
          }
        } else if (r < 0.95) rids[i] = (await issue(`m${i}`)).rid
        else {
          await store.logout(rids[i])
          made.loggedOut++
        }
      }
    }
    await Promise.all(Array.from({ length: inflight }, (_, i) => lane(i)))
    const ms = performance.now() - t
    return {
      calls: started,
      rotateRefusals,
      opsPerSec: started / (ms / 1000),
      cpuUsPerCall: cpuMicros(process.cpuUsage(cpu0)) / started,
      rssStartMB: rssStart,
      rssWarmMB: rssWarm ?? rss(),
      rssEndMB: rss(),
      // V8's heap as reserved (young generation included): how much of the RSS change is
      // the JavaScript heap sizing itself rather than native memory.
      heapTotalWarmMB: heapWarm ?? heapTotal(),
      heapTotalEndMB: heapTotal(),
    }
  },
}

if (!workloads[workload]) throw new Error(`unknown workload ${workload}`)
const result = await workloads[workload](params)
process.stdout.write(`${JSON.stringify({ impl: implName, workload, result, made })}\n`)
process.exit(0)
