// Worker threads come and go: each loads the addon, runs store calls, and is terminated
// with calls still in flight. Every environment's state (its completion queue and the
// runtime task that runs its calls) must go with it: after a few hundred Workers the
// process holds no more threads and not much more memory than before them.
//
// What a leak would look like here: each Worker keeps KEEP_IN_FLIGHT calls running that
// each resolve to about 1000 rids (~100 KB); results that arrive after the Worker is gone
// and stay queued, or a runtime task kept per Worker, add up to hundreds of MB over the
// run.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { redisUrl, storeConfig } from '../shared/helpers.mjs'

const { createRedisStore } = createRequire(import.meta.url)('../../index.js')

const WORKERS = 300
const AT_ONCE = 6
const SESSIONS = 1000
const KEEP_IN_FLIGHT = 16
/** Allowed growth after all the Workers are gone. */
const MAX_THREAD_GROWTH = 2
const MAX_RSS_GROWTH = 64 * 1024 * 1024

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createRedisStore } = require(workerData.index)
const store = createRedisStore(workerData.cfg)
let signalled = false
const call = (n) => {
  const pending = n % 4 === 0
    ? store.gcOrphansWithProgress({ dryRun: true }, () => {})
    : store.scanRids(workerData.userId)
  pending.then(() => {
    if (!signalled) parentPort.postMessage('busy')
    signalled = true
    call(n + 1)
  }, (err) => parentPort.postMessage('error: ' + (err && err.stack)))
}
for (let i = 0; i < workerData.inFlight; i++) call(i)
`

function status() {
  const text = readFileSync('/proc/self/status', 'utf8')
  const field = (name) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))[1])
  return { threads: field('Threads'), rssBytes: field('VmRSS') * 1024 }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    globalThis.gc?.()
  }
}

/** One Worker: resolves once it has been terminated after its first result, with calls in flight. */
function oneWorker(workerData, delayMs) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData })
    worker.on('message', (message) => {
      if (message !== 'busy') return reject(new Error(`worker: ${message}`))
      setTimeout(() => worker.terminate(), delayMs)
    })
    worker.on('error', reject)
    worker.on('exit', resolve)
  })
}

async function runWorkers(count, workerData) {
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      await oneWorker(workerData, i % 3)
    }
  }
  await Promise.all(Array.from({ length: AT_ONCE }, lane))
}

test('Workers terminated with store calls in flight leave no threads, memory or crash behind', { timeout: 600_000 }, async (t) => {
  await redisUrl()
  const prefix = `workers-${randomUUID()}`
  const userId = 'many-sessions'
  const store = createRedisStore(storeConfig({ prefix, absTtlSeconds: 3600 }))
  const now = Math.floor(Date.now() / 1000)
  await Promise.all(Array.from({ length: SESSIONS }, () => store.issueInitial(userId, { now, absTtlSeconds: 3600 })))
  const workerData = {
    index: new URL('../../index.js', import.meta.url).pathname,
    // A loaded machine must not turn into a failed call: this test is about what a Worker leaves behind.
    cfg: storeConfig({ prefix, absTtlSeconds: 3600, commandTimeoutMs: 30_000 }),
    userId,
    inFlight: KEEP_IN_FLIGHT,
  }

  // A first batch lets Node and the allocator reach their steady size for Workers.
  await runWorkers(2 * AT_ONCE, workerData)
  await settle()
  const before = status()

  await runWorkers(WORKERS, workerData)
  await settle()
  const after = status()

  t.diagnostic(`threads ${before.threads} -> ${after.threads}; RSS ${(before.rssBytes / 2 ** 20).toFixed(1)} MB -> ${(after.rssBytes / 2 ** 20).toFixed(1)} MB`)
  assert.ok(after.threads <= before.threads + MAX_THREAD_GROWTH, `threads grew from ${before.threads} to ${after.threads}`)
  assert.ok(
    after.rssBytes - before.rssBytes <= MAX_RSS_GROWTH,
    `RSS grew by ${((after.rssBytes - before.rssBytes) / 2 ** 20).toFixed(1)} MB (bound ${MAX_RSS_GROWTH / 2 ** 20} MB)`,
  )
  // The store of this thread still works after all that.
  assert.equal((await store.scanRids(userId)).length, SESSIONS)
  store.close()
})
