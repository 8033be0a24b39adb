// `npm run bench:tracing`: what `cfg.tracing` costs a store call.
//
// Each tracing side is measured against `off` on the same server, the two alternating in
// one process, for BENCH_ROUNDS rounds (default 11) of BENCH_MS ms (default 300) each;
// the medians print: calls per second, and CPU time per call (the process's user + system
// time, all threads, divided by the calls).
//
//   off       tracing unset: the call is the native call, as with the package absent
//             (both leave the store without a span starter)
//   api-only  tracing: true, @opentelemetry/api installed, no SDK registered: the API's
//             no-op spans
//   sdk       tracing: true under an SDK tracer provider that records every span and
//             exports none (the cost of the spans themselves, without an exporter's)
//
// Workload: getRid of a live rid, at 1 call in flight (latency) and 256 (throughput).

import { trace } from '@opentelemetry/api'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { createRedisStore } from '../index.js'
import { startRedis } from '../scripts/redis-server.mjs'
import { median, measure } from './stats.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11)
const MS = Number(process.env.BENCH_MS ?? 300)

const server = process.env.REDIS_URL ? null : await startRedis()
const url = process.env.REDIS_URL ?? server.url
const cfg = { url, prefix: 'bench-tracing', absTtlSeconds: 600 }
const stores = {
  off: createRedisStore(cfg),
  'api-only': createRedisStore({ ...cfg, tracing: true }),
  sdk: createRedisStore({ ...cfg, tracing: true }),
}
const { rid } = await stores.off.issueInitial('bench-user', { now: Math.floor(Date.now() / 1000) })

/** Medians of each side against `off`, alternating, at each number of calls in flight. */
async function compare(side) {
  const out = {}
  for (const inflight of [1, 256]) {
    const pair = ['off', side]
    const samples = { off: [], [side]: [] }
    for (const s of pair) await measure(() => stores[s].getRid(rid), inflight, 200) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of round % 2 === 0 ? pair : [...pair].reverse()) samples[s].push(await measure(() => stores[s].getRid(rid), inflight, MS))
    }
    out[inflight] = Object.fromEntries(pair.map((s) => [s, { perSec: median(samples[s].map((x) => x.perSec)), cpuUs: median(samples[s].map((x) => x.cpuUs)) }]))
  }
  return out
}

// A tracer provider, once registered, serves every tracer taken before it: so the SDK
// side is measured after the API-only one.
const results = { 'api-only': await compare('api-only') }
trace.setGlobalTracerProvider(new BasicTracerProvider())
results.sdk = await compare('sdk')

await Promise.all(Object.values(stores).map((s) => s.close()))
await server?.stop()

const pad = (s, n) => String(s).padStart(n)
console.log(`rounds ${ROUNDS} x ${MS} ms, medians; node ${process.version}; getRid`)
console.log(
  `${'side'.padEnd(12)}${pad('in flight', 10)}${pad('off calls/s', 13)}${pad('side calls/s', 14)}${pad('change', 9)}${pad('off CPU µs', 12)}${pad('side CPU µs', 13)}`,
)
for (const [side, byInflight] of Object.entries(results)) {
  for (const [inflight, r] of Object.entries(byInflight)) {
    const change = r[side].perSec / r.off.perSec - 1
    const n = (x) => Math.round(x).toLocaleString('en-US')
    console.log(
      `${side.padEnd(12)}${pad(inflight, 10)}${pad(n(r.off.perSec), 13)}${pad(n(r[side].perSec), 14)}` +
        `${pad(`${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`, 9)}${pad(r.off.cpuUs.toFixed(2), 12)}${pad(r[side].cpuUs.toFixed(2), 13)}`,
    )
  }
}
