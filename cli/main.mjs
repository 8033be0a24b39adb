#!/usr/bin/env node
// redis-session-store: an operator's command line for the session store.
// Exit codes: 0 done; 1 operation refused (not found, replay, binding, expired);
// 2 usage or connection error.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { aclFeatures, aclRule, createRedisStore } from '../index.mjs'
import { wantsColor, palette, table, time, duration, relative, bytes, count, statusColor } from './format.mjs'
import { renderLineage } from './tree.mjs'
import { serveBoard } from './board.mjs'

const require = createRequire(import.meta.url)
const { version } = require('../package.json')

export const EXIT_OK = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2

/** Error codes that mean "the store said no", as opposed to "could not ask". */
const REFUSALS = new Set(['ERR_NOT_FOUND', 'ERR_EXPIRED_ABS', 'ERR_REPLAY', 'ERR_BINDING', 'ERR_COLLISION'])

const HINTS = {
  ERR_NOT_FOUND: 'no such session (never issued, expired, or collected)',
  ERR_EXPIRED_ABS: 'the lineage is past its absolute expiry',
  ERR_REPLAY: 'this rid was already rotated or ended: presenting it again is a replay',
  ERR_BINDING: 'the device, user-agent or IP binding does not match the session',
  ERR_COLLISION: 'the new rid collided with an existing key; try again',
}

class Refused extends Error {
  constructor(message, code) {
    super(message)
    this.code = code
  }
}

/** `value`, unless it is missing: then the refusal of a rid or session that does not exist. */
function found(value) {
  if (!value) throw new Refused('not_found', 'ERR_NOT_FOUND')
  return value
}

/** The option that carries each input field of issue and rotate. */
const INPUT_OPTIONS = { now: '--now', absTtlSeconds: '--ttl', deviceId: '--device', uaHash: '--ua-hash', ipHash: '--ip-hash', rid: '<rid>' }

const DEFAULT_URL = 'redis://127.0.0.1:6379'
const DEFAULT_TTL = 30 * 24 * 3600

const now = () => Math.floor(Date.now() / 1000)
const plural = (n, one, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`

function positiveNumber(value) {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number > 0')
  return n
}

function nonNegativeNumber(value) {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0')
  return n
}

/** The output side of one run: text or JSON, colour or not. */
function output(opts, io) {
  const color = !opts.json && opts.color !== false && wantsColor(io.stdout, io.env)
  const c = palette(color)
  return {
    c,
    color,
    json: Boolean(opts.json),
    print: (text) => io.stdout.write(`${text}\n`),
    result(value, text) {
      if (opts.json) io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
      else io.stdout.write(`${text()}\n`)
    },
  }
}

function binding(opts) {
  const b = {}
  if (opts.device !== undefined) b.deviceId = opts.device
  if (opts.uaHash !== undefined) b.uaHash = opts.uaHash
  if (opts.ipHash !== undefined) b.ipHash = opts.ipHash
  return b
}

/** What a `cfg` field is called on this command line, for the store's TypeErrors. */
function optionName(field, { urlFromEnv }) {
  if (field === 'url') return urlFromEnv ? 'REDIS_URL' : '--url'
  if (field === 'commandTimeoutMs' || field === 'connectTimeoutMs') return '--timeout'
  return `--${field}`
}

/** The count of audit entries to read: an integer from 1 to 10000. */
function auditCount(value) {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 10000) throw new InvalidArgumentError('must be an integer from 1 to 10000')
  return n
}

/** `--now`: the clock a command uses instead of the system's. */
function clockOption() {
  return new Option('--now <epochSeconds>', 'the clock to use (default: now)').argParser(nonNegativeNumber)
}

/** Builds the program. `io` carries the streams and environment (tests, the demo). */
export function buildProgram(io = { stdout: process.stdout, stderr: process.stderr, env: process.env }, { json = false } = {}) {
  const program = new Command()
  addGlobalOptions(program, io, { json })
  const withStore = storeRunner(io)
  addTokenCommands(program, withStore)
  addReadCommands(program, withStore)
  addLogoutCommands(program, withStore)
  addMaintenanceCommands(program, withStore, io)
  addReportCommands(program, withStore)
  addAclCommand(program, io)
  addBoardCommand(program, withStore)
  return program
}

/** acl: the least-privilege ACL rule for the store's user, from the package's one list of
 * the commands each feature needs. Connects to nothing. */
function addAclCommand(program, io) {
  const optional = aclFeatures().filter((f) => f.name !== 'store' && f.name !== 'functions' && f.name !== 'cluster')
  const command = program
    .command('acl')
    .description("print the ACL SETUSER rule for the store's Redis user: keys under --prefix, exactly the commands the chosen options need")
    .option('--user <name>', 'the ACL user name', 'sessions')
    .option('--no-functions', 'leave out FCALL and FUNCTION LOAD (Redis 6.2, which has no functions and refuses a rule naming them)')
    .option('--all', 'every option below (and --cluster)')
  for (const f of optional) command.option(`--${f.name}`, `add what ${f.neededFor.replace(/:.*/, '')} needs`)
  command.addHelpText(
    'after',
    '\nWith --cluster and --gc-scope registry (global options) their additions are included.\nThe password is a placeholder: replace <password>.',
  )
  command.action((_options, cmd) => {
    const opts = cmd.optsWithGlobals()
    const features = [
      ...(opts.functions ? ['functions'] : []),
      ...optional.filter((f) => opts.all || opts[f.name] || (f.name === 'registry' && opts.gcScope === 'registry')).map((f) => f.name),
      ...(opts.all || opts.cluster ? ['cluster'] : []),
    ]
    const rule = aclRule(opts.prefix, features)
    const line = `ACL SETUSER ${opts.user} on ><password> ${rule}`
    const out = output(opts, io)
    out.result({ user: opts.user, prefix: opts.prefix, features: ['store', ...features], rule, command: line }, () => line)
  })
}

/** A TCP port: an integer from 0 (any free one) to 65535. */
function portNumber(value) {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535')
  return n
}

/** board: the session board on loopback until interrupted. */
function addBoardCommand(program, withStore) {
  program
    .command('board')
    .description('serve the session board (users, sessions, lineages, stats; end sessions) on 127.0.0.1, behind a random access token printed once')
    .option('--port <port>', 'the port to listen on (default: a free one)', portNumber, 0)
    .option('--read-only', 'show everything, end nothing')
    .action(
      withStore(async ({ store, opts, out }) => {
        const board = await serveBoard({ store, port: opts.port, readOnly: Boolean(opts.readOnly) })
        out.result({ url: board.url, accessUrl: board.accessUrl }, () =>
          [
            `${out.c.green('session board')} on ${board.url}${opts.readOnly ? ' (read-only)' : ''}`,
            `open ${board.accessUrl}`,
            out.c.dim('The token in that link is shown only here; the browser keeps it in a cookie. Ctrl-C stops.'),
          ].join('\n'),
        )
        // Until interrupted; then the store closes.
        await new Promise((resolve) => {
          const stop = () => {
            for (const signal of ['SIGINT', 'SIGTERM']) process.off(signal, stop)
            board.close().then(resolve)
          }
          for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, stop)
        })
      }),
    )
}

/** The program's name, version, global options, output streams and closing help. */
function addGlobalOptions(program, io, { json }) {
  program
    .name('redis-session-store')
    .description('Inspect and manage refresh-token session lineages kept in Redis by redis-session-store-native.')
    .version(version, '-V, --version')
    .option('--url <url>', `Redis URL (default: $REDIS_URL, then ${DEFAULT_URL})`)
    .option('--prefix <prefix>', 'key prefix of the store', 'auth')
    .option('--cluster', 'the URL is a node of a Redis Cluster (the cluster key layout)')
    .addOption(
      new Option('--gc-scope <scope>', "the store's gcScope, as the application sets it: 'registry' keeps the registry of users (gc walks it)").choices([
        'keyspace',
        'registry',
      ]),
    )
    .option('--json', 'print machine-readable JSON instead of text')
    .option('--no-color', 'never colour the output (colour is only used on a TTY anyway)')
    .addOption(new Option('--timeout <ms>', 'command and connect timeout in milliseconds').default(2000).argParser(positiveNumber))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // With --json a usage error is reported as JSON by run(), not as text.
      writeErr: (s) => {
        if (!json) io.stderr.write(s)
      },
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 done, 1 operation refused (unknown rid, replay, binding, expired),
2 usage or connection error. Colour only on a TTY (NO_COLOR / FORCE_COLOR respected).

Examples:
  $ redis-session-store list alice
  $ redis-session-store inspect 6f1c2d3e-... --json
  $ REDIS_URL=redis://cache:6379 redis-session-store gc --dry-run`,
    )
}

/** Wraps a command body into an action that makes a store from the global options and closes it afterwards. */
function storeRunner(io) {
  return (body) =>
    async (...args) => {
      const command = args[args.length - 1]
      const opts = command.optsWithGlobals()
      const out = output(opts, io)
      const urlFromEnv = opts.url === undefined && io.env.REDIS_URL !== undefined
      let store
      try {
        store = createRedisStore({
          url: opts.url ?? io.env.REDIS_URL ?? DEFAULT_URL,
          prefix: opts.prefix,
          absTtlSeconds: DEFAULT_TTL,
          commandTimeoutMs: opts.timeout,
          connectTimeoutMs: opts.timeout,
          ...(opts.cluster ? { cluster: true } : {}),
          ...(opts.gcScope ? { gcScope: opts.gcScope } : {}),
        })
      } catch (err) {
        // The store names its `cfg` fields; here they came from options.
        if (err instanceof TypeError) err.message = err.message.replace(/^cfg\.(\w+)/, (_, field) => optionName(field, { urlFromEnv }))
        throw err
      }
      /** A note for an empty result: a mistyped --prefix looks exactly like an empty store. */
      const prefixNote = async () => {
        const hasKeys = await store.prefixHasKeys().catch(() => true)
        return hasKeys ? null : `the prefix ${JSON.stringify(opts.prefix)} holds no keys at all: is --prefix right? (default: auth)`
      }
      const notePrefix = async () => {
        const note = await prefixNote()
        if (note) io.stderr.write(`note: ${note}\n`)
      }
      try {
        await body({ store, opts, out, notePrefix, args: args.slice(0, -2) })
      } catch (err) {
        if (err?.code === 'ERR_NOT_FOUND') err.note = await prefixNote()
        throw err
      } finally {
        await store.close()
      }
    }
}

/** issue and rotate: the two calls an application makes. */
function addTokenCommands(program, withStore) {
  program
    .command('issue')
    .description('issue the first session of a new lineage for a user')
    .argument('<userId>', 'the user')
    .option('--device <deviceId>', 'bind the session to a device')
    .option('--ua-hash <hash>', 'bind the session to a user-agent hash')
    .option('--ip-hash <hash>', 'bind the session to an IP hash')
    .option('--ttl <seconds>', 'absolute lifetime of the lineage', positiveNumber, DEFAULT_TTL)
    .addOption(clockOption())
    .action(
      withStore(async ({ store, opts, out, args: [userId] }) => {
        const at = opts.now ?? now()
        const issued = await store.issueInitial(userId, { now: at, absTtlSeconds: opts.ttl, ...binding(opts) })
        out.result({ userId, ...issued }, () =>
          [
            `${out.c.green('issued')} ${issued.rid}`,
            `  user      ${userId}`,
            ...(opts.device ? [`  device    ${opts.device}`] : []),
            `  expires   ${time(issued.absExp)} (${relative(issued.absExp, at)}, absolute)`,
          ].join('\n'),
        )
      }),
    )

  program
    .command('rotate')
    .description('verify a refresh rid and rotate it into a new one (a used rid is refused as a replay)')
    .argument('<rid>', 'the refresh rid to present')
    .option('--device <deviceId>', 'the device presenting it (checked against the binding)')
    .option('--ua-hash <hash>', 'the user-agent hash presenting it')
    .option('--ip-hash <hash>', 'the IP hash presenting it')
    .addOption(clockOption())
    .action(
      withStore(async ({ store, opts, out, args: [rid] }) => {
        const rotated = await store.verifyAndRotateRefresh({ rid, now: opts.now ?? now(), ...binding(opts) })
        out.result(rotated, () =>
          [
            `${out.c.green('rotated')} ${rid}`,
            `     into ${rotated.newRid.rid}`,
            `  user      ${rotated.userId}`,
            `  expires   ${time(rotated.newRid.absExp)} (absolute)`,
          ].join('\n'),
        )
      }),
    )
}

/** get, list and inspect: one session, a user's active sessions, a whole lineage. */
function addReadCommands(program, withStore) {
  program
    .command('get')
    .description("print a session's stored fields")
    .argument('<rid>', 'the rid')
    .action(
      withStore(async ({ store, out, args: [rid] }) => {
        const hash = found(await store.getRid(rid))
        const at = now()
        out.result(hash, () => {
          const names = Object.keys(hash)
          const w = Math.max(...names.map((n) => n.length))
          return names
            .map((name) => {
              const value = hash[name]
              const shown =
                ['createdAt', 'expAt', 'absExpAt'].includes(name) && /^\d+$/.test(value)
                  ? `${value}  ${out.c.dim(`${time(Number(value))}, ${relative(Number(value), at)}`)}`
                  : name === 'status'
                    ? statusColor(value, out.c)(value)
                    : value === ''
                      ? out.c.dim('""')
                      : value
              return `${name.padEnd(w)}  ${shown}`
            })
            .join('\n')
        })
      }),
    )

  program
    .command('list')
    .description("table of a user's active sessions: session id, rid, device, created, expires, age")
    .argument('<userId>', 'the user')
    .action(
      withStore(async ({ store, out, notePrefix, args: [userId] }) => {
        const sessions = await store.listSessions(userId)
        const at = now()
        out.result(sessions, () => {
          if (sessions.length === 0) return `no active sessions for user ${userId}`
          const rows = sessions.map((s) => [s.sessionId, s.rid, s.deviceId || out.c.dim('-'), time(s.createdAt), time(s.absExpAt), duration(at - s.createdAt)])
          return `${table(
            [{ title: 'SESSION' }, { title: 'RID' }, { title: 'DEVICE' }, { title: 'CREATED' }, { title: 'EXPIRES' }, { title: 'AGE', align: 'right' }],
            rows,
            out.c,
          )}\n${out.c.dim(`${sessions.length} active session${sessions.length === 1 ? '' : 's'} of user ${userId} (EXPIRES: absolute expiry)`)}`
        })
        if (sessions.length === 0) await notePrefix()
      }),
    )

  program
    .command('inspect')
    .description('show the whole lineage of a rid as a tree, ancestors to descendants, the active leaf marked')
    .argument('<rid>', 'any rid of the lineage')
    .addHelpText('after', '\nUse it on a rid refused as a replay: the tree shows when that rid was rotated and which session holds the lineage now.')
    .action(
      withStore(async ({ store, out, args: [rid] }) => {
        const lineage = found(await store.inspectLineage(rid))
        out.result(lineage, () => renderLineage(lineage, { color: out.color }))
      }),
    )
}

/** logout, logout-lineage, logout-device and logout-all: each ends what it names. */
function addLogoutCommands(program, withStore) {
  program
    .command('logout')
    .description('end one session: that rid can no longer be rotated')
    .argument('<rid>', 'the rid')
    .addHelpText(
      'after',
      '\nA used rid (one already rotated) ends its whole lineage, the active descendant included:\nwhoever received the token that replaced it is logged out too.',
    )
    .action(
      withStore(async ({ store, out, args: [rid] }) => {
        const before = found(await store.getRid(rid))
        await store.logout(rid)
        out.result(
          { rid, userId: before.userId, previousStatus: before.status },
          () => `${out.c.green('logged out')} ${rid} (user ${before.userId}, was ${before.status})`,
        )
      }),
    )

  program
    .command('logout-lineage')
    .description('end the whole lineage of a rid: its ancestors, the rid and every descendant, the active one included')
    .argument('<rid>', 'any rid of the lineage')
    .addHelpText('after', '\nUse it when a refresh token leaked: no session of that lineage can rotate afterwards.')
    .action(
      withStore(async ({ store, out, args: [rid] }) => {
        const before = found(await store.inspectLineage(rid))
        await store.tombstoneLineage(rid)
        const ended = before.sessions.filter((s) => s.status !== 'tombstoned').map((s) => s.rid)
        const active = before.sessions.filter((s) => s.status === 'active').map((s) => s.rid)
        out.result({ rid, userId: before.userId, ended, endedActive: active }, () =>
          [
            `${out.c.green('ended the lineage')} of ${rid} (user ${before.userId}): ${plural(ended.length, 'session')} ended` +
              (ended.length < before.sessions.length ? `, ${before.sessions.length - ended.length} already ended` : ''),
            ...active.map((r) => `  active session ended: ${r}`),
          ].join('\n'),
        )
      }),
    )

  program
    .command('logout-session')
    .description("end one of a user's sessions by its session id (from list): its whole lineage")
    .argument('<userId>', 'the user')
    .argument('<sessionId>', 'the session id')
    .action(
      withStore(async ({ store, out, args: [userId, sessionId] }) => {
        found(await store.logoutSession(userId, sessionId))
        out.result({ userId, sessionId, ended: true }, () => `${out.c.green('logged out')} session ${sessionId} of user ${userId}`)
      }),
    )

  program
    .command('logout-others')
    .description('end every active session of a user but one, named by its session id (from list)')
    .argument('<userId>', 'the user')
    .argument('<keepSessionId>', 'the session id to keep')
    .addHelpText('after', "\nEnds nothing when the session to keep is not one of the user's active sessions.")
    .action(
      withStore(async ({ store, out, args: [userId, keepSessionId] }) => {
        const ended = await store.logoutOtherSessions(userId, keepSessionId)
        out.result({ userId, keepSessionId, ended }, () => `${out.c.green('ended')} ${plural(ended, 'other session')} of user ${userId}`)
      }),
    )

  program
    .command('logout-device')
    .description('end every active session of a user on one device')
    .argument('<userId>', 'the user')
    .argument('<deviceId>', 'the device')
    .action(
      withStore(async ({ store, out, notePrefix, args: [userId, deviceId] }) => {
        const ended = await store.logoutDeviceCounted(userId, deviceId)
        out.result({ userId, deviceId, ended }, () =>
          ended === 0
            ? `no active sessions of user ${userId} on device ${deviceId}`
            : `${out.c.green('logged out')} ${ended} session${ended === 1 ? '' : 's'} of user ${userId} on device ${deviceId}`,
        )
        if (ended === 0) await notePrefix()
      }),
    )

  program
    .command('logout-all')
    .description('end every session of a user')
    .argument('<userId>', 'the user')
    .action(
      withStore(async ({ store, out, notePrefix, args: [userId] }) => {
        const ended = await store.logoutAllCounted(userId)
        out.result({ userId, ended }, () =>
          ended === 0 ? `no active sessions of user ${userId}` : `${out.c.green('logged out')} all ${ended} session${ended === 1 ? '' : 's'} of user ${userId}`,
        )
        if (ended === 0) await notePrefix()
      }),
    )
}

/** gc and migrate: upkeep of the keyspace. `io.stderr` gets gc's progress line. */
function addMaintenanceCommands(program, withStore, io) {
  program
    .command('gc')
    .description('garbage-collect: drop stale index members, delete dead or old ended sessions, re-index live ones')
    .option('--dry-run', 'count what would change, write nothing')
    .option('--grace <seconds>', 'keep used/tombstoned sessions this long past their absolute expiry', nonNegativeNumber, 0)
    .addHelpText('after', '\nOn a TTY a progress line shows the keys scanned so far (the keyspace is streamed with SCAN).')
    .action(
      withStore(async ({ store, opts, out, notePrefix }) => {
        const progress = io.stderr.isTTY && !opts.json ? progressLine(io.stderr) : null
        let report
        try {
          report = await store.gcOrphansWithProgress({ dryRun: Boolean(opts.dryRun), graceSeconds: opts.grace }, (r) =>
            progress?.update(`gc${opts.dryRun ? ' (dry run)' : ''}: scanned ${count(r.scannedUserSets)} user indexes, ${count(r.scannedRids)} rid hashes…`),
          )
        } finally {
          progress?.done()
        }
        const [removed, reindexed, deleted] = report.dryRun ? ['would remove', 'would re-index', 'would delete'] : ['removed', 're-indexed', 'deleted']
        const row = (label, text) => `  ${label.padEnd(16)}${text}`
        out.result(report, () =>
          [
            out.c.bold(report.dryRun ? 'gc (dry run, nothing written)' : 'gc'),
            row('scanned', `${plural(report.scannedUserSets, 'user index', 'user indexes')}, ${plural(report.scannedRids, 'rid hash', 'rid hashes')}`),
            row(removed, plural(report.removedFromSets, 'stale index member')),
            row(reindexed, `${plural(report.addedToSets, 'active session')} missing from their index`),
            row(deleted, `${plural(report.deletedRidHashes, 'rid hash', 'rid hashes')} (no userId, or ended and past absolute expiry + grace)`),
          ].join('\n'),
        )
        if (report.scannedUserSets === 0 && report.scannedRids === 0) await notePrefix()
      }),
    )

  program
    .command('migrate')
    .description('copy the sessions of a single node into the cluster at --url (with --cluster); repeatable')
    .requiredOption('--from <url>', 'the old single node (the original key layout)')
    .option('--from-prefix <prefix>', 'key prefix on the old node (default: --prefix)')
    .option('--dry-run', 'count what would be copied, write nothing')
    .addHelpText(
      'after',
      '\nRun it before switching the application to the cluster and again after: sessions that changed on the\n' +
        'old node in between catch up, ended sessions never come back, and old rids keep working on the cluster.',
    )
    .action(
      withStore(async ({ store, opts, out }) => {
        const report = await store.migrateFrom({ url: opts.from, prefix: opts.fromPrefix, dryRun: Boolean(opts.dryRun) })
        out.result(report, () =>
          [
            out.c.bold(report.dryRun ? 'migrate (dry run, nothing written)' : 'migrate'),
            `  scanned         ${plural(report.scanned, 'rid hash', 'rid hashes')} on the old node`,
            `  ${(report.dryRun ? 'would copy' : 'copied').padEnd(16)}${plural(report.copied, 'session')}`,
            `  advanced        ${plural(report.advanced, 'session')} ended on the old node since the last copy`,
            `  unchanged       ${plural(report.unchanged, 'session')}`,
            `  skipped         ${plural(report.skipped, 'hash', 'hashes')} (no userId, or past absolute expiry)`,
          ].join('\n'),
        )
      }),
    )
}

/** stats and audit: what the keyspace holds and what happened to it. */
function addReportCommands(program, withStore) {
  program
    .command('stats')
    .description('sessions by status, users, keys and their memory (SCAN + MEMORY USAGE)')
    .action(
      withStore(async ({ store, out, notePrefix }) => {
        const s = await store.keyspaceStats()
        out.result(s, () => {
          const c = out.c
          const keys = table(
            [{ title: 'KEYS' }, { title: 'COUNT', align: 'right' }, { title: 'MEMORY', align: 'right' }],
            [
              ['rid hashes', count(s.ridKeys), bytes(s.ridBytes)],
              ['user indexes', count(s.userKeys), bytes(s.userBytes)],
              ['device keys', count(s.deviceKeys), bytes(s.deviceBytes)],
              [c.bold('total'), c.bold(count(s.ridKeys + s.userKeys + s.deviceKeys)), c.bold(bytes(s.ridBytes + s.userBytes + s.deviceBytes))],
            ],
            c,
          )
          const statuses = Object.entries(s.sessionsByStatus)
          const byStatus = table(
            [{ title: 'SESSIONS' }, { title: 'COUNT', align: 'right' }],
            statuses.length ? statuses.map(([status, n]) => [statusColor(status, c)(status), count(n)]) : [[c.dim('(none)'), '0']],
            c,
          )
          return `${byStatus}\n\n${keys}\n\nusers with an index: ${count(s.userKeys)} · indexed sessions: ${count(s.indexedMembers)}`
        })
        if (s.ridKeys + s.userKeys + s.deviceKeys === 0) await notePrefix()
      }),
    )

  // audit: reads the audit stream a store with cfg.audit writes (newest first).
  program
    .command('audit')
    .description('the newest entries of the audit stream (stores created with cfg.audit), newest first')
    .argument('[userId]', "only this user's entries (required with --cluster)")
    .addOption(new Option('--count <n>', 'how many entries, 1 to 10000').default(50).argParser(auditCount))
    .action(
      withStore(async ({ store, out, opts, args: [userId] }) => {
        const entries = await store.readAudit({ ...(userId === undefined ? {} : { userId }), count: opts.count })
        out.result(entries, () => {
          if (entries.length === 0) return `no audit entries${userId === undefined ? '' : ` for user ${userId}`}`
          const rows = entries.map((e) => [
            time(e.time),
            e.event,
            e.userId,
            e.rid,
            e.deviceId || out.c.dim('-'),
            e.reason || (e.childRid ? `→ ${e.childRid}` : out.c.dim('-')),
          ])
          return table(
            [{ title: 'TIME' }, { title: 'EVENT' }, { title: 'USER' }, { title: 'RID' }, { title: 'DEVICE' }, { title: 'REASON / CHILD' }],
            rows,
            out.c,
          )
        })
      }),
    )
}

/** A single status line rewritten in place on a TTY, at most every 100 ms. */
function progressLine(stream) {
  let last = 0
  let shown = false
  return {
    update(text) {
      const t = Date.now()
      if (t - last < 100) return
      last = t
      shown = true
      stream.write(`\r\x1b[2K${text}`)
    },
    done() {
      if (shown) stream.write('\r\x1b[2K')
    },
  }
}

/** Runs the CLI; resolves to the exit code. */
export async function run(argv = process.argv, io = { stdout: process.stdout, stderr: process.stderr, env: process.env }) {
  const json = argv.includes('--json')
  const program = buildProgram(io, { json })
  try {
    await program.parseAsync(argv)
    return EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK
      // Text mode: commander has printed the message.
      if (json) io.stdout.write(`${JSON.stringify({ error: { message: err.message.replace(/^error: /, ''), code: 'ERR_USAGE' } }, null, 2)}\n`)
      return EXIT_USAGE
    }
    // The store names its input fields; here they came from options.
    if (err instanceof TypeError && err.code === 'ERR_INVALID_ARG')
      err.message = err.message.replace(/^input\.(\w+)/, (whole, field) => INPUT_OPTIONS[field] ?? whole)
    const refused = REFUSALS.has(err?.code)
    const code = refused ? EXIT_REFUSED : EXIT_USAGE
    const note = err?.note ?? null
    if (json) {
      const error = { message: err?.message ?? String(err), code: err?.code ?? null, ...(note ? { note } : {}) }
      io.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`)
    } else {
      const c = palette(wantsColor(io.stderr, io.env) && !argv.includes('--no-color'))
      const label = refused ? c.yellow('refused:') : c.red('error:')
      const hint = HINTS[err?.code]
      io.stderr.write(`${label} ${err?.message ?? err}${hint ? ` — ${hint}` : ''}\n${note ? `note: ${note}\n` : ''}`)
    }
    return code
  }
}

// Run when executed (directly or through the npm bin link), not when imported.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : null
if (invoked === fileURLToPath(import.meta.url)) {
  // A reader that stops early (`redis-session-store --help | head`) closes the pipe: stop
  // quietly, as other command-line tools do, instead of dying on an unhandled EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => {
      if (err.code !== 'EPIPE') throw err
      process.exit(process.exitCode ?? EXIT_OK)
    })
  }
  process.exitCode = await run()
}
