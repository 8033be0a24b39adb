// Shared by the Node test files: a real Redis (REDIS_URL, or a throwaway server for this
// file), unique key prefixes, and a plain client to look at what the store wrote.

import { after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import Redis from 'ioredis'
import { startRedis } from '../scripts/redis-server.mjs'

let shared

/** The Redis URL of this test file's server. */
export async function redisUrl() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL
  if (!shared) {
    shared = startRedis()
    after(async () => (await shared).stop())
  }
  return (await shared).url
}

/** A prefix no other test uses, so tests share one server without seeing each other. */
export function uniquePrefix(name = 't') {
  return `${name}-${randomUUID().slice(0, 8)}`
}

/** A plain ioredis client, closed after the file's tests. */
export async function rawClient() {
  const client = new Redis(await redisUrl(), { lazyConnect: false })
  after(() => client.quit())
  return client
}

/** Every key under a prefix with its type, content and expiry, for before/after comparisons. */
export async function dump(client, prefix) {
  const keys = (await client.keys(`${prefix}:*`)).sort()
  const out = {}
  for (const key of keys) {
    const type = await client.type(key)
    const content =
      type === 'hash' ? await client.hgetall(key)
        : type === 'set' ? (await client.smembers(key)).sort()
          : type === 'string' ? await client.get(key)
            : type
    out[key] = { type, content, expireAt: await client.call('EXPIRETIME', key) }
  }
  return out
}

/** Fails the file when any Promise rejection goes unhandled while its tests run. */
export function failOnUnhandledRejections() {
  const unhandled = []
  const onUnhandled = (reason) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  after(() => {
    process.off('unhandledRejection', onUnhandled)
    assert.deepEqual(unhandled, [], 'no unhandled rejection')
  })
}

export const nowSeconds = () => Math.floor(Date.now() / 1000)
