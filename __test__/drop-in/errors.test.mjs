// What a rejection tells its reader: a stack naming the caller's own async functions, and
// for connection failures a code that says whether retrying can help, a plain message,
// and the server that was tried (never its password). Real redis-servers: one with a
// password, an ACL user and four databases, one plain server for TLS.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { startRedis, freePort } from '../../scripts/redis-server.mjs'
import { failOnUnhandledRejections, nowSeconds } from '../shared/helpers.mjs'

failOnUnhandledRejections()

const PASSWORD = 'pw-Zq8Vt3-secret'
const srv = await startRedis({ extraArgs: ['--requirepass', PASSWORD, '--databases', '4'] })
after(() => srv.stop())
const host = `127.0.0.1:${srv.port}`

const good = createRedisStore({ url: `redis://:${PASSWORD}@${host}/1`, prefix: 'err', absTtlSeconds: 600 })
after(() => good.close())
// A user that may not run scripts, for NOPERM.
await good.getRid('warm-up')
const { default: Redis } = await import('ioredis')
const admin = new Redis(`redis://:${PASSWORD}@${host}`)
after(() => admin.quit())
await admin.call('ACL', 'SETUSER', 'reader', 'on', '>reader-pw', '~*', '+@read', '-@scripting')

/** The rejection of `call` on a store made from `url`, and how long it took. */
async function failure(url, call = (s) => s.getRid('x'), extra = {}) {
  const store = createRedisStore({ url, absTtlSeconds: 60, ...extra })
  const started = Date.now()
  try {
    await call(store)
  } catch (err) {
    return { err, ms: Date.now() - started }
  } finally {
    await store.close()
  }
  assert.fail(`${url}: expected a rejection`)
}

function assertPlain(err) {
  assert.ok(err instanceof Error)
  assert.doesNotMatch(err.message, /Server\(|ResponseError|AuthenticationFailed|\bKind\b/, 'no Rust debug formatting')
  assert.ok(!err.message.includes(PASSWORD) && !err.message.includes('reader-pw') && !err.message.includes('wrong-pw'), err.message)
  assert.ok(!err.stack.includes(PASSWORD), 'nor in the stack')
}

test('a wrong password, a wrong user and a missing password are ERR_REDIS_AUTH, naming the server', async () => {
  for (const url of [`redis://:wrong-pw@${host}`, `redis://nobody:wrong-pw@${host}`, `redis://reader:wrong-pw@${host}`]) {
    const { err } = await failure(url)
    assert.equal(err.code, 'ERR_REDIS_AUTH', `${url}: ${err.message}`)
    assert.equal(err.message, `redis_auth: redis://${host} refused the username or password of the URL; correct the credentials (retrying cannot help)`)
    assertPlain(err)
  }
  const { err } = await failure(`redis://${host}`)
  assert.equal(err.code, 'ERR_REDIS_AUTH', err.message)
  assert.match(err.message, new RegExp(`^redis_auth: redis://${host} requires a password and the URL gives none; use redis://:password@host`))
  assertPlain(err)
})

test("a user without the permission to run scripts is ERR_REDIS_AUTH with the server's reason", async () => {
  const { err } = await failure(`redis://reader:reader-pw@${host}`, (s) => s.issueInitial('u', { now: nowSeconds() }))
  assert.equal(err.code, 'ERR_REDIS_AUTH', err.message)
  assert.match(
    err.message,
    new RegExp(`^redis_auth: the URL's user may not run a command the store needs on redis://${host}: .*evalsha.*; grant it in the server's ACL$`, 'i'),
  )
  assertPlain(err)
})

test('a database index the server does not have is ERR_REDIS_CONFIG in plain words', async () => {
  const { err } = await failure(`redis://:${PASSWORD}@${host}/9`)
  assert.equal(err.code, 'ERR_REDIS_CONFIG', err.message)
  assert.equal(
    err.message,
    `redis_config: redis://${host} has no database 9 (the number after the host in the URL): DB index is out of range; use a lower number or raise the server's \`databases\` setting`,
  )
  assertPlain(err)
  // The same store settings with a database the server has work.
  assert.equal(await good.getRid('none'), null)
})

test('rediss:// against a server without TLS says so', async () => {
  const plain = await startRedis()
  after(() => plain.stop())
  const { err } = await failure(`rediss://127.0.0.1:${plain.port}`, undefined, { commandTimeoutMs: 300, connectTimeoutMs: 300 })
  // A plain server either waits for the end of the handshake "line" (a timeout) or answers
  // it with an error that is no TLS record (a refused connection): the hint comes with both.
  assert.ok(['ERR_REDIS_TIMEOUT', 'ERR_REDIS_UNAVAILABLE'].includes(err.code), `${err.code}: ${err.message}`)
  assert.match(err.message, new RegExp(`rediss://127\\.0\\.0\\.1:${plain.port}.*; if that port does not speak TLS, use a redis:// URL$`))
  assertPlain(err)
})

test('connection errors name the server tried, never the password', async () => {
  const port = await freePort()
  const { err } = await failure(`redis://admin:${PASSWORD}@127.0.0.1:${port}/2`)
  assert.equal(err.code, 'ERR_REDIS_UNAVAILABLE')
  assert.match(err.message, new RegExp(`^redis_unavailable: redis://127\\.0\\.0\\.1:${port}: .*refused`, 'i'))
  assertPlain(err)
  const socket = await failure(`unix:///tmp/rss-no-such-${port}.sock`)
  assert.equal(socket.err.code, 'ERR_REDIS_UNAVAILABLE')
  assert.match(socket.err.message, new RegExp(`^redis_unavailable: unix:///tmp/rss-no-such-${port}\\.sock: `))
})

// ------------------------------------------------------------------- stacks

async function refreshTokenHandler(rid) {
  return await good.verifyAndRotateRefresh({ rid, now: nowSeconds() })
}
async function loginRoute(rid) {
  return await refreshTokenHandler(rid)
}

test("a rejection carries a stack through the caller's async functions, with its message and code unchanged", async () => {
  const err = await loginRoute('no-such-rid').catch((e) => e)
  assert.equal(err.message, 'not_found')
  assert.equal(err.code, 'ERR_NOT_FOUND')
  assert.ok(err instanceof Error)
  const frames = err.stack.split('\n')
  assert.equal(frames[0], 'Error: not_found')
  assert.match(err.stack, /\n {4}at async refreshTokenHandler \(.*errors\.test\.mjs:\d+:\d+\)\n {4}at async loginRoute \(.*errors\.test\.mjs:\d+:\d+\)/)
  assert.ok(!err.stack.includes('promised.js'), `no frame of the wrapper itself:\n${err.stack}`)

  // A replay, bad input (a TypeError) and a connection failure get the caller's frames too.
  const { rid } = await good.issueInitial('stack-user', { now: nowSeconds() })
  await refreshTokenHandler(rid)
  const replay = await loginRoute(rid).catch((e) => e)
  assert.equal(replay.message, 'rotate_fail:ERR_REPLAY')
  assert.match(replay.stack, /^Error: rotate_fail:ERR_REPLAY\n {4}at async refreshTokenHandler /)

  const badInput = await (async function issueWithMilliseconds() {
    return await good.issueInitial('stack-user', { now: Date.now() })
  })().catch((e) => e)
  assert.ok(badInput instanceof TypeError)
  assert.equal(badInput.code, 'ERR_INVALID_ARG')
  assert.match(badInput.stack, /^TypeError: input\.now must be epoch seconds, not milliseconds.*\n {4}at async issueWithMilliseconds /)

  const down = createRedisStore({ url: `redis://127.0.0.1:${await freePort()}`, absTtlSeconds: 60 })
  const unreachable = await (async function readSession() {
    return await down.getRid('x')
  })().catch((e) => e)
  await down.close()
  assert.equal(unreachable.code, 'ERR_REDIS_UNAVAILABLE')
  assert.match(unreachable.stack, /\n {4}at async readSession /)
})

test("an error thrown by the caller's own code keeps its own stack", async () => {
  const boom = new Error('boom')
  const original = boom.stack
  const err = await good
    .issueInitial('u', {
      get now() {
        throw boom
      },
    })
    .catch((e) => e)
  assert.equal(err, boom)
  assert.equal(err.stack, original)
})
