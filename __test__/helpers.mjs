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

/**
 * Every key under `prefix`, sorted, each as { key, type, expireAt, content }: `expireAt`
 * is EXPIRETIME (PEXPIRETIME with `millis`), -1 without expiry; `content` is the flat
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
  for (const key of keys) meta.type(key).call(millis ? 'PEXPIRETIME' : 'EXPIRETIME', key)
  const metaReplies = await meta.exec()
  const types = keys.map((_, i) => metaReplies[2 * i][1])
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
    expireAt: metaReplies[2 * i + 1][1],
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
