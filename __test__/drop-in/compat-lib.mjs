// Shared by the compat-*.test.mjs files: runs the original (@devcoons/redis-session-store
// 0.1.0, loaded by original.mjs) and this package against one Redis, and turns what each
// wrote into a comparable form.
//
// Rids are random, so the two implementations never write the same rid. A RidMap gives
// each rid a token (R0, R1, ...) in the order the test creates them; a snapshot of a
// prefix replaces every rid - in key names, in parentRid, in index members, in device
// key values - by its token, drops the prefix, and writes epoch seconds relative to a
// base time as `t+N`. Two snapshots are then equal exactly when the two prefixes hold
// the same data up to the renaming of rids.

import { after } from 'node:test'
import { createRedisStore } from '../../index.js'
import { createOriginalStore } from '../shared/original.mjs'
import { uniquePrefix, readKeys, settle } from '../shared/helpers.mjs'
import Redis from 'ioredis'

/** Rid <-> token, one map per implementation (same tokens, different rids). */
export class RidMap {
  constructor() {
    this.byRid = new Map()
    this.byToken = new Map()
  }

  add(token, rid) {
    if (this.byRid.has(rid) && this.byRid.get(rid) !== token) throw new Error(`rid ${rid} already mapped`)
    this.byRid.set(rid, token)
    this.byToken.set(token, rid)
  }

  rid(token) {
    const rid = this.byToken.get(token)
    if (rid === undefined) throw new Error(`no rid for token ${token}`)
    return rid
  }

  token(rid) {
    return this.byRid.get(rid) ?? `?${rid}`
  }

  clone() {
    const copy = new RidMap()
    for (const [t, r] of this.byToken) copy.add(t, r)
    return copy
  }
}

const TIME_FIELDS = new Set(['createdAt', 'expAt', 'absExpAt'])

/**
 * A comparable snapshot of everything under `prefix`: an object keyed by the key name
 * without the prefix, rids replaced by tokens, sorted by key. Each entry is
 * { type, exp, fields } (hash, fields as [name, value] pairs in server order),
 * { type, exp, members } (set, sorted) or { type, exp, value } (string). `exp` is the
 * key's EXPIRETIME relative to `base` (`t+N`), or -1 for none.
 */
export async function snapshot(client, prefix, map, base) {
  const entries = await readKeys(client, prefix)
  const ridKeyPrefix = `${prefix}:rid:`
  const tokenKey = (fullKey) => (fullKey.startsWith(ridKeyPrefix) ? `rid:${map.token(fullKey.slice(ridKeyPrefix.length))}` : `?${fullKey}`)
  const time = (v) => (/^-?\d+$/.test(String(v)) ? rel(Number(v), base) : String(v))
  const out = {}
  for (const { key, type, expireAt: expireTime, content } of entries) {
    const exp = expireTime < 0 ? expireTime : rel(expireTime, base)
    const name = key.startsWith(ridKeyPrefix) ? tokenKey(key) : key.slice(prefix.length + 1)
    if (type === 'hash') {
      const fields = []
      for (let j = 0; j < content.length; j += 2) {
        const [f, v] = [content[j], content[j + 1]]
        fields.push([f, f === 'parentRid' && v !== '' ? map.token(v) : TIME_FIELDS.has(f) ? time(v) : v])
      }
      out[name] = { type, exp, fields }
    } else if (type === 'set') {
      out[name] = { type, exp, members: content.map(tokenKey).sort() }
    } else if (type === 'string') {
      out[name] = { type, exp, value: tokenKey(content) }
    } else {
      out[name] = { type, exp }
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

export function rel(seconds, base) {
  const d = seconds - base
  return d >= 0 ? `t+${d}` : `t${d}`
}

/**
 * The differences between two snapshots as a sorted list of readable entries:
 *   [key, 'only in original' | 'only in native']
 *   [key, 'exp', original, native]
 *   [key, 'field', name, original, native]   (undefined when absent)
 *   [key, 'fieldOrder', originalNames, nativeNames]
 *   [key, 'members', originalMembers, nativeMembers]
 *   [key, 'value', original, native]
 */
export function diffSnapshots(orig, nat) {
  const out = []
  const keys = [...new Set([...Object.keys(orig), ...Object.keys(nat)])].sort()
  for (const key of keys) {
    const a = orig[key]
    const b = nat[key]
    if (!b) {
      out.push([key, 'only in original'])
      continue
    }
    if (!a) {
      out.push([key, 'only in native'])
      continue
    }
    if (a.type !== b.type) {
      out.push([key, 'type', a.type, b.type])
      continue
    }
    if (a.exp !== b.exp) out.push([key, 'exp', a.exp, b.exp])
    if (a.type === 'hash') {
      const fa = Object.fromEntries(a.fields)
      const fb = Object.fromEntries(b.fields)
      for (const f of [...new Set([...Object.keys(fa), ...Object.keys(fb)])]) {
        if (fa[f] !== fb[f]) out.push([key, 'field', f, fa[f], fb[f]])
      }
      const oa = a.fields.map(([f]) => f).join(',')
      const ob = b.fields.map(([f]) => f).join(',')
      if (oa !== ob && out.every((d) => d[0] !== key || d[1] !== 'field')) {
        out.push([key, 'fieldOrder', oa, ob])
      }
    } else if (a.type === 'set') {
      if (a.members.join('\n') !== b.members.join('\n')) out.push([key, 'members', a.members, b.members])
    } else if (a.type === 'string') {
      if (a.value !== b.value) out.push([key, 'value', a.value, b.value])
    }
  }
  return out
}

/** A call's outcome in a form two implementations' outcomes compare in: { ok: value } or { err: { message, name, isError, code } }. */
export async function outcome(promise) {
  const r = await settle(promise)
  if (r.ok) return { ok: r.value }
  const e = r.error
  return { err: { message: e?.message, name: e?.name, isError: e instanceof Error, code: e?.code } }
}

/**
 * Both implementations on one Redis: `orig` and `nat` stores on two prefixes (or one,
 * with `samePrefix`), a raw client, and `close()`. `url` comes from helpers' redisUrl(),
 * called at module top level. Everything is closed after the test (or file) that made it.
 */
export async function makePair(url, { samePrefix = false, absTtlSeconds = 3600, name = 'cmp' } = {}) {
  const origPrefix = uniquePrefix(`${name}-o`)
  const natPrefix = samePrefix ? origPrefix : uniquePrefix(`${name}-n`)
  const orig = await createOriginalStore({ url, prefix: origPrefix, absTtlSeconds })
  const nat = createRedisStore({ url, prefix: natPrefix, absTtlSeconds })
  const client = new Redis(url)
  const pair = {
    url,
    orig,
    nat,
    client,
    origPrefix,
    natPrefix,
    async close() {
      await orig.close()
      await nat.close()
      if (client.status !== 'end') await client.quit()
    },
  }
  after(() => pair.close())
  return pair
}

/** value with every rid of `map` replaced by its token, full rid keys by `rid:<token>`,
 * and absExp (epoch seconds) written relative to base. */
export function tokenize(value, map, prefix, base) {
  const ridKeyPrefix = `${prefix}:rid:`
  const walk = (v, key) => {
    if (typeof v === 'string') {
      if (TIME_FIELDS.has(key) && /^-?\d+$/.test(v)) return rel(Number(v), base)
      if (map.byRid.has(v)) return map.token(v)
      if (v.startsWith(ridKeyPrefix)) return `rid:${map.token(v.slice(ridKeyPrefix.length))}`
      return v
    }
    if (typeof v === 'number' && key === 'absExp') return rel(v, base)
    if (Array.isArray(v)) return v.map((x) => walk(x))
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]))
    return v
  }
  return walk(value)
}

/**
 * Runs the same steps on the original and on this package (two prefixes of one Redis)
 * and compares. `run(fn, {newToken})` calls fn(store, rid) on each side, where
 * rid(token) gives that side's rid for a token; a new rid returned by the call (issue or
 * rotate) is registered under newToken. Returns { orig, nat } settled and tokenized.
 */
export class Duo {
  constructor(pair, base) {
    this.pair = pair
    this.base = base
    this.maps = { orig: new RidMap(), nat: new RidMap() }
    this.ghosts = 0
  }

  /** A token for a rid that exists on neither side (the same string on both). */
  ghost() {
    const token = `G${this.ghosts++}`
    const rid = `00000000-0000-4000-8000-${String(this.ghosts).padStart(12, '0')}`
    this.maps.orig.add(token, rid)
    this.maps.nat.add(token, rid)
    return token
  }

  async run(fn, { newToken } = {}) {
    const out = {}
    for (const side of ['orig', 'nat']) {
      const store = side === 'orig' ? this.pair.orig : this.pair.nat
      const map = this.maps[side]
      const result = await outcome(Promise.resolve().then(() => fn(store, (t) => map.rid(t))))
      if (newToken && result.ok) {
        const rid = result.ok.newRid?.rid ?? result.ok.rid
        map.add(newToken, rid)
      }
      const prefix = side === 'orig' ? this.pair.origPrefix : this.pair.natPrefix
      out[side] = tokenize(result, map, prefix, this.base)
    }
    return out
  }

  async snapshots() {
    const { client, origPrefix, natPrefix } = this.pair
    return {
      orig: await snapshot(client, origPrefix, this.maps.orig, this.base),
      nat: await snapshot(client, natPrefix, this.maps.nat, this.base),
    }
  }

  async diff() {
    const { orig, nat } = await this.snapshots()
    return diffSnapshots(orig, nat)
  }
}
