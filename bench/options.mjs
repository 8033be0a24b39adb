// `npm run bench:options`: what each option costs this package, side by side in one run.
// Each round runs the same throughput points once per variant (no option, then each
// option alone), each in its own child process, the variants' order rotating from round
// to round; ratios are to the no-option run of the same round, and the table gives their
// median and spread (max/min) over the rounds. Then the Redis memory a session owns in
// each token storage mode: MEMORY USAGE of every key, summed, per session.
// Writes bench/results/options.json. See BENCHMARKS.md.
//
//   BENCH_QUICK=1     short runs (a smoke run)
//   BENCH_ROUNDS=n    rounds (default 5)

import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { startRedis } from '../scripts/redis-server.mjs'
import { ROOT, runChild, loadImpl } from './impls.mjs'
import { median } from './stats.mjs'

const Redis = createRequire(import.meta.url)('ioredis')
const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '5', 10)
const TIMING = { warmupMs: QUICK ? 200 : 500, durationMs: QUICK ? 500 : 2000 }
const POINTS = ['issueInitial', 'verifyAndRotateRefresh'].flatMap((op) => [1, 64].map((inflight) => ({ op, inflight })))
const MEMORY_SESSIONS = QUICK ? 500 : 5000

/** Each option alone, at a value an auth server would use. */
const VARIANTS = {
  none: {},
  'tokenStorage sha256': { tokenStorage: 'sha256' },
  'onReuse revoke-lineage': { onReuse: 'revoke-lineage' },
  'reuseGraceSeconds 10': { reuseGraceSeconds: 10 },
  'idleTtlSeconds 3600': { idleTtlSeconds: 3600 },
  // 1000 users: the issue workload reaches the limit and evicts from then on.
  'maxSessionsPerUser 50': { maxSessionsPerUser: 50 },
  'audit maxLen 1000': { audit: { maxLen: 1000 } },
}

const key = ({ op, inflight }) => `${op} @${inflight}`

async function throughputRounds(server, redis) {
  const names = Object.keys(VARIANTS)
  const rounds = []
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length])
    const byVariant = {}
    for (const name of order) {
      await redis.flushall()
      byVariant[name] = (await runChild(server.url, 'native', 'throughput', { points: POINTS, ...TIMING }, VARIANTS[name])).result
    }
    rounds.push(byVariant)
    console.error(`round ${round + 1}/${ROUNDS} done`)
  }
  return rounds
}

/** Per variant and point: median calls/s, its ratio to no option (median over rounds and spread), p99. */
function summarize(rounds) {
  const rows = []
  for (const name of Object.keys(VARIANTS)) {
    for (const [i, p] of POINTS.entries()) {
      const ops = rounds.map((r) => r[name][i].opsPerSec)
      const ratios = rounds.map((r) => r[name][i].opsPerSec / r.none[i].opsPerSec)
      rows.push({
        variant: name,
        point: key(p),
        opsPerSec: median(ops),
        ratio: median(ratios),
        spread: Math.max(...ops) / Math.min(...ops),
        p99Ms: median(rounds.map((r) => r[name][i].p99Ms)),
      })
    }
  }
  return rows
}

/**
 * The memory a session owns in Redis: sessions issued over 1/10 as many users and each
 * rotated once (a live lineage: the used parent kept for replay detection, the active
 * child, the user's index, the device key), then MEMORY USAGE of every key, summed.
 */
async function memoryPerSession(server, redis, tokenStorage) {
  await redis.flushall()
  const { createRedisStore } = await loadImpl('native')
  const store = createRedisStore({ url: server.url, prefix: 'auth', absTtlSeconds: 86_400, tokenStorage })
  const now = Math.floor(Date.now() / 1000)
  for (let i = 0; i < MEMORY_SESSIONS; i++) {
    const binding = { deviceId: `d${i}`, uaHash: 'ua-hash-of-the-browser', ipHash: 'ip-hash-of-the-client' }
    const { rid } = await store.issueInitial(`user-${i % (MEMORY_SESSIONS / 10)}`, { now, absTtlSeconds: 86_400, ...binding })
    await store.verifyAndRotateRefresh({ rid, now, ...binding })
  }
  let bytes = 0
  let keys = 0
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    for (const k of batch) {
      bytes += await redis.memory('USAGE', k, 'SAMPLES', 0)
      keys++
    }
  } while (cursor !== '0')
  return { tokenStorage, sessions: MEMORY_SESSIONS, keys, bytesPerSession: bytes / MEMORY_SESSIONS }
}

const server = await startRedis()
const redis = new Redis(server.url)
const started = Date.now()
let rows
let memory
try {
  const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1]
  console.error(`server: ${server.kind} ${version}; ${ROUNDS} rounds, ${Object.keys(VARIANTS).length} variants`)
  rows = summarize(await throughputRounds(server, redis))
  memory = [await memoryPerSession(server, redis, 'plain'), await memoryPerSession(server, redis, 'sha256')]
} finally {
  redis.disconnect()
  await server.stop()
}

console.log('\nvariant                   point                         calls/s   vs none (median, spread of calls/s)   p99 ms')
for (const r of rows) {
  console.log(
    `${r.variant.padEnd(25)} ${r.point.padEnd(29)} ${r.opsPerSec.toFixed(0).padStart(8)}   ${r.ratio.toFixed(3)}x (${r.spread.toFixed(2)})`.padEnd(100) +
      r.p99Ms.toFixed(2),
  )
}
console.log('\nRedis memory per session (used parent + active child + its share of index and device keys):')
for (const m of memory) console.log(`  ${m.tokenStorage.padEnd(7)} ${m.bytesPerSession.toFixed(0)} bytes (${m.keys} keys for ${m.sessions} sessions)`)

const dir = join(ROOT, 'bench/results')
mkdirSync(dir, { recursive: true })
writeFileSync(
  join(dir, 'options.json'),
  JSON.stringify({ date: new Date().toISOString(), command: 'npm run bench:options', quick: QUICK, rounds: ROUNDS, timing: TIMING, rows, memory }, null, 2),
)
console.log(`\nwrote bench/results/options.json (${((Date.now() - started) / 1000).toFixed(0)} s)`)
process.exit(0)
