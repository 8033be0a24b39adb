// Data the parent seeds before a child runs (so both implementations start from the
// same bytes), and the checks made after it. Written in the original's data model.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './impls.mjs'

const P = 'auth'
const ridKey = (rid) => `${P}:rid:${rid}`
const userKey = (u) => `${P}:user:${u}:rids`

function sessionFields(userId, { status, absExpAt, now, deviceId = 'd1' }) {
  return [
    'userId',
    userId,
    'parentRid',
    '',
    'createdAt',
    String(now),
    'expAt',
    String(Math.min(absExpAt, now + 7 * 86400)),
    'absExpAt',
    String(absExpAt),
    'deviceId',
    deviceId,
    'uaHash',
    'ua',
    'ipHash',
    'ip',
    'status',
    status,
  ]
}

async function inBatches(redis, total, perBatch, add) {
  for (let start = 0; start < total; start += perBatch) {
    const pipe = redis.pipeline()
    for (let i = start; i < Math.min(total, start + perBatch); i++) add(pipe, i)
    const results = await pipe.exec()
    for (const [err] of results) if (err) throw err
  }
}

/**
 * gcOrphans data: `total` rid keys over `users` users, fixed timestamps (so the dataset,
 * and hence the server's DEBUG DIGEST, is the same for every run):
 *   1/2 live: active, indexed, expiring at absExpAt (in the future)
 *   1/4 used, past absExpAt, no expiry, still indexed (the original keeps used parents)
 *   1/4 index entries whose hash is missing
 */
export async function seedGc(redis, { total, users, now }) {
  const live = Math.floor(total / 2)
  const used = Math.floor(total / 4)
  await inBatches(redis, total, 5000, (pipe, i) => {
    const user = `g${i % users}`
    const key = ridKey(`gc-${String(i).padStart(7, '0')}`)
    if (i < live) {
      const absExpAt = now + 30 * 86400
      pipe.hset(key, ...sessionFields(user, { status: 'active', absExpAt, now }))
      pipe.expireat(key, absExpAt)
    } else if (i < live + used) {
      pipe.hset(key, ...sessionFields(user, { status: 'used', absExpAt: now - 86400, now: now - 40 * 86400 }))
    }
    pipe.sadd(userKey(user), key)
  })
  return { live, used, missing: total - live - used }
}

/** gcScope 'registry': the registry of gc's `users` (g0 ...), and the mark of a full pass. */
export async function seedRegistry(redis, users) {
  await inBatches(redis, users, 5000, (pipe, i) => pipe.sadd(`${P}:registry`, userKey(`g${i}`)))
  await redis.sadd(`${P}:registry`, '')
}

/** logoutAll data: `sessions` active sessions of one user, 10 devices. */
export async function seedLogoutAll(redis, { userId, sessions, now }) {
  const absExpAt = now + 30 * 86400
  await inBatches(redis, sessions, 5000, (pipe, i) => {
    const key = ridKey(`la-${String(i).padStart(6, '0')}`)
    const deviceId = `d${i % 10}`
    pipe.hset(key, ...sessionFields(userId, { status: 'active', absExpAt, now, deviceId }))
    pipe.expireat(key, absExpAt)
    pipe.sadd(userKey(userId), key)
    if (i >= sessions - 10) pipe.set(`${P}:device:${userId}:${deviceId}`, key, 'EXAT', absExpAt)
  })
  await redis.expireat(userKey(userId), absExpAt)
}

/** How many of the logoutAll sessions are tombstoned, and whether the index is gone. */
export async function checkLogoutAll(redis, { userId, sessions }) {
  const pipe = redis.pipeline()
  for (let i = 0; i < sessions; i++) pipe.hget(ridKey(`la-${String(i).padStart(6, '0')}`), 'status')
  const statuses = (await pipe.exec()).map(([, s]) => s)
  return {
    tombstoned: statuses.filter((s) => s === 'tombstoned').length,
    indexLeft: await redis.exists(userKey(userId)),
  }
}

/** The exact text the addon runs for a script: lua/prelude.lua + lua/<name>.lua. */
export function scriptText(name) {
  return `${readFileSync(join(ROOT, 'lua/prelude.lua'), 'utf8')}\nbegin(KEYS, ARGV)\n${readFileSync(join(ROOT, `lua/${name}.lua`), 'utf8')}`
}

/**
 * Rotation ceiling data: `count` active sessions named by redis-benchmark's 12-digit
 * __rand_int__ (000000000000 ...), over 100,000 users (small indexes, as the benchmark's
 * lanes have), bound to d1/ua/ip, indexed.
 */
export async function seedRotateParents(redis, { count, now }) {
  const absExpAt = now + 30 * 86400
  // One server-side loop per 10,000 sessions: seeding 500k over the wire would dominate.
  const seeder = `
    for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
      local key = 'auth:rid:' .. string.format('%012d', i)
      local user = 'r' .. (i % 100000)
      redis.call('HSET', key, 'userId', user, 'parentRid', '', 'createdAt', ARGV[3], 'expAt', ARGV[4],
        'absExpAt', ARGV[4], 'deviceId', 'd1', 'uaHash', 'ua', 'ipHash', 'ip', 'status', 'active')
      redis.call('EXPIREAT', key, ARGV[4])
      redis.call('SADD', 'auth:user:' .. user .. ':rids', key)
    end
    return 0`
  for (let start = 0; start < count; start += 10_000) {
    await redis.eval(seeder, 0, start, Math.min(count, start + 10_000) - 1, now, absExpAt)
  }
}
