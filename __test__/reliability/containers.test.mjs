// Faults a container makes easy, and the container machinery itself. Run by the container
// targets (REDIS_CONTAINER_IMAGE names the image, REDIS_SERVER_KIND its kind):
// - a server paused mid-call (a hung server): calls reject with a timeout, none hangs, the
//   store recovers after unpause, and every lineage is either as it was or rotated whole;
// - a server container stopped and started again on the same port, without persistence
//   (the dataset comes back empty) and with an AOF (it comes back whole);
// - the image choice never pulls when no image is named and the engine has one;
// - no container outlives a test file, also when a test fails, and what a killed test
//   left is found by its label and removed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRedisStore } from '../../index.mjs'
import { startRedis } from '../../scripts/redis-server.mjs'
import { engine, ensureLocalImage, localImage, officialImage, removeRunContainers, runContainers } from '../../scripts/containers.mjs'
import { failOnUnhandledRejections, nowSeconds, settle, uniquePrefix } from '../shared/helpers.mjs'

failOnUnhandledRejections()

const IMAGE = process.env.REDIS_CONTAINER_IMAGE
const KIND = process.env.REDIS_SERVER_KIND
if (!IMAGE || !KIND)
  throw new Error('containers.test.mjs runs against containers: set REDIS_CONTAINER_IMAGE and REDIS_SERVER_KIND (node scripts/test.mjs container-redis-7 does)')
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TIMEOUT_MS = 300

/** A container of this run's image, removed after test `t`. */
async function serverContainer(t, extraArgs = []) {
  const server = await startRedis({ extraArgs })
  t.after(() => server.stop())
  assert.equal(server.image, IMAGE, 'startRedis gives a container of REDIS_CONTAINER_IMAGE')
  return server
}

function storeOn(t, server, prefix) {
  const s = createRedisStore({ url: server.url, prefix, absTtlSeconds: 3600, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: TIMEOUT_MS })
  t.after(() => s.close())
  return s
}

test('a server paused mid-call: calls reject with a timeout, the store recovers after unpause, no lineage is half-rotated', async (t) => {
  const server = await serverContainer(t)
  const store = storeOn(t, server, uniquePrefix('paused'))
  const now = nowSeconds()
  const users = Array.from({ length: 20 }, (_, i) => `paused-${i}`)
  const first = await Promise.all(users.map((u) => store.issueInitial(u, { now, absTtlSeconds: 3600 })))

  // Each lineage is rotated over and over until a rotation fails; the server is frozen
  // while they run, so calls are on their way when it stops answering.
  let rotations = 0
  const lineages = first.map(async ({ rid }) => {
    let current = rid
    for (;;) {
      const outcome = await settle(store.verifyAndRotateRefresh({ rid: current, now }))
      if (!outcome.ok) return { current, error: outcome.error, failedAt: Date.now() }
      current = outcome.value.newRid.rid
      rotations++
    }
  })
  while (rotations < 100) await new Promise((r) => setTimeout(r, 5))
  await server.pause()
  const pausedAt = Date.now()
  const ends = await Promise.all(lineages)
  for (const { error, failedAt } of ends) {
    assert.equal(error.code, 'ERR_REDIS_TIMEOUT', error.message)
    assert.match(error.message, new RegExp(`no reply within ${TIMEOUT_MS} ms`))
    assert.ok(failedAt - pausedAt < 10 * TIMEOUT_MS + 2000, `a call ended ${failedAt - pausedAt} ms after the pause, not after the command timeout`)
  }

  // A call made while it is frozen times out too.
  const during = await settle(store.getRid(first[0].rid))
  assert.equal(during.ok, false)
  assert.equal(during.error.code, 'ERR_REDIS_TIMEOUT')

  await server.unpause()
  // Each lineage is whole: exactly one live token, which rotates on. The rotation that timed
  // out is either not done (the token it was given is the live one) or done whole (the live
  // one is its child, and the token it was given no longer rotates).
  for (const [i, user] of users.entries()) {
    const { current } = ends[i]
    const live = await store.scanRids(user)
    assert.equal(live.length, 1, `${user} has exactly one live token: ${live}`)
    const record = await store.getRid(live[0])
    assert.equal(record.userId, user)
    assert.equal(record.status, 'active')
    if (live[0] !== current) {
      assert.equal(record.parentRid, current, 'the live token is the child of the one the timed-out rotation was given')
      const replay = await settle(store.verifyAndRotateRefresh({ rid: current, now }))
      assert.equal(replay.ok, false, 'the rotated-out token no longer rotates')
    }
    const next = await store.verifyAndRotateRefresh({ rid: live[0], now })
    assert.equal(next.userId, user)
  }
})

test('a server container stopped and started again on the same port, without persistence: calls fail clearly while it is down, then the store works on the empty dataset', async (t) => {
  const server = await serverContainer(t)
  const store = storeOn(t, server, uniquePrefix('restart-empty'))
  const now = nowSeconds()
  const before = await store.issueInitial('restart-empty', { now, absTtlSeconds: 3600 })

  await server.kill('SIGTERM')
  const down = await settle(store.verifyAndRotateRefresh({ rid: before.rid, now }))
  assert.equal(down.ok, false)
  assert.match(down.error.code, /^ERR_REDIS_(UNAVAILABLE|TIMEOUT)$/, down.error.message)

  await server.restart()
  assert.equal(server.url, `redis://127.0.0.1:${server.port}`)
  const gone = await settle(eventuallyAnswered(() => store.verifyAndRotateRefresh({ rid: before.rid, now })))
  assert.equal(gone.ok, false)
  assert.equal(gone.error.code, 'ERR_NOT_FOUND', 'the dataset came back empty')
  const fresh = await store.issueInitial('restart-empty', { now, absTtlSeconds: 3600 })
  assert.equal((await store.verifyAndRotateRefresh({ rid: fresh.rid, now })).userId, 'restart-empty')
})

test('a server container stopped and started again on the same port, with an AOF: the lineage comes back and rotates on', async (t) => {
  const server = await serverContainer(t, ['--appendonly', 'yes', '--appendfsync', 'always'])
  const store = storeOn(t, server, uniquePrefix('restart-aof'))
  const now = nowSeconds()
  const issued = await store.issueInitial('restart-aof', { now, absTtlSeconds: 3600 })
  const rotated = await store.verifyAndRotateRefresh({ rid: issued.rid, now })

  await server.kill('SIGKILL')
  await server.restart()
  const next = await eventuallyAnswered(() => store.verifyAndRotateRefresh({ rid: rotated.newRid.rid, now }))
  assert.equal(next.userId, 'restart-aof')
  const replay = await settle(store.verifyAndRotateRefresh({ rid: issued.rid, now }))
  assert.equal(replay.ok, false)
  assert.equal(replay.error.code, 'ERR_REPLAY', 'the rotation before the restart was kept')
})

/** `call()` until it is answered by the server (a connection error or a timeout is retried
 * for a few seconds, while the store reconnects); its outcome then. */
async function eventuallyAnswered(call) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const outcome = await settle(call())
    const unanswered = !outcome.ok && /^ERR_REDIS_(UNAVAILABLE|TIMEOUT)$/.test(outcome.error.code)
    if (!unanswered || Date.now() > deadline) {
      if (outcome.ok) return outcome.value
      throw outcome.error
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The environment of a child node process: this one's with `extra`, less what would make
 * a `node --test` child report to this test run instead of printing its own results. */
function childEnv(extra) {
  const env = { ...process.env, ...extra }
  delete env.NODE_TEST_CONTEXT
  return env
}

/** A child node process, its output and exit code. */
function node(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** A proxy of the engine's socket that records every API request (method and path). */
async function recordingEngineProxy(t) {
  const { docker } = await engine()
  const upstream = docker.modem.socketPath
  assert.ok(typeof upstream === 'string', 'the engine is on a unix socket')
  const dir = mkdtempSync(join(tmpdir(), 'rss-engine-proxy-'))
  const path = join(dir, 'docker.sock')
  const requests = []
  const proxy = createServer((socket) => {
    const up = createConnection(upstream)
    socket.on('data', (chunk) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.[01]\r$/gm)) requests.push(`${m[1]} ${m[2]}`)
    })
    socket.pipe(up).pipe(socket)
    // Either side gone ends the other (the engine keeps a half-closed connection open).
    socket.on('close', () => up.destroy())
    up.on('close', () => socket.destroy())
    socket.on('error', () => up.destroy())
    up.on('error', () => socket.destroy())
  })
  await new Promise((resolve) => proxy.listen(path, resolve))
  t.after(() => {
    proxy.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { host: `unix://${path}`, requests }
}

const CHOOSE_AND_START = `
  import { imageFor, startServerContainer } from './scripts/containers.mjs'
  import { freePort } from './scripts/redis-server.mjs'
  const { image, source } = await imageFor(process.env.REDIS_SERVER_KIND)
  const server = await startServerContainer({ kind: process.env.REDIS_SERVER_KIND, image, port: await freePort() })
  await server.stop()
  console.log(JSON.stringify({ image, source }))
`

test('with no image named and one the engine has, the image is chosen and started without any pull', async (t) => {
  const { host, requests } = await recordingEngineProxy(t)
  // The image this kind runs when nothing is named: the official one when the engine has
  // it, else the one built here, which the engine has by now.
  const { client, tc } = await engine()
  const official = await client.image.exists(tc.ImageName.fromString(officialImage(KIND)))
  const expected = official ? { image: officialImage(KIND), source: 'official' } : { image: localImage(KIND), source: 'built here' }
  if (!official) await ensureLocalImage(KIND)
  const env = { DOCKER_HOST: host, REDIS_IMAGE: '', VALKEY_IMAGE: '', RSS_CONTAINER_RUN: `nopull-${process.pid}` }
  const r = await node(['--input-type=module', '-e', CHOOSE_AND_START], env)
  assert.equal(r.code, 0, r.output)
  const chosen = JSON.parse(r.output.trim().split('\n').pop())
  assert.deepEqual(chosen, expected)
  assert.ok(
    requests.some((r) => /^POST \S*\/containers\/create/.test(r)),
    `the child talked to the engine through the proxy: ${requests.join(', ')}`,
  )
  const pulls = requests.filter((r) => /^POST \S*\/images\/create\?\S*fromImage=/.test(r))
  assert.deepEqual(pulls, [], 'no image was pulled')
  assert.equal((await runContainers(env.RSS_CONTAINER_RUN)).length, 0)
})

test('REDIS_IMAGE / VALKEY_IMAGE, when set, is the image run', async (t) => {
  const { docker } = await engine()
  const alias = `redis-session-store-test/chosen-${process.pid}:${KIND}`
  const [repo, tag] = alias.split(':')
  await docker.getImage(IMAGE).tag({ repo, tag })
  t.after(() => docker.getImage(alias).remove())
  const variable = KIND.startsWith('valkey') ? 'VALKEY_IMAGE' : 'REDIS_IMAGE'
  const r = await node(['--input-type=module', '-e', CHOOSE_AND_START], { [variable]: alias, RSS_CONTAINER_RUN: `chosen-${process.pid}` })
  assert.equal(r.code, 0, r.output)
  assert.deepEqual(JSON.parse(r.output.trim().split('\n').pop()), { image: alias, source: variable })
})

test('no container outlives a test file whose test fails', async () => {
  const run = `failing-${process.pid}`
  const r = await node(['--test', '--test-reporter=tap', '__test__/fixtures/container-failing.mjs'], { RSS_CONTAINER_RUN: run })
  assert.notEqual(r.code, 0, 'the fixture test failed')
  assert.match(r.output, /^# fail 1$/m, r.output)
  assert.match(r.output, /started container [0-9a-f]{12}/, 'the fixture did start a container')
  assert.deepEqual(await runContainers(run), [], 'its container was removed')
})

test('what a killed test process left behind is found by its run label and removed', async () => {
  const run = `killed-${process.pid}`
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `${CHOOSE_AND_START.replace('await server.stop()', "console.log('up'); await new Promise(() => {})")}`],
    {
      cwd: ROOT,
      env: childEnv({ RSS_CONTAINER_RUN: run }),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  await new Promise((resolve) => child.stdout.on('data', (d) => String(d).includes('up') && resolve()))
  child.kill('SIGKILL')
  await new Promise((resolve) => child.on('close', resolve))
  assert.equal((await runContainers(run)).length, 1, 'the killed process left its container running')
  assert.equal(await removeRunContainers(run), 1)
  assert.deepEqual(await runContainers(run), [])
})
