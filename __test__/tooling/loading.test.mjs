// The package loads from CommonJS and ESM, and a Node process that is done exits by itself.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisUrl } from '../shared/helpers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const url = await redisUrl()

function node(args, timeout = 15_000) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout, env: { ...process.env, REDIS_URL: url } })
}

test('require() from CommonJS', () => {
  const r = node(['-e', "const m = require('./'); console.log(typeof m.createRedisStore)"])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'function')
})

test('import from ESM, named and default', () => {
  const r = node([
    '--input-type=module',
    '-e',
    "import d, { createRedisStore } from 'redis-session-store-native'; console.log(typeof createRedisStore, d.createRedisStore === createRedisStore)",
  ])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'function true')
})

test('NAPI_RS_NATIVE_LIBRARY_PATH names the binary that loads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rss-binary-'))
  const copy = join(dir, 'own-build.node')
  copyFileSync(
    join(
      root,
      readdirSync(root).find((f) => f.endsWith('.node')),
    ),
    copy,
  )
  const loaded = "console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node')).join(','))"
  const r = spawnSync(process.execPath, ['-e', `require('./'); ${loaded}`], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: copy },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), copy)
  rmSync(dir, { recursive: true })
})

test('a process with an idle store exits by itself', () => {
  const script = `
    const { createRedisStore } = require('./')
    const store = createRedisStore({ url: process.env.REDIS_URL, prefix: 'exit-test', absTtlSeconds: 60 })
    store.issueInitial('u', { now: Math.floor(Date.now() / 1000) })
      .then((r) => store.getRid(r.rid))
      .then((h) => console.log(h.status))`
  const started = Date.now()
  const r = node(['-e', script], 10_000)
  assert.equal(r.error, undefined, 'the process did not exit by itself')
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'active')
  assert.ok(Date.now() - started < 10_000)
})

test('a process whose store never connected exits by itself', () => {
  const r = node(['-e', "require('./').createRedisStore({ url: 'redis://127.0.0.1:1', absTtlSeconds: 60 }); console.log('ok')"], 10_000)
  assert.equal(r.error, undefined)
  assert.equal(r.stdout.trim(), 'ok')
})
