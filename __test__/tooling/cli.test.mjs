// The `redis-session-store` CLI, spawned as a user runs it, against a real Redis: output,
// exit codes (0 done, 1 refused, 2 usage or connection), JSON mode, colour only on a TTY.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { redisUrl, uniquePrefix, rawClient, dump, nowSeconds, escapeRegExp, runChild } from '../shared/helpers.mjs'
import { freePort } from '../../scripts/redis-server.mjs'

const url = await redisUrl()
const CLI = fileURLToPath(new URL('../../cli/main.mjs', import.meta.url))
const ESC = '\x1b['

/** Runs the CLI; resolves to { code, stdout, stderr }. */
async function cli(args, { env = {} } = {}) {
  const baseEnv = { ...process.env, REDIS_URL: url }
  delete baseEnv.FORCE_COLOR
  delete baseEnv.NO_COLOR
  const { code, signal, stdout, stderr } = await runChild(process.execPath, [CLI, ...args], { env: { ...baseEnv, ...env } })
  return { code: code ?? signal, stdout, stderr }
}

/** A CLI bound to one fresh prefix. */
function scoped(name) {
  const prefix = uniquePrefix(name)
  const run = (args, opts) => cli(['--prefix', prefix, ...args], opts)
  const json = async (args) => {
    const r = await run([...args, '--json'])
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`)
    return JSON.parse(r.stdout)
  }
  return { prefix, run, json }
}

test('--help lists every command, each command has its own help, exit 0', async () => {
  const top = await cli(['--help'])
  assert.equal(top.code, 0)
  for (const name of [
    'issue',
    'rotate',
    'get',
    'list',
    'inspect',
    'logout',
    'logout-lineage',
    'logout-session',
    'logout-others',
    'logout-device',
    'logout-all',
    'gc',
    'stats',
    'board',
  ]) {
    assert.match(top.stdout, new RegExp(`^  ${name}\\b`, 'm'), name)
    const own = await cli([name, '--help'])
    assert.equal(own.code, 0, name)
    assert.match(own.stdout, new RegExp(`^Usage: redis-session-store ${name}\\b`, 'm'), name)
  }
  assert.match(top.stdout, /--url <url>/)
  assert.match(top.stdout, /Exit codes: 0 done, 1 operation refused/)
  const gc = await cli(['help', 'gc'])
  assert.equal(gc.code, 0)
  assert.match(gc.stdout, /--dry-run/)
  assert.match(gc.stdout, /--grace <seconds>/)
  const version = await cli(['--version'])
  assert.equal(version.code, 0)
  assert.match(version.stdout, /^\d+\.\d+\.\d+/)
})

test('--gc-scope registry: a user issued from the CLI joins the registry, and gc walks it', async () => {
  const { prefix, json } = scoped('cli-gcreg')
  const redis = await rawClient()
  const registered = () => redis.smembers(`${prefix}:registry`)
  await json(['issue', 'alice'])
  assert.deepEqual(await registered(), [], 'without the option nothing is registered')
  // The first gc with the option makes the full pass, which registers alice.
  assert.equal((await json(['--gc-scope', 'registry', 'gc'])).scannedUserSets, 1)
  assert.deepEqual((await registered()).sort(), ['', `${prefix}:user:alice:rids`])
  await json(['--gc-scope', 'registry', 'issue', 'bob'])
  assert.deepEqual((await registered()).sort(), ['', `${prefix}:user:alice:rids`, `${prefix}:user:bob:rids`])
  // Walking the registry finds bob's stale member; a session hash in no index is the
  // keyspace pass's to find.
  await redis.sadd(`${prefix}:user:bob:rids`, `${prefix}:rid:gone`)
  await redis.hset(`${prefix}:rid:loose`, 'status', 'active')
  const report = await json(['--gc-scope', 'registry', 'gc'])
  assert.deepEqual([report.scannedUserSets, report.removedFromSets, report.deletedRidHashes], [2, 1, 0])
  assert.equal((await json(['gc'])).deletedRidHashes, 1)
  // The ACL rule for such a store includes what the registry needs, as `acl --registry` does.
  const rule = (args) => json(['acl', ...args])
  assert.ok((await rule(['--gc-scope', 'registry'])).features.includes('registry'))
  assert.equal((await rule(['--gc-scope', 'registry'])).rule, (await rule(['--registry'])).rule)
  assert.ok(!(await rule([])).features.includes('registry'))
})

test('usage errors exit 2 and say what is wrong', async () => {
  const cases = [
    [['bogus'], /unknown command 'bogus'/],
    [['list'], /missing required argument 'userId'/],
    [['logout-device', 'u'], /missing required argument 'deviceId'/],
    [['gc', '--grace', '-1'], /must be a number >= 0/],
    [['issue', 'u', '--ttl', '0'], /must be a number > 0/],
    [['issue', 'u', '--wat'], /unknown option '--wat'/],
    [['get', 'x'.repeat(2000)], /rid must be a non-empty string of at most 1024 bytes/],
    [['issue', 'u', '--now', String(Date.now())], /^error: --now must be epoch seconds, not milliseconds: .*Math\.floor\(Date\.now\(\) \/ 1000\)/],
    [['issue', 'u', '--ttl', String(30 * 24 * 3600 * 1000)], /^error: --ttl must be seconds, not milliseconds/],
    [['rotate', 'r', '--now', String(Date.now())], /^error: --now must be epoch seconds, not milliseconds/],
    [['--url', 'nope', 'list', 'u'], /^error: --url must be a redis:\/\/, rediss:\/\/ or unix:\/\/ URL/],
    [['--prefix', '', 'list', 'u'], /^error: --prefix must be a non-empty string/],
    [['--gc-scope', 'all', 'gc'], /argument 'all' is invalid\. Allowed choices are keyspace, registry/],
  ]
  for (const [args, message] of cases) {
    const r = await cli(args)
    assert.equal(r.code, 2, `${args.join(' ').slice(0, 40)}: ${r.stderr}`)
    assert.match(r.stderr, message)
    assert.ok(!r.stderr.includes('cfg.'), `options are named as the user typed them: ${r.stderr}`)
    assert.equal(r.stdout, '')
    // With --json the same error comes as JSON on stdout, and nothing as text.
    const j = await cli([...args, '--json'])
    assert.equal(j.code, 2, `${args.join(' ').slice(0, 40)} --json: ${j.stderr}`)
    assert.equal(j.stderr, '', `${args.join(' ').slice(0, 40)} --json`)
    const { error } = JSON.parse(j.stdout)
    assert.match(error.message, new RegExp(message.source.replace('^error: ', '^')))
    assert.ok(['ERR_USAGE', 'ERR_INVALID_ARG'].includes(error.code), error.code)
  }
  // A bad REDIS_URL is named as such.
  const env = await cli(['list', 'u'], { env: { REDIS_URL: 'nope' } })
  assert.equal(env.code, 2)
  assert.match(env.stderr, /^error: REDIS_URL must be a redis:\/\//)
})

test('an unreachable server is exit 2 with the cause and the URL (without its password), as text and as JSON', async () => {
  const port = await freePort()
  const dead = `redis://127.0.0.1:${port}`
  const r = await cli(['--url', `redis://ops:s3cret-pw@127.0.0.1:${port}/0`, 'list', 'u'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, new RegExp(`^error: redis_unavailable: redis://127\\.0\\.0\\.1:${port}: `))
  assert.ok(!r.stderr.includes('s3cret-pw'), r.stderr)
  const j = await cli(['--url', dead, 'stats', '--json'])
  assert.equal(j.code, 2)
  assert.equal(JSON.parse(j.stdout).error.code, 'ERR_REDIS_UNAVAILABLE')
  // REDIS_URL is the default when --url is absent.
  const env = await cli(['get', 'r'], { env: { REDIS_URL: dead } })
  assert.equal(env.code, 2)
  assert.match(env.stderr, /redis_unavailable/)
})

test('issue and rotate write the data model; a replay is refused with exit 1', async () => {
  const { prefix, run, json } = scoped('cli-rotate')
  const redis = await rawClient()
  const t = nowSeconds()
  const issued = await json(['issue', 'alice', '--device', 'laptop', '--ua-hash', 'ua1', '--ttl', '3600', '--now', String(t)])
  assert.equal(issued.userId, 'alice')
  assert.equal(issued.absExp, t + 3600)
  assert.deepEqual(await redis.hgetall(`${prefix}:rid:${issued.rid}`), {
    userId: 'alice',
    parentRid: '',
    createdAt: String(t),
    expAt: String(t + 3600),
    absExpAt: String(t + 3600),
    deviceId: 'laptop',
    uaHash: 'ua1',
    ipHash: '',
    status: 'active',
  })
  assert.equal(await redis.get(`${prefix}:device:alice:laptop`), `${prefix}:rid:${issued.rid}`)

  const text = await run(['rotate', issued.rid, '--device', 'laptop'])
  assert.equal(text.code, 0, text.stderr)
  const [, child] = text.stdout.match(/into ([0-9a-f-]{36})/)
  assert.match(text.stdout, new RegExp(`^rotated ${issued.rid}$`, 'm'))
  assert.equal(await redis.hget(`${prefix}:rid:${issued.rid}`, 'status'), 'used')
  assert.equal(await redis.hget(`${prefix}:rid:${child}`, 'parentRid'), issued.rid)

  const before = await dump(redis, prefix)
  const replay = await run(['rotate', issued.rid])
  assert.equal(replay.code, 1)
  assert.match(replay.stderr, /^refused: rotate_fail:ERR_REPLAY — .*replay/)
  assert.equal(replay.stdout, '')
  const replayJson = await run(['rotate', issued.rid, '--json'])
  assert.equal(replayJson.code, 1)
  assert.deepEqual(JSON.parse(replayJson.stdout), { error: { message: 'rotate_fail:ERR_REPLAY', code: 'ERR_REPLAY' } })
  const binding = await run(['rotate', child, '--device', 'phone'])
  assert.equal(binding.code, 1)
  assert.match(binding.stderr, /rotate_fail:ERR_BINDING/)
  const unknown = await run(['rotate', 'no-such-rid'])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /^refused: not_found/)
  assert.deepEqual(await dump(redis, prefix), before, 'refusals write nothing')

  const expiring = await json(['issue', 'bob', '--ttl', '100', '--now', String(t)])
  const late = await run(['rotate', expiring.rid, '--now', String(t + 200)])
  assert.equal(late.code, 1)
  assert.match(late.stderr, /expired_abs/)
})

test('get prints the fields, exit 1 for an unknown rid', async () => {
  const { run, json } = scoped('cli-get')
  const t = nowSeconds()
  const { rid } = await json(['issue', 'alice', '--device', 'd1', '--now', String(t), '--ttl', '600'])
  const r = await run(['get', rid])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^userId +alice$/m)
  assert.match(r.stdout, /^status +active$/m)
  assert.match(r.stdout, new RegExp(`^absExpAt +${t + 600} +${new Date((t + 600) * 1000).toISOString().slice(0, 10)}`, 'm'))
  assert.equal((await json(['get', rid])).deviceId, 'd1')
  const missing = await run(['get', 'nope'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /not_found/)
})

test('list shows a table of the active sessions only', async () => {
  const { run, json } = scoped('cli-list')
  const t = nowSeconds()
  const a = await json(['issue', 'alice', '--device', 'laptop', '--now', String(t - 7200)])
  const b = await json(['issue', 'alice', '--device', 'phone', '--now', String(t - 60)])
  const rotated = await json(['rotate', a.rid, '--now', String(t - 3600)])
  const gone = await json(['issue', 'alice', '--now', String(t)])
  assert.equal((await run(['logout', gone.rid])).code, 0)
  await json(['issue', 'mallory', '--device', 'laptop'])

  const r = await run(['list', 'alice'])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^SESSION +RID +DEVICE +CREATED +EXPIRES +AGE$/)
  assert.equal(lines.length, 4, r.stdout)
  assert.match(lines[1], new RegExp(`^[0-9a-f]{40} +${rotated.newRid.rid} +- +\\S+ \\S+ +\\S+ \\S+ +1h( \\dm)?$`))
  assert.match(lines[2], new RegExp(`^[0-9a-f]{40} +${b.rid} +phone +\\S+ \\S+ +\\S+ \\S+ +1m( \\ds)?$`))
  assert.match(lines[3], /^2 active sessions of user alice/)
  assert.ok(!r.stdout.includes(a.rid), 'the used parent is not listed')
  assert.ok(!r.stdout.includes(gone.rid), 'the logged-out session is not listed')

  const listed = await json(['list', 'alice'])
  assert.deepEqual(
    listed.map((s) => [s.rid, s.deviceId, s.status]),
    [
      [rotated.newRid.rid, '', 'active'],
      [b.rid, 'phone', 'active'],
    ],
  )
  const none = await run(['list', 'nobody'])
  assert.equal(none.code, 0)
  assert.match(none.stdout, /no active sessions for user nobody/)
  assert.deepEqual(await json(['list', 'nobody']), [])
})

test('inspect draws the lineage from any of its rids and explains a replayed rid', async () => {
  const { run, json } = scoped('cli-inspect')
  const t = nowSeconds()
  const r0 = (await json(['issue', 'alice', '--device', 'laptop', '--now', String(t - 300)])).rid
  const r1 = (await json(['rotate', r0, '--device', 'laptop', '--now', String(t - 200)])).newRid.rid
  const r2 = (await json(['rotate', r1, '--device', 'laptop', '--now', String(t - 100)])).newRid.rid
  await json(['issue', 'alice', '--device', 'phone']) // another lineage: not drawn

  const r = await run(['inspect', r0])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.match(lines[0], /^Lineage of user alice: 3 sessions \(2 used, 1 active\)$/)
  const nodeLines = lines.filter((l) => /[0-9a-f-]{36} {2}\w+/.test(l))
  assert.equal(nodeLines.length, 3, r.stdout)
  assert.equal(nodeLines[0], `○ ${r0}  used  ◀ inspected`)
  assert.equal(nodeLines[1], `└─○ ${r1}  used`)
  assert.equal(nodeLines[2], `  └─● ${r2}  active  ◀ active leaf`)
  assert.match(r.stdout, /rotated \S+ \S+ \(after 1m 40s\)/)
  assert.match(r.stdout, new RegExp(`already rotated at \\S+ \\S+ into ${r1}: presenting it again is a replay`))
  assert.match(r.stdout, new RegExp(`lives on in ${r2}, 2 rotations later`))

  const fromLeaf = await run(['inspect', r2])
  assert.equal(fromLeaf.code, 0)
  assert.match(fromLeaf.stdout, new RegExp(`● ${r2}  active  ◀ inspected  ◀ active leaf`))
  assert.match(fromLeaf.stdout, /The inspected rid is the active session/)

  const asJson = await json(['inspect', r1])
  assert.deepEqual(
    asJson.sessions.map((s) => [s.rid, s.status]),
    [
      [r0, 'used'],
      [r1, 'used'],
      [r2, 'active'],
    ],
  )
  assert.equal(asJson.rid, r1)

  // After a logout the descendants leave the index; inspect still finds them.
  assert.equal((await run(['logout', r2])).code, 0)
  const ended = await run(['inspect', r0])
  assert.match(ended.stdout, new RegExp(`✕ ${r2}  tombstoned`))
  assert.match(ended.stdout, /No session of this lineage is active/)
  assert.ok(!ended.stdout.includes('◀ active leaf'))

  const missing = await run(['inspect', 'nope'])
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /not_found/)
})

test('inspect reads a lineage the original wrote and one whose oldest part was collected', async () => {
  const { prefix, run } = scoped('cli-orig')
  const redis = await rawClient()
  const t = nowSeconds()
  const index = `${prefix}:user:u:rids`
  for (const [rid, parent, status, at] of [
    ['o0', '', 'used', t - 20],
    ['o1', 'o0', 'used', t - 10],
    ['o2', 'o1', 'active', t - 5],
  ]) {
    const key = `${prefix}:rid:${rid}`
    await redis.hset(key, { userId: 'u', parentRid: parent, createdAt: at, expAt: at + 600, absExpAt: t + 3600, deviceId: '', uaHash: '', ipHash: '', status })
    await redis.sadd(index, key) // the original keeps used sessions in the index too
  }
  await redis.del(`${prefix}:rid:o0`)
  const r = await run(['inspect', 'o2'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /older sessions gone \(expired or collected\); the oldest left has parent o0/)
  assert.match(r.stdout, /^○ o1 {2}used$/m)
  assert.match(r.stdout, /^└─● o2 {2}active {2}◀ inspected {2}◀ active leaf$/m)
})

test('logout-session and logout-others take the session ids list shows', async () => {
  const { json, run } = scoped('cli-sessions')
  const now = String(Math.floor(Date.now() / 1000))
  const a = await json(['issue', 'ann', '--device', 'a', '--now', now])
  await json(['issue', 'ann', '--device', 'b', '--now', now])
  await json(['issue', 'ann', '--device', 'c', '--now', now])
  await json(['rotate', a.rid, '--device', 'a', '--now', now])
  const listed = await json(['list', 'ann'])
  const id = (device) => listed.find((s) => s.deviceId === device).sessionId
  assert.deepEqual(await json(['logout-session', 'ann', id('b')]), { userId: 'ann', sessionId: id('b'), ended: true })
  assert.equal((await run(['logout-session', 'ann', id('b')])).code, 1)
  assert.equal((await run(['logout-session', 'bob', id('a')])).code, 1)
  assert.equal((await json(['logout-others', 'ann', id('a')])).ended, 1)
  assert.deepEqual(
    (await json(['list', 'ann'])).map((s) => s.sessionId),
    [id('a')],
  )
})

test('logout, logout-device and logout-all end what they name, and only that', async () => {
  const { prefix, run, json } = scoped('cli-logout')
  const redis = await rawClient()
  const status = (rid) => redis.hget(`${prefix}:rid:${rid}`, 'status')

  const before = await dump(redis, prefix)
  const unknown = await run(['logout', 'no-such-rid'])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /not_found/)
  assert.deepEqual(await dump(redis, prefix), before)

  const one = (await json(['issue', 'alice', '--device', 'laptop'])).rid
  const r = await run(['logout', one])
  assert.equal(r.code, 0)
  assert.equal(r.stdout, `logged out ${one} (user alice, was active)\n`)
  assert.equal(await status(one), 'tombstoned')

  const p1 = (await json(['issue', 'alice', '--device', 'phone'])).rid
  const p2 = (await json(['issue', 'alice', '--device', 'phone'])).rid
  const keep = (await json(['issue', 'alice', '--device', 'tablet'])).rid
  const other = (await json(['issue', 'bob', '--device', 'phone'])).rid
  // The device's newest session, out of the user's index (a stale index): only the
  // device key reaches it, so a list read before the call would miss it.
  const p3 = (await json(['issue', 'alice', '--device', 'phone'])).rid
  assert.equal(await redis.srem(`${prefix}:user:alice:rids`, `${prefix}:rid:${p3}`), 1)
  const device = await run(['logout-device', 'alice', 'phone'])
  assert.equal(device.code, 0, device.stderr)
  assert.equal(device.stdout, 'logged out 3 sessions of user alice on device phone\n')
  assert.deepEqual(await Promise.all([p1, p2, p3, keep, other].map(status)), ['tombstoned', 'tombstoned', 'tombstoned', 'active', 'active'])
  const again = await run(['logout-device', 'alice', 'phone'])
  assert.equal(again.code, 0)
  assert.match(again.stdout, /no active sessions of user alice on device phone/)

  const all = await json(['logout-all', 'alice'])
  assert.deepEqual(all, { userId: 'alice', ended: 1 })
  assert.equal(await status(keep), 'tombstoned')
  assert.equal(await status(other), 'active')
  assert.deepEqual(await json(['list', 'alice']), [])
  const bob = await run(['logout-all', 'bob'])
  assert.equal(bob.stdout, 'logged out all 1 session of user bob\n')
  assert.equal(await status(other), 'tombstoned')
})

test('gc --dry-run reports and writes nothing; gc cleans', async () => {
  const { prefix, run, json } = scoped('cli-gc')
  const redis = await rawClient()
  const t = nowSeconds()
  const live = (await json(['issue', 'alice'])).rid
  await redis.sadd(`${prefix}:user:alice:rids`, `${prefix}:rid:gone`) // stale member
  await redis.hset(`${prefix}:rid:broken`, 'status', 'active') // no userId
  await redis.hset(`${prefix}:rid:old`, { userId: 'alice', status: 'used', absExpAt: t - 100 }) // ended long ago

  const before = await dump(redis, prefix)
  const dry = await run(['gc', '--dry-run'])
  assert.equal(dry.code, 0, dry.stderr)
  assert.match(dry.stdout, /^gc \(dry run, nothing written\)$/m)
  assert.match(dry.stdout, /^ {2}scanned +1 user index, 3 rid hashes$/m)
  assert.match(dry.stdout, /^ {2}would remove +1 stale index member$/m)
  assert.match(dry.stdout, /^ {2}would delete +2 rid hashes/m)
  assert.equal(dry.stderr, '', 'no progress line without a TTY')
  assert.deepEqual(await dump(redis, prefix), before)

  const graced = await json(['gc', '--dry-run', '--grace', '1000'])
  assert.equal(graced.deletedRidHashes, 1, 'the old used session is kept within the grace')

  const done = await json(['gc'])
  assert.deepEqual([done.scannedUserSets, done.scannedRids, done.removedFromSets, done.deletedRidHashes, done.dryRun], [1, 3, 1, 2, false])
  assert.deepEqual(Object.keys(await dump(redis, prefix)).sort(), [`${prefix}:rid:${live}`, `${prefix}:user:alice:rids`].sort())
})

test('gc shows a progress line on a TTY', { skip: !hasScript() && 'util-linux script(1) is not installed' }, async () => {
  const { prefix } = scoped('cli-gc-tty')
  const redis = await rawClient()
  const pipeline = redis.pipeline()
  for (let i = 0; i < 3000; i++) pipeline.hset(`${prefix}:rid:r${i}`, { userId: `u${i % 50}`, status: 'active', absExpAt: nowSeconds() + 600 })
  await pipeline.exec()
  // script(1) gives the CLI a pseudo-terminal, as an operator's shell does.
  const command = [process.execPath, CLI, '--url', url, '--prefix', prefix, 'gc', '--dry-run'].map((a) => `'${a}'`).join(' ')
  const out = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } })
  assert.match(out, new RegExp(`\r${escapeRegExp(ESC)}2Kgc \\(dry run\\): scanned \\d+ user indexes, [\\d,]+ rid hashes…`))
  assert.match(out, /scanned .*3,000 rid hashes/)
  assert.ok(out.includes(`${ESC}1m`), 'colour on a TTY')
})

function hasScript() {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

test('stats counts sessions by status, users, keys and memory', async () => {
  const { run, json } = scoped('cli-stats')
  const a = (await json(['issue', 'alice', '--device', 'laptop'])).rid
  await json(['rotate', a])
  const b = (await json(['issue', 'bob', '--device', 'phone'])).rid
  await json(['logout', b])
  await json(['issue', 'carol'])

  const s = await json(['stats'])
  assert.deepEqual(s.sessionsByStatus, { active: 2, tombstoned: 1, used: 1 })
  assert.deepEqual([s.ridKeys, s.userKeys, s.indexedMembers, s.deviceKeys], [4, 2, 2, 1])
  assert.ok(s.ridBytes > 0 && s.userBytes > 0 && s.deviceBytes > 0)

  const text = await run(['stats'])
  assert.equal(text.code, 0)
  assert.match(text.stdout, /^active +2$/m)
  assert.match(text.stdout, /^tombstoned +1$/m)
  assert.match(text.stdout, /^rid hashes +4 +\d+(\.\d)? (B|KiB)$/m)
  assert.match(text.stdout, /^total +7 +/m)
  assert.match(text.stdout, /users with an index: 2 · indexed sessions: 2/)
})

test('colour only on a TTY or when forced; never in JSON', async () => {
  const { run, json } = scoped('cli-color')
  const { rid } = await json(['issue', 'alice'])
  const plain = await run(['inspect', rid])
  assert.ok(!plain.stdout.includes(ESC), 'a pipe gets no escape codes')
  const forced = await run(['inspect', rid], { env: { FORCE_COLOR: '1' } })
  assert.ok(forced.stdout.includes(`${ESC}32m● ${ESC}`) || forced.stdout.includes(`${ESC}32m●`), forced.stdout)
  const noColor = await run(['inspect', rid, '--no-color'], { env: { FORCE_COLOR: '1' } })
  assert.ok(!noColor.stdout.includes(ESC))
  const asJson = await run(['inspect', rid, '--json'], { env: { FORCE_COLOR: '1' } })
  assert.ok(!asJson.stdout.includes(ESC))
  assert.equal(JSON.parse(asJson.stdout).rid, rid)
})

test('logout help tells the truth about a used rid; logout-lineage ends the whole lineage', async () => {
  const help = await cli(['logout', '--help'])
  assert.doesNotMatch(help.stdout, /lineage cannot be refreshed/)
  assert.match(help.stdout, /A used rid \(one already rotated\) ends its whole lineage, the active descendant included/)

  const { prefix, run, json } = scoped('cli-lineage')
  const redis = await rawClient()
  const status = (rid) => redis.hget(`${prefix}:rid:${rid}`, 'status')
  const r0 = (await json(['issue', 'alice', '--device', 'laptop'])).rid
  const r1 = (await json(['rotate', r0, '--device', 'laptop'])).newRid.rid
  const other = (await json(['issue', 'alice', '--device', 'phone'])).rid

  // logout of the used rid: the lineage's active session ends with it, as the help says.
  assert.equal((await run(['logout', r0])).code, 0)
  assert.equal(await status(r1), 'tombstoned')
  assert.equal(await status(other), 'active')

  const s0 = (await json(['issue', 'alice', '--device', 'laptop'])).rid
  const s1 = (await json(['rotate', s0, '--device', 'laptop'])).newRid.rid
  const s2 = (await json(['rotate', s1, '--device', 'laptop'])).newRid.rid
  const text = await run(['logout-lineage', s1])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, new RegExp(`^ended the lineage of ${s1} \\(user alice\\): 3 sessions ended$`, 'm'))
  assert.match(text.stdout, new RegExp(`^  active session ended: ${s2}$`, 'm'))
  assert.deepEqual([await status(s0), await status(s1), await status(s2), await status(other)], ['tombstoned', 'tombstoned', 'tombstoned', 'active'])
  const refused = await run(['rotate', s2])
  assert.equal(refused.code, 1)
  assert.match(refused.stderr, /ERR_REPLAY/)

  const again = await json(['logout-lineage', other])
  assert.deepEqual(again, { rid: other, userId: 'alice', ended: [other], endedActive: [other] })
  const unknown = await run(['logout-lineage', 'no-such-rid'])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /^refused: not_found/)
})

test('inspect still shows where a replayed rid was rotated after the lineage was revoked', async () => {
  const { run, json } = scoped('cli-revoked')
  const t = nowSeconds()
  const r0 = (await json(['issue', 'alice', '--now', String(t - 300)])).rid
  const r1 = (await json(['rotate', r0, '--now', String(t - 200)])).newRid.rid
  await json(['rotate', r1, '--now', String(t - 100)])
  // The leaked r0 is presented again: a replay; the operator revokes the lineage.
  assert.equal((await run(['rotate', r0])).code, 1)
  assert.equal((await run(['logout-lineage', r0])).code, 0)

  const r = await run(['inspect', r0])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`^✕ ${r0}  tombstoned  ◀ inspected$`, 'm'))
  assert.match(
    r.stdout,
    new RegExp(
      `The inspected rid was rotated at \\S+ \\S+ into ${r1}: presenting it after that was a replay \\(rotate_fail:ERR_REPLAY\\)\\. Later the lineage was ended`,
    ),
  )
  assert.match(r.stdout, /No session of this lineage is active: it has ended\./)
  assert.doesNotMatch(r.stdout, /The inspected rid was ended \(logout/)
})

test('an empty result under a prefix that holds no keys at all says so', async () => {
  const { prefix, run, json } = scoped('cli-prefix')
  const { rid } = await json(['issue', 'alice'])
  const typo = `${prefix}x`
  const note = new RegExp(`^note: the prefix "${typo}" holds no keys at all: is --prefix right\\? \\(default: auth\\)$`, 'm')
  for (const args of [['list', 'alice'], ['stats'], ['gc', '--dry-run'], ['logout-all', 'alice'], ['logout-device', 'alice', 'd']]) {
    const r = await cli(['--prefix', typo, ...args])
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`)
    assert.match(r.stderr, note, args[0])
  }
  for (const args of [
    ['get', rid],
    ['inspect', rid],
    ['rotate', rid],
    ['logout', rid],
  ]) {
    const r = await cli(['--prefix', typo, ...args])
    assert.equal(r.code, 1, args[0])
    assert.match(r.stderr, /^refused: not_found/, args[0])
    assert.match(r.stderr, note, args[0])
    const j = await cli(['--prefix', typo, ...args, '--json'])
    assert.match(JSON.parse(j.stdout).error.note, /holds no keys at all/)
  }
  // The right prefix with an empty answer adds no note.
  const empty = await run(['list', 'nobody'])
  assert.equal(empty.stderr, '')
  const missing = await run(['get', 'no-such-rid'])
  assert.doesNotMatch(missing.stderr, /note:/)
})

test('output cut short by the reader (`--help | head`) ends quietly, without an EPIPE stack', () => {
  // The reader exits before the CLI writes: every write then fails with EPIPE.
  const script = `(sleep 0.3; exec "${process.execPath}" "${CLI}" --help) | true; echo "exit \${PIPESTATUS[0]}" >&2`
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.stderr.trim(), 'exit 0', r.stderr)
})

test('board serves the session board on loopback; only the printed access link lets a browser in', async () => {
  const { prefix, json } = scoped('cli-board')
  await json(['issue', 'alice', '--device', 'laptop'])
  const child = spawn(process.execPath, [CLI, '--prefix', prefix, 'board', '--port', '0'], {
    env: { ...process.env, REDIS_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)))
  const accessUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no access link printed: ${stdout}`)), 15_000)
    child.stdout.on('data', (d) => {
      stdout += d
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/\?access=[A-Za-z0-9_-]{43})\n/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
  })
  try {
    const { origin, searchParams } = new URL(accessUrl)
    const token = searchParams.get('access')
    assert.equal(stdout.split(token).length, 2, 'the token is printed once')
    const get = (path, cookie) => fetch(origin + path, { redirect: 'manual', headers: cookie ? { cookie } : {} })
    const anonymous = await get('/users/alice')
    assert.equal(anonymous.status, 403)
    assert.doesNotMatch(await anonymous.text(), /laptop/)
    const wrong = await get(`/?access=${'x'.repeat(43)}`)
    assert.equal(wrong.status, 303)
    assert.deepEqual(wrong.headers.getSetCookie(), [])
    assert.equal((await get('/users/alice', `rss_board_access=${'x'.repeat(43)}`)).status, 403)

    const entry = await get(`/users/alice?access=${token}`)
    assert.equal(entry.status, 303)
    assert.equal(entry.headers.get('location'), '/users/alice', 'the token leaves the address bar')
    const [cookie] = entry.headers.getSetCookie()
    assert.match(cookie, /HttpOnly/)
    assert.match(cookie, /SameSite=Strict/)
    const page = await get('/users/alice', cookie.split(';')[0])
    assert.equal(page.status, 200)
    const body = await page.text()
    assert.match(body, /Session board/)
    assert.match(body, />laptop</)
    assert.match(body, /End session/)
  } finally {
    child.kill('SIGTERM')
  }
  assert.equal(await exited, 0)
})

test('board refuses a port that is not one', async () => {
  const r = await cli(['board', '--port', '70000'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /--port.*must be an integer from 0 to 65535/)
})
