// `npm run bench:stacks`: what giving rejections the caller's async stack costs.
//
// "before" is the wrapper the store methods had before (a plain function returning the
// addon's Promise, which rejects with a frameless error); "after" is promised.js, which
// every store method uses now (the addon's Promise with a rejection handler chained on,
// capturing the caller's stack only on rejection). Both wrap the same NativeStore in one
// process, alternating, for BENCH_ROUNDS rounds (default 15) of BENCH_MS ms (default 400)
// each; the medians print: calls per second, and CPU time per call (the process's user +
// system time, all threads, divided by the calls), which a busy machine disturbs less than
// wall time. The differences are fractions of a microsecond: run it on a quiet machine.
//
//   noop          the addon's benchmarking no-op: the napi boundary and the wrapper only
//   getRid        a successful call against Redis
//   rejection     verifyAndRotateRefresh of an unknown rid: the not_found path
//
// Each at 1 call in flight (latency) and 256 (throughput).

import { createRequire } from 'node:module'
import { startRedis } from '../scripts/redis-server.mjs'
import { median, measure } from './stats.mjs'

const require = createRequire(import.meta.url)
const { NativeStore } = require('../js-binding.js')
const { promised } = require('../promised.js')

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)
const MS = Number(process.env.BENCH_MS ?? 400)

/** The previous wrapper, as it was. */
const before =
  (method) =>
  (...args) => {
    try {
      return method(...args)
    } catch (err) {
      return Promise.reject(err)
    }
  }
const WRAPPERS = { before, after: promised }

const server = process.env.REDIS_URL ? null : await startRedis()
const url = process.env.REDIS_URL ?? server.url
const native = new NativeStore({ url, prefix: 'bench-stacks', absTtlSeconds: 600 })
const now = Math.floor(Date.now() / 1000)
const { rid } = await native.issueInitial('bench-user', { now })

const WORKLOADS = {
  noop: (wrap) => wrap(() => native.noop()),
  getRid: (wrap) => {
    const get = wrap((r) => native.getRid(r))
    return () => get(rid)
  },
  rejection: (wrap) => {
    const rotate = wrap((input) => native.verifyAndRotateRefresh(input))
    const input = { rid: 'no-such-rid', now }
    return () => rotate(input).catch((err) => err.stack)
  },
}

const results = {}
for (const [name, make] of Object.entries(WORKLOADS)) {
  for (const inflight of [1, 256]) {
    const samples = { before: [], after: [] }
    const calls = { before: make(WRAPPERS.before), after: make(WRAPPERS.after) }
    for (const side of ['before', 'after']) await measure(calls[side], inflight, 200) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['before', 'after'] : ['after', 'before']
      for (const side of order) samples[side].push(await measure(calls[side], inflight, MS))
    }
    const pick = (side, field) => median(samples[side].map((x) => x[field]))
    const b = pick('before', 'perSec')
    const a = pick('after', 'perSec')
    results[`${name} @${inflight}`] = {
      before: b,
      after: a,
      cpuBefore: pick('before', 'cpuUs'),
      cpuAfter: pick('after', 'cpuUs'),
      change: a / b - 1,
    }
  }
}

native.close()
await server?.stop()

const pad = (s, n) => String(s).padStart(n)
console.log(`rounds ${ROUNDS} x ${MS} ms, medians; node ${process.version}`)
console.log(
  `${'workload'.padEnd(16)}${pad('before calls/s', 16)}${pad('after calls/s', 16)}${pad('change', 9)}${pad('before CPU µs', 15)}${pad('after CPU µs', 14)}`,
)
for (const [name, r] of Object.entries(results)) {
  console.log(
    `${name.padEnd(16)}${pad(Math.round(r.before).toLocaleString('en-US'), 16)}${pad(Math.round(r.after).toLocaleString('en-US'), 16)}` +
      `${pad(`${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`, 9)}${pad(r.cpuBefore.toFixed(2), 15)}${pad(r.cpuAfter.toFixed(2), 14)}`,
  )
}
