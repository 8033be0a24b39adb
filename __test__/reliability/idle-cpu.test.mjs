// The addon's runtime thread stays awake for a short, bounded time after a call (so that
// a Redis reply or the next call finds it running, instead of waking a parked thread).
// This suite shows the bound holds: a store with no calls, and a store whose call waits
// on a server that does not answer, use next to no CPU.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRequire } from 'node:module'
import Redis from 'ioredis'
import { startRedis } from '../../scripts/redis-server.mjs'

const { createRedisStore } = createRequire(import.meta.url)('../../index.js')

/** CPU time (user + system, every thread of this process) over `ms` of wall time, in ms. */
async function cpuMsOver(ms) {
  const before = process.cpuUsage()
  await sleep(ms)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}

/** Far above a process that sleeps, far below one thread spinning through the window. */
const MAX_CPU_MS_PER_SECOND = 60

test('a store with no calls in flight uses next to no CPU once its calls have settled', async (t) => {
  const server = await startRedis()
  t.after(() => server.stop())
  const store = createRedisStore({ url: server.url, absTtlSeconds: 3600 })
  t.after(() => store.close?.())
  for (let i = 0; i < 300; i++) {
    await store.issueInitial(`user${i % 7}`, { now: Math.floor(Date.now() / 1000) })
  }
  await sleep(50)
  const cpuMs = await cpuMsOver(1000)
  assert.ok(cpuMs < MAX_CPU_MS_PER_SECOND, `an idle store used ${cpuMs.toFixed(1)} ms of CPU in one second`)
})

test('a call waiting on a server that does not answer does not keep a thread spinning', async (t) => {
  const server = await startRedis()
  t.after(() => server.stop())
  const store = createRedisStore({ url: server.url, absTtlSeconds: 3600 })
  t.after(() => store.close?.())
  await store.issueInitial('warm', { now: Math.floor(Date.now() / 1000) })
  const admin = new Redis(server.url)
  t.after(() => admin.quit())
  // Write commands wait for the pause to end; the store's call is one of them.
  await admin.client('PAUSE', 1500, 'WRITE')
  const waiting = store.issueInitial('paused', { now: Math.floor(Date.now() / 1000) })
  await sleep(100)
  const cpuMs = await cpuMsOver(1000)
  const issued = await waiting
  assert.equal(typeof issued.rid, 'string', 'the call completes once the pause ends')
  assert.ok(cpuMs < MAX_CPU_MS_PER_SECOND, `a waiting call used ${cpuMs.toFixed(1)} ms of CPU in one second`)
})
