#!/usr/bin/env node
// The `prepare` step: builds the addon when this package is installed from source and no
// binary for this platform is there yet.
//
// npm runs `prepare` after `npm install` / `npm ci` in a clone, and, for
// `npm install git+https://…` (or any git URL), in a temporary clone in which npm has
// installed the devDependencies first; it then packs that clone (`files` admits the
// built `redis-session-store-native.<platform>.node`) and installs the tarball. So the
// build tooling (@napi-rs/cli) is needed only there and stays a devDependency; Rust
// (cargo) must be on PATH. An install from the registry never runs this: it gets the
// prebuilt binary package instead.
//
// It does nothing when the binary loads already, and nothing for `npm pack` /
// `npm publish` (a tarball never gets a local build through here), or with
// RSS_NATIVE_SKIP_BUILD=1 (the release workflow builds each target itself).
//
// `--before-publish` (the `prepublishOnly` step) refuses to publish from a tree holding a
// local build: a release ships each binary in its npm/<platform> package only.

import { readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const say = (text) => process.stderr.write(`redis-session-store-native: ${text}\n`)

if (process.argv.includes('--before-publish')) {
  const local = readdirSync(root).filter((f) => /^redis-session-store-native\..+\.node$/.test(f))
  if (local.length > 0) {
    say(`refusing to publish with a local build in the package: ${local.join(', ')}. Binaries ship in the npm/<platform> packages; delete it first.`)
    process.exit(1)
  }
  process.exit(0)
}

const skip = ['pack', 'publish'].includes(process.env.npm_command) || process.env.RSS_NATIVE_SKIP_BUILD === '1'
if (skip) process.exit(0)

const loads = () => spawnSync(process.execPath, ['-e', "require('./js-binding.js')"], { cwd: root, stdio: 'ignore' }).status === 0
if (loads()) process.exit(0)

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore', shell: process.platform === 'win32' })
if (cargo.status !== 0) {
  say('no native binary for this platform, and no Rust toolchain (cargo) on PATH to build one from source.')
  say('Install Rust (https://rustup.rs) and install again, or install the published package with its prebuilt binary.')
  process.exit(1)
}

say('no native binary for this platform: building it from source (cargo, release profile; this takes a few minutes)')
const npm = process.env.npm_execpath
const build = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  : spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
if (build.status !== 0 || !loads()) {
  say(`building the addon failed (exit ${build.status ?? build.signal}); the output above says why.`)
  process.exit(1)
}
say('built the native binary.')
