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

/** `s` with SCAN's glob characters escaped, to MATCH it literally. */
export function escapeGlob(s) {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}

const hasExpireTime = new WeakMap()

// The expiry times of KEYS in ms, read between two readings of the server's clock that
// fall in the same millisecond (tried again until they do), so clock + PTTL is exact.
const EXPIRE_TIMES_LUA = `
for _ = 1, 1000 do
  local before = redis.call('TIME')
  local out = {}
  for i, key in ipairs(KEYS) do out[i] = redis.call('PTTL', key) end
  local after = redis.call('TIME')
  local ms = tonumber(before[1]) * 1000 + math.floor(tonumber(before[2]) / 1000)
  if ms == tonumber(after[1]) * 1000 + math.floor(tonumber(after[2]) / 1000) then
    for i, ttl in ipairs(out) do if ttl >= 0 then out[i] = ms + ttl end end
    return out
  end
end
return redis.error_reply('the clock never held still for one millisecond')`

/**
 * The expiry time of each of `keys` as EXPIRETIME gives it (PEXPIRETIME with `millis`):
 * epoch seconds (ms), -1 without expiry, -2 for a missing key. Redis 6.2 has neither
 * command; there it is the server's clock plus PTTL, read in one script so it is exact.
 */
export async function expireTimes(client, keys, { millis = false } = {}) {
  if (!hasExpireTime.has(client)) {
    const [info] = await client.call('COMMAND', 'INFO', 'PEXPIRETIME')
    hasExpireTime.set(client, info !== null)
  }
  if (hasExpireTime.get(client)) {
    const pipe = client.pipeline()
    for (const key of keys) pipe.call(millis ? 'PEXPIRETIME' : 'EXPIRETIME', key)
    return (await pipe.exec()).map(([err, value]) => {
      if (err) throw err
      return value
    })
  }
  const out = []
  for (let i = 0; i < keys.length; i += 100) {
    const batch = keys.slice(i, i + 100)
    for (const ms of await client.eval(EXPIRE_TIMES_LUA, batch.length, ...batch)) {
      out.push(ms < 0 || millis ? ms : Math.floor((ms + 500) / 1000))
    }
  }
  return out
}

/**
 * Every key under `prefix`, sorted, each as { key, type, expireAt, content }: `expireAt`
 * is EXPIRETIME (PEXPIRETIME with `millis`, see expireTimes), -1 without expiry; `content` is the flat
 * HGETALL reply of a hash (fields in server order), the members of a set, the value of a
 * string, null for other types. Streams with SCAN, the prefix matched literally.
 */
export async function readKeys(client, prefix, { millis = false } = {}) {
  const found = new Set()
  let cursor = '0'
  do {
    const [next, page] = await client.scan(cursor, 'MATCH', `${escapeGlob(prefix)}:*`, 'COUNT', 1000)
    for (const key of page) found.add(key)
    cursor = next
  } while (cursor !== '0')
  const keys = [...found].sort()
  const meta = client.pipeline()
  for (const key of keys) meta.type(key)
  const types = (await meta.exec()).map(([, type]) => type)
  const expiries = await expireTimes(client, keys, { millis })
  const read = client.pipeline()
  keys.forEach((key, i) => {
    if (types[i] === 'hash') read.call('HGETALL', key)
    else if (types[i] === 'set') read.smembers(key)
    else read.get(key)
  })
  const contents = await read.exec()
  return keys.map((key, i) => ({
    key,
    type: types[i],
    expireAt: expiries[i],
    content: ['hash', 'set', 'string'].includes(types[i]) ? contents[i][1] : null,
  }))
}

/** Every key under a prefix with its type, content and expiry, for before/after comparisons. */
export async function dump(client, prefix) {
  const out = {}
  for (const { key, type, expireAt, content } of await readKeys(client, prefix)) {
    const shaped =
      type === 'hash' ? Object.fromEntries(pairs(content))
        : type === 'set' ? [...content].sort()
          : type === 'string' ? content
            : type
    out[key] = { type, content: shaped, expireAt }
  }
  return out
}

/** [[name, value], ...] from a flat HGETALL reply. */
export function pairs(flat) {
  const out = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]])
  return out
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1), so a failing random run
 * can be replayed from its seed. */
export function seededRandom(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
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

/** Retries `fn` until it resolves, for at most `ms`: a store must recover by itself. */
export async function eventually(fn, ms = 15_000) {
  const deadline = Date.now() + ms
  let last
  while (Date.now() < deadline) {
    try {
      return await fn()
    } catch (err) {
      last = err
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`did not succeed within ${ms} ms: ${last?.code} ${last?.message}`)
}
