// Shared by the Node test files: a real Redis (REDIS_URL, or a throwaway server for this
// file), unique key prefixes, and a plain client to look at what the store wrote.
//
// REDIS_TOPOLOGY=cluster runs the same tests against a Redis Cluster: REDIS_URL is then a
// seed node of it (or, unset, a throwaway cluster is started for the file), stores get
// `cluster: true`, the plain client is an ioredis Cluster, and key names follow the
// cluster layout (see `keys`).

import { after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID, createHash } from 'node:crypto'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { freePort, startRedis } from '../../scripts/redis-server.mjs'
import { startCluster } from '../../scripts/redis-cluster.mjs'

/** 'cluster' or 'standalone', from REDIS_TOPOLOGY. */
export const topology = process.env.REDIS_TOPOLOGY === 'cluster' ? 'cluster' : 'standalone'
export const isCluster = topology === 'cluster'

let shared
let resolvedUrl

/** The Redis URL of this test file's server (a seed node in cluster mode). */
export async function redisUrl() {
  if (!process.env.REDIS_URL && !shared) {
    shared = isCluster ? startCluster() : startRedis()
    after(async () => (await shared).stop())
  }
  resolvedUrl = process.env.REDIS_URL || (await shared).url
  return resolvedUrl
}

/** A server of this file's own, whatever REDIS_URL says (for tests that read or compare
 * the whole database): a redis-server, or a cluster in cluster mode. { url, stop() }. */
export async function ownServer() {
  const server = isCluster ? await startCluster() : await startRedis()
  after(() => server.stop())
  return server
}

/**
 * A store configuration for this run's topology: `extra` over { url } (the URL of
 * `redisUrl()`, which must have been awaited first), with `cluster: true` in cluster mode.
 */
export function storeConfig(extra = {}) {
  const url = extra.url ?? resolvedUrl
  if (url === undefined) throw new Error('storeConfig: await redisUrl() first, or pass a url')
  return { url, ...(isCluster ? { cluster: true } : {}), ...extra }
}

/** A plain ioredis client (a Redis.Cluster in cluster mode) on `url` (default: this
 * file's server), closed after the file's tests. */
export async function rawClient(url) {
  url ??= await redisUrl()
  const client = isCluster ? new Redis.Cluster([url]) : new Redis(url, { lazyConnect: false })
  after(() => client.quit())
  if (isCluster) await new Promise((resolve, reject) => client.once('ready', resolve).once('error', reject))
  return client
}

/** The data nodes of a client: every primary of a cluster, or the client itself. */
export function primaries(client) {
  return client.isCluster ? client.nodes('master') : [client]
}

/** A user's hash tag in the cluster layout: the first 16 hex digits of SHA-1(userId). */
export function userTag(userId) {
  return createHash('sha1').update(userId, 'utf8').digest('hex').slice(0, 16)
}

const CLUSTER_RID = /^([0-9a-fA-F]{16})\.(.+)$/s

/**
 * The store's key names under `prefix`, in this run's layout (or the one asked for):
 * - the original's: `{p}:rid:{rid}`, `{p}:user:{userId}:rids`, `{p}:device:{userId}:{deviceId}`;
 * - cluster: a rid is `<tag>.<uuid>` with tag = userTag(userId), and the keys are
 *   `{p}:rid:{<tag>}.<uuid>`, `{p}:user:{<tag>}:rids`, `{p}:device:{<tag>}:{deviceId}`.
 * `rid(userId, name)` makes a rid of that user for hand-written data (`name` in the
 * original's layout, `<tag>.name` in the cluster one).
 */
export function keys(prefix, { cluster = isCluster } = {}) {
  const ridPrefix = `${prefix}:rid:`
  return {
    cluster,
    rid: (userId, name) => (cluster ? `${userTag(userId)}.${name}` : name),
    ridKey(rid) {
      if (!cluster) return ridPrefix + rid
      const m = CLUSTER_RID.exec(rid)
      return m ? `${ridPrefix}{${m[1]}}.${m[2]}` : `${ridPrefix}{${rid}}`
    },
    userKey: (userId) => (cluster ? `${prefix}:user:{${userTag(userId)}}:rids` : `${prefix}:user:${userId}:rids`),
    deviceKey: (userId, deviceId) => (cluster ? `${prefix}:device:{${userTag(userId)}}:${deviceId}` : `${prefix}:device:${userId}:${deviceId}`),
    /** The bare rid of a rid key, or null. */
    ridOfKey(key) {
      if (!key.startsWith(ridPrefix) || key.length === ridPrefix.length) return null
      const rest = key.slice(ridPrefix.length)
      if (!cluster) return rest
      const m = /^\{([0-9a-fA-F]{16})\}\.(.+)$/s.exec(rest)
      return m ? `${m[1]}.${m[2]}` : null
    },
  }
}

/** The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag (the part inside
 * the first non-empty {...}, else the whole key), mod 16384. */
export function keySlot(key) {
  const bytes = Buffer.isBuffer(key) ? key : Buffer.from(key, 'utf8')
  let data = bytes
  const open = bytes.indexOf(0x7b)
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) data = bytes.subarray(open + 1, close)
  }
  let crc = 0
  for (const byte of data) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

/** Deletes every key under `prefix` (on every primary). */
export async function clearPrefix(client, prefix) {
  for (const { key } of await readKeys(client, prefix)) await client.del(key)
}

/** A prefix no other test uses, so tests share one server without seeing each other. */
export function uniquePrefix(name = 't') {
  return `${name}-${randomUUID().slice(0, 8)}`
}

/** `s` with a regular expression's special characters escaped, to match it literally. */
export function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
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
 * string, the XRANGE of a stream, null for other types. Streams with SCAN, the prefix matched literally.
 */
async function readNodeKeys(client, prefix, { millis = false } = {}) {
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
    else if (types[i] === 'stream') read.xrange(key, '-', '+')
    else read.get(key)
  })
  const contents = await read.exec()
  return keys.map((key, i) => ({
    key,
    type: types[i],
    expireAt: expiries[i],
    content: ['hash', 'set', 'string', 'stream'].includes(types[i]) ? contents[i][1] : null,
  }))
}

/** `readNodeKeys` of every primary (in cluster mode SCAN only sees one node's keys). */
export async function readKeys(client, prefix, options) {
  const perNode = await Promise.all(primaries(client).map((node) => readNodeKeys(node, prefix, options)))
  return perNode.flat().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** Every key under a prefix with its type, content and expiry, for before/after comparisons. */
export async function dump(client, prefix) {
  const out = {}
  for (const { key, type, expireAt, content } of await readKeys(client, prefix)) {
    const shaped =
      type === 'hash' ? Object.fromEntries(pairs(content)) : type === 'set' ? [...content].sort() : type === 'string' || type === 'stream' ? content : type
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until a new second begins and returns it. Deadlines are whole seconds taken from
 * `now`, so a session written at `now` with a one-second idle deadline lives only what is
 * left of the current second; starting on the boundary gives such a test the whole second. */
export async function startOfNextSecond() {
  await sleep(1000 - (Date.now() % 1000) + 5)
  return nowSeconds()
}

/** Settles a promise into { ok: true, value } or { ok: false, error }. */
export const settle = (promise) =>
  Promise.resolve(promise).then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  )

/** Retries `fn` until it resolves, for at most `ms`: a store must recover by itself. */
export async function eventually(fn, ms = 15_000) {
  const deadline = Date.now() + ms
  let last
  while (Date.now() < deadline) {
    try {
      return await fn()
    } catch (err) {
      last = err
      await sleep(50)
    }
  }
  throw new Error(`did not succeed within ${ms} ms: ${last?.code} ${last?.message}`)
}

/** Whether `client`'s server has functions (Redis 7, Valkey): the store then runs its
 * scripts as a function library (FCALL), else with EVALSHA. */
export async function hasFunctions(client) {
  const node = client instanceof Redis.Cluster ? primaries(client)[0] : client
  const info = await node.info('server')
  return Number(/(?:valkey|redis)_version:(\d+)/.exec(info)[1]) >= 7
}

/** The command a store's script call shows up as in MONITOR on `client`'s server. */
export async function scriptCommand(client) {
  return (await hasFunctions(client)) ? 'fcall' : 'evalsha'
}

const openssl = (dir, ...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })

/** A private CA for the TLS tests: ca.pem and ca.key in `dir`, valid for two days. */
export function makeCa(dir) {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=rss-test-ca')
}

/**
 * A certificate for `cn` signed by the CA in `dir`: `name`.pem and `name`.key, with the
 * x509 extension line given (e.g. subjectAltName=IP:127.0.0.1 for a server).
 */
export function signCertificate(dir, name, cn, extension) {
  writeFileSync(join(dir, `${name}.cnf`), `${extension}\n`)
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.cnf`,
  )
}

/**
 * A private CA in a new temporary directory (`dir`, removed after the file's tests), with a
 * server certificate for 127.0.0.1 and a client certificate signed by it. `serverFiles`:
 * the server's certificate, key and the CA, as files for redis-server; `clientFiles`: the
 * client's certificate and key; `tls`: cfg.tls with the CA and the client certificate, as
 * PEM text.
 */
export function makeTlsMaterial(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  after(() => rmSync(dir, { recursive: true, force: true }))
  makeCa(dir)
  signCertificate(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1')
  signCertificate(dir, 'client', 'session-store', 'extendedKeyUsage=clientAuth')
  const pem = (file) => readFileSync(join(dir, file), 'utf8')
  return {
    dir,
    serverFiles: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') },
    clientFiles: { cert: join(dir, 'client.pem'), key: join(dir, 'client.key') },
    tls: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') },
  }
}

/**
 * A throwaway redis-server that also listens with TLS, on a free port, with the server
 * certificate `signCertificate(dir, 'server', …)` made. With `authClients` it requires a
 * client certificate signed by the CA in `dir`. Resolves to { server, tlsPort }.
 */
export async function startTlsRedis(dir, { authClients = false } = {}) {
  const tlsPort = await freePort()
  const clients = authClients ? ['--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'yes'] : ['--tls-auth-clients', 'no']
  const files = ['--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key')]
  const server = await startRedis({ extraArgs: ['--tls-port', String(tlsPort), ...files, ...clients] })
  return { server, tlsPort }
}

/**
 * Runs a command with its output captured; resolves to { code, signal, stdout, stderr }.
 * Killed after `timeoutMs`; `onStdout(text, child)` sees the output as it comes.
 */
export function runChild(command, args, { cwd, env = process.env, timeoutMs = 20_000, detached = false, onStdout } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
      onStdout?.(stdout, child)
    })
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
