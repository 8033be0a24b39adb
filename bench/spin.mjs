// `npm run bench:spin`: what the runtime thread's bounded spin buys and costs.
//
// After a call, the addon's runtime thread stays awake for a bounded time instead of
// parking, so a Redis reply or the next call does not have to wake it. This compares, in
// one run on one server, the original package and this package with the spin on
// (default) and off (RSS_NATIVE_SPIN=0), for BENCH_ROUNDS rounds (default 5), the order of
// the three rotating by round, each in a child process of its own:
//
//   at 1 call in flight   calls/s, p99 and client CPU per call of issueInitial,
//                         verifyAndRotateRefresh, getRid (and the addon's no-op)
//   paced                 getRid one after another with 1 ms of idle time between calls:
//                         client CPU per call, the spin's cost on a lightly loaded server
//
// Medians over the rounds print, with the per-round ratio to the original (median, min-max).

import { startRedis } from '../scripts/redis-server.mjs'
import { runChild } from './impls.mjs'
import { median } from './stats.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const QUICK = process.env.BENCH_QUICK === '1'
const SIDES = [
  { name: 'original', impl: 'original', env: {} },
  { name: 'spin on', impl: 'native', env: { RSS_NATIVE_SPIN: '1' } },
  { name: 'spin off', impl: 'native', env: { RSS_NATIVE_SPIN: '0' } },
]
const OPS = ['issueInitial', 'verifyAndRotateRefresh', 'getRid']
const timing = QUICK ? { warmupMs: 200, durationMs: 500 } : { warmupMs: 700, durationMs: 2000 }
const PACED = { op: 'getRid', calls: QUICK ? 200 : 1000, gapMs: 1 }

const server = process.env.REDIS_URL ? null : await startRedis()
const url = process.env.REDIS_URL ?? server.url

/** Runs one side's child with its environment (the spin switch is read at load). */
async function run(side, workload, params) {
  const saved = { ...process.env }
  Object.assign(process.env, side.env)
  try {
    return (await runChild(url, side.impl, workload, params)).result
  } finally {
    for (const key of Object.keys(side.env)) {
      if (saved[key] === undefined) delete process.env[key]
      else process.env[key] = saved[key]
    }
  }
}

const rounds = []
for (let round = 0; round < ROUNDS; round++) {
  const order = SIDES.map((_, i) => SIDES[(i + round) % SIDES.length])
  const results = {}
  for (const side of order) {
    const points = OPS.map((op) => ({ op, inflight: 1 }))
    if (side.impl === 'native') points.push({ op: 'noop', inflight: 1 })
    results[side.name] = {
      points: await run(side, 'throughput', { points, ...timing }),
      paced: await run(side, 'paced', PACED),
    }
  }
  rounds.push(results)
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
}
await server?.stop()

const point = (r, side, op) => r[side].points.find((p) => p.op === op)
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-')
const ratio = (values) => `${fmt(median(values), 2)} (${fmt(Math.min(...values), 2)}-${fmt(Math.max(...values), 2)})`

const rows = []
for (const op of [...OPS, 'noop']) {
  for (const [field, label, digits, better] of [
    ['opsPerSec', 'calls/s', 0, 'up'],
    ['p99Ms', 'p99 ms', 3, 'down'],
    ['cpuUsPerCall', 'client CPU µs/call', 1, 'down'],
  ]) {
    const cells = SIDES.map((s) => median(rounds.map((r) => point(r, s.name, op)?.[field] ?? Number.NaN)))
    const ratios = (side) => rounds.map((r) => point(r, side, op)?.[field] / point(r, 'original', op)?.[field])
    rows.push([
      `${op} @1 ${label}`,
      ...cells.map((c) => fmt(c, digits)),
      op === 'noop' ? '-' : ratio(ratios('spin on')),
      op === 'noop' ? '-' : ratio(ratios('spin off')),
      better,
    ])
  }
}
const pacedCells = SIDES.map((s) => median(rounds.map((r) => r[s.name].paced.cpuUsPerCall)))
const pacedRatio = (side) => ratio(rounds.map((r) => r[side].paced.cpuUsPerCall / r.original.paced.cpuUsPerCall))
rows.push([`paced getRid (1 ms apart) client CPU µs/call`, ...pacedCells.map((c) => fmt(c, 1)), pacedRatio('spin on'), pacedRatio('spin off'), 'down'])

const header = ['', ...SIDES.map((s) => s.name), 'spin on / original', 'spin off / original', 'better']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
console.log(`${ROUNDS} rounds, medians; ratios per round: median (min-max)`)
console.log(line(header))
for (const row of rows) console.log(line(row))
