// The package's behaviour under one JavaScript runtime (Node.js, Bun or Deno), loaded with
// `import` from a project that installed the packed package, against the real server
// REDIS_URL names. Prints `ok - …` / `not ok - …` for each check, then `# pass N` and
// `# fail N`. It never calls process.exit: the runner checks that it ends by itself.
//   <runtime> check.mjs      (deno run -A check.mjs)

import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { createRequire } from 'node:module'
import { createRedisStore } from 'redis-session-store-native'

const url = process.env.REDIS_URL
const prefix = `rt-${Math.random().toString(36).slice(2, 10)}`
const now = Math.floor(Date.now() / 1000)
const results = { pass: 0, fail: 0 }

async function check(name, body) {
  try {
    await body()
    results.pass++
    console.log(`ok - ${name}`)
  } catch (err) {
    results.fail++
    console.log(`not ok - ${name}\n${String(err?.stack ?? err).replace(/^/gm, '  # ')}`)
  }
}

/** The rejection of `promise`, or a failure when it resolves. */
async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

/** A loopback port nothing listens on. */
const closedPort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const store = createRedisStore({ url, prefix, absTtlSeconds: 3600 })

await check('import and require give the same createRedisStore', () => {
  const require = createRequire(import.meta.url)
  assert.equal(typeof createRedisStore, 'function')
  assert.equal(require('redis-session-store-native').createRedisStore, createRedisStore)
})

let login
let child
await check('a lineage: issue, rotate, replay refused as a replay', async () => {
  login = await store.issueInitial('alice', { now, deviceId: 'laptop', uaHash: 'ua', absTtlSeconds: 3600 })
  assert.match(login.rid, /^[0-9a-f-]{36}$/)
  assert.equal(login.absExp, now + 3600)
  const rotated = await store.verifyAndRotateRefresh({ rid: login.rid, now: now + 60, deviceId: 'laptop', uaHash: 'ua' })
  assert.equal(rotated.userId, 'alice')
  assert.equal(rotated.newRid.absExp, login.absExp)
  child = rotated.newRid.rid
  assert.equal((await store.getRid(login.rid)).status, 'used')
  const replay = await rejection(store.verifyAndRotateRefresh({ rid: login.rid, now: now + 120 }))
  assert.ok(replay instanceof Error)
  assert.equal(replay.message, 'rotate_fail:ERR_REPLAY')
  assert.equal(replay.code, 'ERR_REPLAY')
  assert.deepEqual(await store.scanRids('alice'), [child])
})

await check('error codes: unknown rid, binding mismatch, bad input as a TypeError that writes nothing', async () => {
  const unknown = await rejection(store.verifyAndRotateRefresh({ rid: '00000000-0000-4000-8000-000000000000', now }))
  assert.equal(unknown.code, 'ERR_NOT_FOUND')
  assert.equal(unknown.message, 'not_found')
  const binding = await rejection(store.verifyAndRotateRefresh({ rid: child, now: now + 180, deviceId: 'phone', uaHash: 'ua' }))
  assert.equal(binding.code, 'ERR_BINDING')
  const bad = await rejection(store.issueInitial('', { now: 'soon', absTtlSeconds: 3600 }))
  assert.ok(bad instanceof TypeError, `a TypeError, not ${bad?.constructor?.name}`)
  assert.equal(bad.code, 'ERR_INVALID_ARG')
  assert.equal(await store.getRid(child).then((h) => h.status), 'active', 'the binding mismatch ended nothing')
})

await check("a rejection's stack names the function that awaited the call", async () => {
  async function refreshFromTheCaller(rid) {
    return await store.verifyAndRotateRefresh({ rid, now: now + 240 })
  }
  const err = await rejection(refreshFromTheCaller(login.rid))
  assert.equal(err.code, 'ERR_REPLAY')
  assert.match(err.stack, /^Error: rotate_fail:ERR_REPLAY\n/)
  assert.match(err.stack, /refreshFromTheCaller/, `the stack names no caller:\n${err.stack}`)
})

await check('logout of one session, logout of a device, logout of all', async () => {
  const phone = await store.issueInitial('alice', { now, deviceId: 'phone', absTtlSeconds: 3600 })
  const tablet = await store.issueInitial('alice', { now, deviceId: 'tablet', absTtlSeconds: 3600 })
  const desk = await store.issueInitial('alice', { now, deviceId: 'desk', absTtlSeconds: 3600 })
  await store.logout(tablet.rid)
  assert.equal((await store.getRid(tablet.rid)).status, 'tombstoned')
  await store.logoutDevice('alice', 'phone')
  assert.equal((await store.getRid(phone.rid)).status, 'tombstoned')
  assert.deepEqual((await store.scanRids('alice')).sort(), [child, desk.rid].sort())
  await store.logoutAll('alice')
  assert.deepEqual(await store.scanRids('alice'), [])
  assert.equal((await store.getRid(desk.rid)).status, 'tombstoned')
  const replay = await rejection(store.verifyAndRotateRefresh({ rid: child, now: now + 300, deviceId: 'laptop', uaHash: 'ua' }))
  assert.equal(replay.code, 'ERR_REPLAY', 'a logged-out rid is refused as a replay')
})

await check('gc: a dry run and a real one keep sessions within their absolute expiry', async () => {
  const bob = await store.issueInitial('bob', { now, absTtlSeconds: 3600 })
  const dry = await store.gcOrphans({ dryRun: true })
  assert.equal(dry.dryRun, true)
  const report = await store.gcOrphans({ graceSeconds: 60 })
  for (const field of ['scannedUserSets', 'scannedRids', 'removedFromSets', 'addedToSets', 'deletedRidHashes', 'removedRids']) {
    assert.equal(typeof report[field], 'number', field)
  }
  assert.ok(report.scannedRids >= 6, `scanned ${report.scannedRids} session hashes`)
  assert.equal(report.deletedRidHashes, 0)
  assert.equal((await store.getRid(bob.rid)).status, 'active')
})

await check('an unreachable server is ERR_REDIS_UNAVAILABLE naming it; a closed store is ERR_STORE_CLOSED', async () => {
  const port = await closedPort()
  const away = createRedisStore({ url: `redis://127.0.0.1:${port}`, absTtlSeconds: 60, connectTimeoutMs: 500 })
  const err = await rejection(away.getRid('x'))
  assert.equal(err.code, 'ERR_REDIS_UNAVAILABLE')
  assert.ok(err.message.startsWith(`redis_unavailable: redis://127.0.0.1:${port}`), err.message)
  await away.close()
  const closed = await rejection(away.getRid('x'))
  assert.equal(closed.code, 'ERR_STORE_CLOSED')
})

await store.close()
// A store that is never closed does not keep the process alive either (the runner fails
// this file when it does not end by itself).
const leftOpen = createRedisStore({ url, prefix, absTtlSeconds: 60 })
await check('a store left open after a call', async () => assert.deepEqual(await leftOpen.scanRids('nobody'), []))
console.log(`# pass ${results.pass}\n# fail ${results.fail}`)
process.exitCode = results.fail ? 1 : 0
