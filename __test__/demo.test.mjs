// Smoke test of `npm run demo`: it runs to the end against a real Redis and prints the
// lineage tree it built (drawn by the CLI's renderer).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { redisUrl } from './helpers.mjs'

const url = await redisUrl()
const root = fileURLToPath(new URL('..', import.meta.url))

test('npm run demo tells the story and ends with the lineage tree', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const env = { ...process.env, REDIS_URL: url }
  delete env.FORCE_COLOR
  const { code, stdout, stderr } = await new Promise((resolve, reject) => {
    const child = spawn(npm, ['run', '--silent', 'demo'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (c) => {
      clearTimeout(timer)
      resolve({ code: c, stdout: out, stderr: err })
    })
  })
  assert.equal(code, 0, stderr + stdout)
  assert.match(stdout, /The store refuses it: rotate_fail:ERR_REPLAY/)
  assert.match(stdout, /logoutDevice\("alice", "phone"\) ends both phone sessions/)
  assert.match(stdout, /gcOrphans scanned 1 user index and 5 session hashes/)
  // The tree: three sessions of one lineage, the replayed rid and the active leaf marked.
  const tree = stdout.slice(stdout.indexOf('Lineage of user alice'))
  assert.match(tree, /^Lineage of user alice: 3 sessions \(2 used, 1 active\)$/m)
  assert.match(tree, /^ {3}○ [0-9a-f-]{36} {2}used {2}◀ inspected$/m)
  assert.match(tree, /^ {3}└─○ [0-9a-f-]{36} {2}used$/m)
  assert.match(tree, /^ {5}└─● [0-9a-f-]{36} {2}active {2}◀ active leaf$/m)
  assert.match(tree, /presenting it again is a replay/)
  assert.ok(!stdout.includes('\x1b['), 'no colour when stdout is not a TTY')
})
