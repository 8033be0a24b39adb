#!/usr/bin/env node
// The one way the addon gets built: `npm run build`, the `prepare` step of an install from
// source, `npm test` and `npm run demo` all come here, and only here is napi-rs's CLI run.
//
//   node scripts/build-native.mjs                 the `prepare` step: build when no binary loads
//   node scripts/build-native.mjs --when-stale    build when a source is newer than the binary
//                                                 (`npm test`, `npm run demo`)
//   node scripts/build-native.mjs --force         build (`npm run build`)
//   node scripts/build-native.mjs --before-publish
//                                                 the `prepublishOnly` step (below)
// --debug builds the debug profile; --quiet captures the build's output and prints it only
// when the build fails; any other argument goes to `napi build` (the release workflow
// passes --target and its cross-compiling flags that way).
//
// npm runs `prepare` after `npm install` / `npm ci` in a clone, and, for
// `npm install git+https://…` (or any git URL), in a temporary clone in which npm has
// installed the devDependencies first; it then packs that clone (`files` admits the
// built `redis-session-store-native.<platform>.node`) and installs the tarball. So the
// build tooling (@napi-rs/cli) is needed only there and stays a devDependency; Rust
// (cargo) must be on PATH. An install from the registry never runs this: it gets the
// prebuilt binary package instead. The step does nothing when the binary loads already,
// nothing for `npm pack` / `npm publish` (a tarball never gets a local build through
// here), and nothing with RSS_NATIVE_SKIP_BUILD=1 (the release workflow builds each
// target itself).
//
// `--before-publish` refuses to publish from a tree holding a local build: a release
// ships each binary in its npm/<platform> package only.
//
// This file imports nothing but Node's own modules: the prepare step runs before anything
// else of the package is known to work.

import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)
/** What the addon is built from: the Rust sources, the Lua scripts, the manifests. */
const SOURCES = ['src', 'crates/core/src', 'lua', 'Cargo.toml', 'Cargo.lock', 'crates/core/Cargo.toml', 'build.rs', 'package.json']
/** This script's own flags; every other argument is handed to `napi build`. */
const OWN_FLAGS = ['--when-stale', '--force', '--before-publish', '--debug', '--quiet']

const say = (text) => process.stderr.write(`redis-session-store-native: ${text}\n`)

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)))
  return newest
}

/** The built addon files of this checkout (any platform's), or [] before the first build. */
function builtAddons() {
  return readdirSync(ROOT).filter((f) => /^redis-session-store-native\..+\.node$/.test(f))
}

/** Why a build is needed, or null when the built addon is up to date. */
export function staleReason() {
  const addons = builtAddons()
  if (addons.length === 0) return 'no built addon'
  const built = Math.min(...addons.map((f) => statSync(join(ROOT, f)).mtimeMs))
  const sources = Math.max(...SOURCES.filter((s) => existsSync(join(ROOT, s))).map((s) => newestMtime(join(ROOT, s))))
  return sources > built ? 'sources changed since the last build' : null
}

/** Runs `napi build` with the project's flags. Returns { ok, output }. */
export function build({ debug = false, quiet = false, napiArgs = [] } = {}) {
  const cli = require.resolve('@napi-rs/cli/package.json')
  const napi = join(cli, '..', require(cli).bin.napi)
  const args = ['build', '--platform', ...(debug ? [] : ['--release']), '--no-js', '--dts', 'js-binding.d.ts', ...napiArgs]
  const result = spawnSync(process.execPath, [napi, ...args], {
    cwd: ROOT,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` }
}

/** Builds when needed (always with `force`). Returns { built, ok, output, reason }. */
export function buildIfStale({ force = false, quiet = false } = {}) {
  const reason = force ? 'forced' : staleReason()
  if (!reason) return { built: false, ok: true, output: '', reason: 'up to date' }
  return { built: true, reason, ...build({ quiet }) }
}

/** `--before-publish`: exit 1 when a local build would ride along in the tarball. */
function refuseLocalBuild() {
  const local = builtAddons()
  if (local.length > 0) {
    say(`refusing to publish with a local build in the package: ${local.join(', ')}. Binaries ship in the npm/<platform> packages; delete it first.`)
    process.exit(1)
  }
}

/** The `prepare` step: a build only when this platform's binary does not load. */
function prepare() {
  if (['pack', 'publish'].includes(process.env.npm_command) || process.env.RSS_NATIVE_SKIP_BUILD === '1') return
  const loads = () => spawnSync(process.execPath, ['-e', "require('./js-binding.js')"], { cwd: ROOT, stdio: 'ignore' }).status === 0
  if (loads()) return
  const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore', shell: process.platform === 'win32' })
  if (cargo.status !== 0) {
    say('no native binary for this platform, and no Rust toolchain (cargo) on PATH to build one from source.')
    say('Install Rust (https://rustup.rs) and install again, or install the published package with its prebuilt binary.')
    process.exit(1)
  }
  say('no native binary for this platform: building it from source (cargo, release profile; this takes a few minutes)')
  if (!build().ok || !loads()) {
    say('building the addon failed; the output above says why.')
    process.exit(1)
  }
  say('built the native binary.')
}

/** `--force` and `--when-stale`: build (when stale), saying so only when something is wrong. */
function buildFromCommandLine(args) {
  const quiet = args.includes('--quiet')
  const napiArgs = args.filter((a) => !OWN_FLAGS.includes(a))
  const reason = args.includes('--force') ? 'forced' : staleReason()
  if (!reason) {
    if (!quiet) console.error('addon up to date, not rebuilt (node scripts/build-native.mjs --force to rebuild)')
    return
  }
  const { ok, output } = build({ debug: args.includes('--debug'), quiet, napiArgs })
  if (!ok) {
    if (quiet) process.stderr.write(output)
    console.error(`addon build failed (${reason})`)
    process.exit(1)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  if (args.includes('--before-publish')) refuseLocalBuild()
  else if (args.includes('--force') || args.includes('--when-stale')) buildFromCommandLine(args)
  else prepare()
}
