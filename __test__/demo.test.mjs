// `npm run demo` against a real Redis: the story it tells holds (a replay refused, the
// phone's sessions and only those ended, nothing collected early, the lineage tree drawn
// from the replayed rid to the active leaf), checked in its output and in the data it
// leaves.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { redisUrl, rawClient } from './helpers.mjs'

const url = await redisUrl()
const root = fileURLToPath(new URL('..', import.meta.url))

test('npm run demo tells the story it shows: rotation, a refused replay, logoutDevice, gc and the lineage tree', async () => {
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
  assert.ok(!stdout.includes('\x1b['), 'no colour when stdout is not a TTY')
  const prefix = /key prefix "([^"]+)"/.exec(stdout)?.[1]
  const [login, first, second] = [/issues refresh token (\w{8})…/, /replaced by (\w{8})…/, /the laptop now holds (\w{8})…/].map((re) => re.exec(stdout)?.[1])
  const [phone1, phone2] = /Two logins on the phone \((\w{8})…, (\w{8})…\)/.exec(stdout)?.slice(1) ?? []
  assert.ok(prefix && login && first && second && phone1 && phone2, stdout)
  assert.equal(new Set([login, first, second, phone1, phone2]).size, 5, 'five distinct sessions')

  // The replayed token is refused as a replay, not accepted and not unknown.
  assert.match(stdout, new RegExp(`A copy of ${login}… comes back\\. The store refuses it: rotate_fail:ERR_REPLAY \\(code ERR_REPLAY\\)`))
  assert.doesNotMatch(stdout, /replay was accepted/)

  // logoutDevice ends both phone sessions and only those: the listings before and after.
  const listings = stdout
    .split(/^ {5}RID +DEVICE +CREATED *$/m)
    .slice(1)
    .map((part) => [...part.matchAll(/^ {5}(\w{8})… +(\S+) /gm)].map(([, rid, device]) => `${rid} ${device}`).sort())
  assert.equal(listings.length, 2, stdout)
  assert.deepEqual(listings[0], [`${second} laptop`, `${phone1} phone`, `${phone2} phone`].sort())
  assert.deepEqual(listings[1], [`${second} laptop`])

  // gc finds the five sessions and deletes none of them (each is within its absolute expiry).
  assert.match(stdout, /gcOrphans scanned 1 user index and 5 session hashes/)
  assert.match(stdout, /removed 0 stale index entries, re-indexed 0, deleted 0 hashes\./)

  // What the story left in Redis: each session in the state the story put it in.
  const redis = await rawClient()
  const statuses = {}
  for (const key of await redis.keys(`${prefix}:rid:*`))
    statuses[key.slice(`${prefix}:rid:`.length, `${prefix}:rid:`.length + 8)] = await redis.hget(key, 'status')
  assert.deepEqual(statuses, { [login]: 'used', [first]: 'used', [second]: 'active', [phone1]: 'tombstoned', [phone2]: 'tombstoned' })

  // The tree: the laptop's lineage, from the inspected (replayed) rid to the active leaf.
  const tree = stdout.slice(stdout.indexOf('Lineage of user alice'))
  assert.match(tree, /^Lineage of user alice: 3 sessions \(2 used, 1 active\)$/m)
  assert.match(tree, new RegExp(`^ {3}○ ${login}[0-9a-f-]{28} {2}used {2}◀ inspected$`, 'm'))
  assert.match(tree, new RegExp(`^ {3}└─○ ${first}[0-9a-f-]{28} {2}used$`, 'm'))
  assert.match(tree, new RegExp(`^ {5}└─● ${second}[0-9a-f-]{28} {2}active {2}◀ active leaf$`, 'm'))
  assert.match(tree, /presenting it again is a replay/)
})
