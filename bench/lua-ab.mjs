// `node bench/lua-ab.mjs <tree> [<tree> ...]`: the server time of the Lua scripts of
// several checkouts of this repository (each tree's lua/), side by side on one Redis.
// Each tree's scripts are loaded as a function library of their own, as the store loads
// them (the prelude, then each script as a function that calls begin first); the trees
// take turns round by round, with the original's rotate.lua (EVALSHA) after them; a figure
// is INFO commandstats µs per call, median (min-max) over the rounds. A baseline tree
// comes from `git worktree add /tmp/base <commit>`.
//
//   issue, rotate: 10,000 sessions issued, then each rotated once, at 16 in flight; no
//     option, the original's layout, a device id (the original: issue is its rotate.lua
//     without a parent, rotate the same script with one; its client's HGETALL before a
//     rotation is not counted)
//   logout_all: 10,000 sessions of one user over 10 devices, ended in batches of 256;
//     µs per session (no original: it runs no script there)
//   issue at the limit: maxSessionsPerUser 50, 10,000 issues over 100 users, so that from
//     the 50th of a user on each issue ends that user's oldest session (no original)
//
//   floor: the commands this package's issue, rotate and logout_all run in those
//     workloads, and nothing else: no check before the first write, no option, no
//     validation beyond what picks the reply. What a tree costs above the floor is its
//     checks and its Lua; what the floor costs above the original is the contract's extra
//     commands (the index expiry that only grows, the parent leaving the index).
//
//   BENCH_ROUNDS=n   rounds (default 5)
//   REDIS_URL        a server to use (default: a throwaway one); it is flushed

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { join, resolve } from 'node:path'
import { startRedis } from '../scripts/redis-server.mjs'
import { ROOT } from './impls.mjs'
import { median } from './stats.mjs'

const Redis = createRequire(import.meta.url)('ioredis')
const ROUNDS = Number.parseInt(process.env.BENCH_ROUNDS ?? '5', 10)
const CALLS = 10_000
const INFLIGHT = 16
const SESSIONS = 10_000
const LAYOUT = ['auth:rid:', 'auth:user:', ':rids', 'auth:device:', 'standalone']
const LIMIT = 50
const LIMITED_USERS = 100
const trees = process.argv.slice(2).map((tree) => resolve(tree))
if (trees.length === 0) {
  console.error('usage: node bench/lua-ab.mjs <tree> [<tree> ...]   (each a checkout of this repository)')
  process.exit(2)
}

const server = process.env.REDIS_URL ? null : await startRedis()
const redis = new Redis(process.env.REDIS_URL ?? server.url)

/** Loads a tree's scripts as library `lib`; its functions are `${lib}_${script}`. */
async function loadTree(tree, lib) {
  const read = (name) => readFileSync(join(tree, 'lua', `${name}.lua`), 'utf8')
  let code = `#!lua name=${lib}\n${read('prelude')}\n`
  for (const name of ['issue', 'rotate', 'logout_all']) {
    code += `redis.register_function{ function_name = '${lib}_${name}', callback = function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n${read(name)}\nend }\n`
  }
  await redis.function('LOAD', 'REPLACE', code)
}

/**
 * The floor library: as a tree's library, with the same KEYS and ARGV, in the original's
 * layout ("auth:" keys) and for these workloads only (a device id, Redis 7 or later).
 */
const FLOOR = `#!lua name=floor
redis.register_function('floor_issue', function(KEYS, ARGV)
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'ERR_COLLISION' end
  local ttl = redis.call('PTTL', KEYS[2])
  redis.call('SADD', KEYS[2], KEYS[1])
  if ttl == -2 then redis.call('EXPIREAT', KEYS[2], ARGV[9]) else redis.call('EXPIREAT', KEYS[2], ARGV[9], 'GT') end
  redis.call('HSET', KEYS[1], 'userId', ARGV[6], 'parentRid', '', 'createdAt', ARGV[7], 'expAt', ARGV[8],
    'absExpAt', ARGV[9], 'deviceId', ARGV[10], 'uaHash', ARGV[11], 'ipHash', ARGV[12], 'status', 'active')
  redis.call('EXPIREAT', KEYS[1], ARGV[9])
  redis.call('SET', KEYS[3], KEYS[1], 'EXAT', ARGV[9])
  return 'OK'
end)
redis.register_function('floor_rotate', function(KEYS, ARGV)
  local flat = redis.call('HGETALL', KEYS[1])
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  if h.userId == nil then return { 'not_found' } end
  if redis.call('EXISTS', KEYS[2]) == 1 then return { 'ERR_COLLISION' } end
  if h.status ~= 'active' then return { 'ERR_REPLAY' } end
  local index = 'auth:user:' .. h.userId .. ':rids'
  local abs = tonumber(h.absExpAt)
  redis.call('SREM', index, KEYS[1])
  redis.call('HSET', KEYS[1], 'status', 'used')
  redis.call('HSET', KEYS[2], 'userId', h.userId, 'parentRid', ARGV[7], 'createdAt', ARGV[6],
    'expAt', math.min(tonumber(ARGV[6]) + 7 * 86400, abs), 'absExpAt', h.absExpAt, 'deviceId', ARGV[8],
    'uaHash', ARGV[9], 'ipHash', ARGV[10], 'status', 'active')
  redis.call('EXPIREAT', KEYS[2], abs)
  redis.call('PTTL', index)
  redis.call('SADD', index, KEYS[2])
  redis.call('EXPIREAT', index, abs, 'GT')
  redis.call('SET', 'auth:device:' .. h.userId .. ':' .. ARGV[8], KEYS[2], 'EXAT', abs)
  return { 'OK', h.userId, h.absExpAt }
end)
redis.register_function('floor_logout_all', function(KEYS, ARGV)
  local batch = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[6]))
  local devices = {}
  for _, key in ipairs(batch) do
    local f = redis.call('HMGET', key, 'userId', 'deviceId', 'status')
    redis.call('HSET', key, 'status', 'tombstoned')
    local device = 'auth:device:' .. f[1] .. ':' .. f[2]
    if devices[device] == nil then devices[device] = redis.call('GET', device) end
    if devices[device] == key then
      redis.call('DEL', device)
      devices[device] = false
    end
  end
  local remaining = redis.call('SCARD', KEYS[1]) - #batch
  if #batch > 0 then redis.call('SREM', KEYS[1], unpack(batch)) end
  return { remaining, #batch }
end)
`

/** Server µs per call of `command` (fcall or evalsha) while `work` runs. */
async function serverTime(command, work) {
  await redis.config('RESETSTAT')
  await work()
  const stats = new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`).exec(await redis.info('commandstats'))
  return { calls: Number(stats[1]), usec: Number(stats[2]) }
}

async function inFlight(calls, call) {
  let next = 0
  const lane = async () => {
    while (next < calls) await call(next++)
  }
  await Promise.all(Array.from({ length: INFLIGHT }, lane))
}

const now = Math.floor(Date.now() / 1000)
const expect = (ok, reply) => {
  if (!ok) throw new Error(`unexpected reply ${JSON.stringify(reply)}`)
}

async function issueAndRotate(lib) {
  const rids = []
  const issue = await serverTime('fcall', () =>
    inFlight(CALLS, async (i) => {
      const rid = randomUUID()
      rids[i] = rid
      const keys = [`auth:rid:${rid}`, `auth:user:u${i}:rids`, `auth:device:u${i}:d`]
      const reply = await redis.fcall(`${lib}_issue`, 3, ...keys, ...LAYOUT, `u${i}`, now, now + 3600, now + 86400, 'd', '', '', '')
      expect(reply === 'OK', reply)
    }),
  )
  const rotate = await serverTime('fcall', () =>
    inFlight(CALLS, async (i) => {
      const keys = [`auth:rid:${rids[i]}`, `auth:rid:${randomUUID()}`, '', '']
      const reply = await redis.fcall(`${lib}_rotate`, 4, ...keys, ...LAYOUT, now + 1, rids[i], 'd', '', '', '')
      expect(reply[0] === 'OK', reply)
    }),
  )
  return { issue: issue.usec / issue.calls, rotate: rotate.usec / rotate.calls }
}

async function original() {
  redis.defineCommand('originalRotate', {
    numberOfKeys: 4,
    lua: readFileSync(join(ROOT, 'node_modules/@devcoons/redis-session-store/src/lua/rotate.lua'), 'utf8'),
  })
  const rids = []
  const keys = (i, rid) => [`o:rid:${rid ?? '__none__'}`, `o:rid:${rids[i]}`, `o:user:u${i}:rids`, `o:device:u${i}:d`]
  const issue = await serverTime('evalsha', () =>
    inFlight(CALLS, async (i) => {
      rids[i] = randomUUID()
      const reply = await redis.originalRotate(...keys(i), now, `u${i}`, 'd', '', '', now + 3600, now + 86400, '', '1')
      expect(reply === 'OK', reply)
    }),
  )
  const rotate = await serverTime('evalsha', () =>
    inFlight(CALLS, async (i) => {
      const parent = rids[i]
      rids[i] = randomUUID()
      const reply = await redis.originalRotate(...keys(i, parent), now + 1, `u${i}`, 'd', '', '', now + 3600, now + 86400, parent, '0')
      expect(reply === 'OK', reply)
    }),
  )
  return { issue: issue.usec / issue.calls, rotate: rotate.usec / rotate.calls }
}

async function logoutAll(lib) {
  const abs = now + 30 * 86400
  const pipe = redis.pipeline()
  for (let i = 0; i < SESSIONS; i++) {
    const key = `auth:rid:la-${i}`
    const fields = {
      userId: 'big',
      parentRid: '',
      createdAt: now,
      expAt: now + 3600,
      absExpAt: abs,
      deviceId: `d${i % 10}`,
      uaHash: '',
      ipHash: '',
      status: 'active',
    }
    pipe.hset(key, fields).expireat(key, abs).sadd('auth:user:big:rids', key)
    if (i >= SESSIONS - 10) pipe.set(`auth:device:big:d${i % 10}`, key, 'EXAT', abs)
  }
  await pipe.exec()
  const { usec } = await serverTime('fcall', async () => {
    let left = 1
    while (left > 0) [left] = await redis.fcall(`${lib}_logout_all`, 1, 'auth:user:big:rids', ...LAYOUT, 256, 0)
  })
  return usec / SESSIONS
}

async function issueAtLimit(lib) {
  const layout = [...LAYOUT.slice(0, 4), `standalone;max=${LIMIT}`]
  const { calls, usec } = await serverTime('fcall', () =>
    inFlight(CALLS, async (i) => {
      const user = `l${i % LIMITED_USERS}`
      const keys = [`auth:rid:${randomUUID()}`, `auth:user:${user}:rids`, `auth:device:${user}:d`]
      const reply = await redis.fcall(`${lib}_issue`, 3, ...keys, ...layout, user, now, now + 3600, now + 86400, 'd', '', '', '')
      expect(reply === 'OK' || reply[0] === 'OK', reply)
    }),
  )
  return usec / calls
}

const names = [...trees, 'floor', 'original']
const figures = Object.fromEntries(names.map((name) => [name, { issue: [], rotate: [], logout_all: [], at_limit: [] }]))
// The throwaway server is stopped whatever happens: it would outlive this process.
try {
  for (const [i, tree] of trees.entries()) await loadTree(tree, `ab${i}`)
  await redis.function('LOAD', 'REPLACE', FLOOR)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, name] of names.entries()) {
      await redis.flushdb()
      const lib = name === 'floor' ? 'floor' : `ab${i}`
      const { issue, rotate } = name === 'original' ? await original() : await issueAndRotate(lib)
      figures[name].issue.push(issue)
      figures[name].rotate.push(rotate)
      if (name !== 'original') figures[name].logout_all.push(await logoutAll(lib))
      if (name !== 'original' && name !== 'floor') {
        await redis.flushdb()
        figures[name].at_limit.push(await issueAtLimit(lib))
      }
    }
  }
  await redis.flushdb()
} finally {
  redis.disconnect()
  await server?.stop()
}

const cell = (xs) => (xs.length === 0 ? '-' : `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`)
console.log(`${ROUNDS} rounds, µs per call (logout_all: per session), median (min-max)`)
console.log(`| tree | issue | rotate | logout_all | issue at the limit (${LIMIT}) |\n|---|---:|---:|---:|---:|`)
for (const name of names) {
  const f = figures[name]
  console.log(`| ${name} | ${cell(f.issue)} | ${cell(f.rotate)} | ${cell(f.logout_all)} | ${cell(f.at_limit)} |`)
}
