#!/usr/bin/env node
// Builds the addon (`npm run build`) unless the built .node is newer than every source it
// is made from, so `npm test` and `npm run demo` do not run cargo again for nothing.
//   node scripts/build.mjs [--force] [--quiet]
// --quiet captures the build's output and prints it only when the build fails.

import { spawnSync } from 'node:child_process'
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
/** What the addon is built from: the Rust sources, the Lua scripts, the manifests. */
const SOURCES = ['src', 'crates/core/src', 'lua', 'Cargo.toml', 'Cargo.lock', 'crates/core/Cargo.toml', 'build.rs', 'package.json']

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)))
  return newest
}

/** The built addon files of this checkout (any platform's), or [] before the first build. */
function builtAddons() {
  return readdirSync(ROOT)
    .filter((f) => /^redis-session-store-native\..+\.node$/.test(f))
    .map((f) => join(ROOT, f))
}

/** Why a build is needed, or null when the built addon is up to date. */
export function staleReason() {
  const addons = builtAddons()
  if (addons.length === 0) return 'no built addon'
  const built = Math.min(...addons.map((f) => statSync(f).mtimeMs))
  const sources = Math.max(...SOURCES.filter((s) => existsSync(join(ROOT, s))).map((s) => newestMtime(join(ROOT, s))))
  return sources > built ? 'sources changed since the last build' : null
}

/** Builds when needed. Returns { built, ok, output, reason }. */
export function buildIfStale({ force = false, quiet = false } = {}) {
  const reason = force ? 'forced' : staleReason()
  if (!reason) return { built: false, ok: true, output: '', reason: 'up to date' }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['run', '--silent', 'build'], {
    cwd: ROOT,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return { built: true, ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, reason }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  const quiet = args.includes('--quiet')
  const { built, ok, output, reason } = buildIfStale({ force: args.includes('--force'), quiet })
  if (!built) {
    if (!quiet) console.error('addon up to date, not rebuilt (node scripts/build.mjs --force to rebuild)')
  } else if (!ok) {
    if (quiet) process.stderr.write(output)
    console.error(`addon build failed (${reason})`)
    process.exit(1)
  }
}
