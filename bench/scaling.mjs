// `npm run bench:scaling`: issueInitial and verifyAndRotateRefresh throughput of one store
// against a single redis-server and against a local Redis Cluster of 3 primaries (each with
// one replica), measured in one run, alternating, BENCH_ROUNDS rounds (default 3), at 1 and
// 256 calls in flight. Prints medians and the spread (min..max) of the rounds, and writes
// bench/results/scaling.json. See SCALING.md for what a 2-core machine can and cannot show.

import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { createRedisStore } from '../index.js'
import { startRedis } from '../scripts/redis-server.mjs'
import { startCluster } from '../scripts/redis-cluster.mjs'
import { ROOT } from './impls.mjs'
import { median } from './stats.mjs'

const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '3', 10)
const DURATION_MS = process.env.BENCH_QUICK === '1' ? 500 : 2000
const WARMUP_MS = process.env.BENCH_QUICK === '1' ? 200 : 500
const INFLIGHT = [1, 256]
const DAY = 86400

/** Calls per second of `op` with `inflight` calls outstanding, for `ms`. */
async function measure(op, inflight, ms) {
  let calls = 0
  const end = performance.now() + ms
  const start = performance.now()
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await op()
        calls++
      }
    }),
  )
  return calls / ((performance.now() - start) / 1000)
}

async function workloads(store) {
  const now = Math.floor(Date.now() / 1000)
  let user = 0
  const issue = () => store.issueInitial(`u${user++ % 10_000}`, { now, deviceId: 'd', absTtlSeconds: DAY })
  // Each in-flight chain rotates its own lineage forward.
  const heads = []
  const rotate = async () => {
    const rid = heads.pop() ?? (await issue()).rid
    const { newRid } = await store.verifyAndRotateRefresh({ rid, now, deviceId: 'd' })
    heads.push(newRid.rid)
  }
  return { issueInitial: issue, verifyAndRotateRefresh: rotate }
}

const single = await startRedis()
const cluster = await startCluster()
const targets = {
  standalone: createRedisStore({ url: single.url, prefix: 'bench', absTtlSeconds: DAY }),
  cluster: createRedisStore({ url: cluster.url, cluster: true, prefix: 'bench', absTtlSeconds: DAY }),
}
const results = {}
try {
  for (const [name, store] of Object.entries(targets)) results[name] = { store, ops: await workloads(store), rounds: {} }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which target goes first, so drift on a shared machine hits both alike.
    const order = round % 2 === 0 ? ['standalone', 'cluster'] : ['cluster', 'standalone']
    for (const name of order) {
      const { ops, rounds } = results[name]
      for (const [opName, op] of Object.entries(ops)) {
        for (const inflight of INFLIGHT) {
          await measure(op, inflight, WARMUP_MS)
          const rate = await measure(op, inflight, DURATION_MS)
          rounds[`${opName} @${inflight}`] ??= []
          rounds[`${opName} @${inflight}`].push(rate)
        }
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  await Promise.all(Object.values(targets).map((s) => s.close()))
  await single.stop()
  await cluster.stop()
}

const rows = Object.keys(results.standalone.rounds).map((point) => {
  const s = results.standalone.rounds[point]
  const c = results.cluster.rounds[point]
  return {
    point,
    standalone: Math.round(median(s)),
    standaloneSpread: [Math.round(Math.min(...s)), Math.round(Math.max(...s))],
    cluster: Math.round(median(c)),
    clusterSpread: [Math.round(Math.min(...c)), Math.round(Math.max(...c))],
    ratio: +(median(c) / median(s)).toFixed(2),
  }
})
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${ROUNDS} rounds of ${DURATION_MS} ms`)
console.log('point                          standalone/s (min..max)      cluster 3 primaries/s (min..max)   cluster/standalone')
for (const r of rows) {
  console.log(
    `${r.point.padEnd(30)} ${String(r.standalone).padStart(8)} (${r.standaloneSpread.join('..')})`.padEnd(60) +
      `${String(r.cluster).padStart(8)} (${r.clusterSpread.join('..')})`.padEnd(35) +
      `${r.ratio}x`,
  )
}
mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
writeFileSync(join(ROOT, 'bench/results/scaling.json'), JSON.stringify({ cpus: cpus().length, rounds: ROUNDS, rows }, null, 2))
