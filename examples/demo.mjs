// The life of a refresh-token session, told step by step against a real Redis.
//   npm run demo                      (starts a throwaway server, see scripts/demo.mjs)
//   REDIS_URL=redis://... npm run demo
// It ends with the lineage tree the CLI's `inspect` command draws. A failure is one line
// on stderr saying what to do, and exit code 1.

import { randomUUID } from 'node:crypto'
import { createRedisStore } from '../index.mjs'
import { renderLineage } from '../cli/tree.mjs'
import { wantsColor, palette, table, time } from '../cli/format.mjs'

const color = wantsColor(process.stdout)
// Output cut short by the reader (`npm run demo | head`) ends the demo quietly.
process.stdout.on('error', (err) => process.exit(err.code === 'EPIPE' ? 0 : 1))
const c = palette(color)
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const shownUrl = url.replace(/\/\/[^@]*@/, '//***@')
const prefix = `demo-${randomUUID().slice(0, 8)}`

/** What to tell the user when the demo fails: one line, with what to do about it. */
function advice(err) {
  const reason = String(err?.message ?? err).split('\n')[0]
  switch (err?.code) {
    case 'ERR_REDIS_UNAVAILABLE':
    case 'ERR_REDIS_TIMEOUT':
      return `cannot reach Redis at ${shownUrl} (${reason}); start it or correct REDIS_URL, or unset REDIS_URL to let the demo start a throwaway server`
    case 'ERR_REDIS_AUTH':
      return `Redis at ${shownUrl} refused the demo (${reason}); correct the user or password in REDIS_URL`
    case 'ERR_REDIS_CONFIG':
    case 'ERR_SERVER_UNSUPPORTED':
      return `Redis at ${shownUrl} cannot run the demo (${reason}); point REDIS_URL at Redis 6.2+ or Valkey 7.2+, database 0`
    case 'ERR_INVALID_ARG':
      return `REDIS_URL is not usable (${reason}); give a URL like redis://127.0.0.1:6379`
    default:
      return `failed against ${shownUrl}: ${reason}${err?.code ? ` (${err.code})` : ''}`
  }
}

let store
try {
  // A short lineage lifetime, so whatever the demo leaves in your Redis expires within a day.
  store = createRedisStore({ url, prefix, absTtlSeconds: 24 * 3600, connectTimeoutMs: 1000 })
} catch (err) {
  console.error(`demo: ${advice(err)}`)
  process.exit(1)
}

const short = (rid) => rid.slice(0, 8)
const say = (text) => console.log(text)
const step = (n, title) => say(`\n${c.bold(`${n}. ${title}`)}`)
// The story spans an afternoon: each step happens at its own time, counted back from now.
const clock = Math.floor(Date.now() / 1000)
const at = (minutesAgo) => clock - minutesAgo * 60

try {
  // Reach the server before telling the story, so a failure comes before any of it.
  await store.getRid('demo-connection-check')
  say(`${c.bold('A session, from login to garbage collection')}  (Redis ${shownUrl}, key prefix "${prefix}")`)

  step(1, 'Alice logs in on her laptop')
  const login = await store.issueInitial('alice', { now: at(60), deviceId: 'laptop', uaHash: 'firefox-128' })
  say(`   The server issues refresh token ${c.cyan(short(login.rid))}…, bound to the laptop and its browser.`)
  say(`   Whatever happens, this lineage ends at ${time(login.absExp)} (its absolute expiry).`)

  step(2, 'Fifteen minutes later the laptop refreshes')
  const first = await store.verifyAndRotateRefresh({ rid: login.rid, now: at(45), deviceId: 'laptop', uaHash: 'firefox-128' })
  say(`   The token ${short(login.rid)}… is spent (status "used") and replaced by ${c.cyan(short(first.newRid.rid))}….`)

  step(3, 'Someone replays the old token')
  try {
    await store.verifyAndRotateRefresh({ rid: login.rid, now: at(30) })
    say(c.red('   The replay was accepted: this should never happen.'))
    process.exitCode = 1
  } catch (err) {
    say(`   A copy of ${short(login.rid)}… comes back. The store refuses it: ${c.yellow(err.message)} (code ${err.code}).`)
    say('   A strict server would now end the whole lineage with tombstoneLineage(rid);')
    say('   this demo keeps it, so that the tree at the end shows where the replay hit.')
  }

  step(4, 'The laptop refreshes again, as usual')
  const second = await store.verifyAndRotateRefresh({ rid: first.newRid.rid, now: at(20), deviceId: 'laptop', uaHash: 'firefox-128' })
  say(`   ${short(first.newRid.rid)}… is spent; the laptop now holds ${c.cyan(short(second.newRid.rid))}….`)

  step(5, 'Alice logs in on her phone, then loses it')
  const phone1 = await store.issueInitial('alice', { now: at(15), deviceId: 'phone' })
  const phone2 = await store.issueInitial('alice', { now: at(10), deviceId: 'phone' })
  const listing = (sessions) =>
    table(
      [{ title: 'RID' }, { title: 'DEVICE' }, { title: 'CREATED' }],
      sessions.map((s) => [`${short(s.rid)}…`, s.deviceId || '-', time(s.createdAt)]),
      c,
    )
      .split('\n')
      .map((line) => `     ${line}`)
      .join('\n')
  say(`   Two logins on the phone (${short(phone1.rid)}…, ${short(phone2.rid)}…). Alice's active sessions:`)
  say(listing(await store.listSessions('alice')))
  await store.logoutDevice('alice', 'phone')
  say('   She signs the phone out from her laptop: logoutDevice("alice", "phone") ends both phone sessions.')
  say(listing(await store.listSessions('alice')))

  step(6, 'The nightly garbage collection')
  const report = await store.gcOrphans({ graceSeconds: 3600 })
  say(`   gcOrphans scanned ${report.scannedUserSets} user index and ${report.scannedRids} session hashes:`)
  say(`   removed ${report.removedFromSets} stale index entries, re-indexed ${report.addedToSets}, deleted ${report.deletedRidHashes} hashes.`)
  say('   Nothing is deleted yet: used and ended sessions stay until their absolute expiry (plus the grace),')
  say('   so a replay of an old token is still recognised as a replay rather than as an unknown token.')

  step(7, `What an operator sees: \`redis-session-store inspect ${short(login.rid)}…\``)
  const lineage = await store.inspectLineage(login.rid)
  say('')
  say(
    renderLineage(lineage, { color, now: clock })
      .split('\n')
      .map((line) => (line ? `   ${line}` : ''))
      .join('\n'),
  )

  step(8, 'Alice suspects her password leaked and signs out everywhere')
  await store.logoutAll('alice')
  const left = await store.listSessions('alice')
  say(`   logoutAll("alice") ends every session she has: ${left.length === 0 ? 'no active session is left' : `${left.length} still active (unexpected)`}.`)
  try {
    await store.verifyAndRotateRefresh({ rid: second.newRid.rid, now: clock, deviceId: 'laptop', uaHash: 'firefox-128' })
    say(c.red('   The laptop could still refresh: this should never happen.'))
    process.exitCode = 1
  } catch (err) {
    say(`   The laptop's next refresh with ${short(second.newRid.rid)}… is refused (${c.yellow(err.code)}): it has to log in again.`)
  }
} catch (err) {
  console.error(`demo: ${advice(err)}`)
  process.exitCode = 1
} finally {
  await store.close()
}
