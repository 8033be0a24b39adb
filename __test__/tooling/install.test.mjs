// Installing from source, as a first-time user does before the package is published:
// `npm install git+file:///…` of a clone into an empty project builds the addon (the
// `prepare` step, scripts/build-native.mjs) and the result loads from CommonJS and ESM and
// talks to a real Redis. Without a binary, loading fails with one short message naming
// what is missing and the two ways to get it; without Rust, the build step says so.
//
// The clone is a fresh git repository holding this working tree's files (committed or
// not). Its build reuses this checkout's cargo target directory (CARGO_TARGET_DIR), so
// only this package's own crates compile again (about a minute here, once the
// dependencies are built); npm fetches the clone's devDependencies through its cache.
// RSS_SKIP_GIT_INSTALL_TEST=1 skips that one test, for a quick local run.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisUrl, uniquePrefix } from '../shared/helpers.mjs'

const url = await redisUrl()
const root = fileURLToPath(new URL('../..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const work = mkdtempSync(join(tmpdir(), 'rss-install-'))
after(() => rmSync(work, { recursive: true, force: true }))

const has = (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options })
  if (r.status !== 0) assert.fail(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** This package's files as they are in the working tree (tracked and new, not ignored). */
function treeFiles() {
  return run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root })
    .split('\0')
    .filter((f) => f && existsSync(join(root, f)))
}

/** A copy of the files the loader needs, without any binary. */
function loaderOnly(name) {
  const dir = join(work, name)
  mkdirSync(dir)
  for (const f of ['index.js', 'index.mjs', 'promised.js', 'js-binding.js', 'package.json']) cpSync(join(root, f), join(dir, f))
  return dir
}

const platform = (() => {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
})()

test('without a binary, loading fails with one short message: what is missing and the two ways to fix it', () => {
  const dir = loaderOnly('no-binary')
  const cjs = spawnSync(
    process.execPath,
    ['-e', "try { require('./') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, props: Object.keys(e) })) }"],
    { cwd: dir, encoding: 'utf8' },
  )
  const { code, message, props } = JSON.parse(cjs.stdout)
  assert.equal(code, 'ERR_NATIVE_BINDING_MISSING')
  const lines = message.split('\n')
  assert.equal(lines.length, 3, message)
  assert.equal(
    lines[0],
    `redis-session-store-native: no native binary for ${platform} (the package ${pkg.name}-${platform} is not installed). Two ways to fix it:`,
  )
  assert.match(lines[1], new RegExp(`^  1\\. install the prebuilt binary: npm install ${pkg.name}-${platform} `))
  assert.match(lines[2], /^ {2}2\. build it from source: install Rust \(https:\/\/rustup\.rs\), then install this package from a clone or a git URL/)
  assert.doesNotMatch(message, /npm has a bug|optional dependencies \(https/)
  assert.deepEqual(props, ['code'], "the loader's long report is not printed with the error")

  // Uncaught, as a user sees it: the message, then the stack; not the loader's 59 lines.
  const uncaught = spawnSync(process.execPath, ['-e', "require('./')"], { cwd: dir, encoding: 'utf8' })
  assert.notEqual(uncaught.status, 0)
  assert.ok(uncaught.stderr.split('\n').length < 25, uncaught.stderr)
  assert.ok(!uncaught.stderr.includes('cause'), uncaught.stderr)

  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import('./index.mjs').catch((e) => console.log(e.code))"], {
    cwd: dir,
    encoding: 'utf8',
  })
  assert.equal(esm.stdout.trim(), 'ERR_NATIVE_BINDING_MISSING')
})

test('the message lists exactly the platforms that have a binary package', () => {
  const source = readFileSync(join(root, 'index.js'), 'utf8')
  const listed = JSON.parse(source.match(/const prebuilt = (\[[^\]]*\])/)[1].replaceAll("'", '"'))
  assert.deepEqual(listed.sort(), readdirSync(join(root, 'npm')).sort())
})

test('the prepare step explains a missing Rust toolchain, and never builds for pack or publish', () => {
  const dir = loaderOnly('no-rust')
  mkdirSync(join(dir, 'scripts'))
  cpSync(join(root, 'scripts', 'build-native.mjs'), join(dir, 'scripts', 'build-native.mjs'))
  const script = join(dir, 'scripts', 'build-native.mjs')
  const env = { ...process.env, PATH: join(work, 'empty-path'), npm_command: 'install' }
  const r = spawnSync(process.execPath, [script], { cwd: dir, env, encoding: 'utf8' })
  assert.equal(r.status, 1, r.stderr)
  assert.match(r.stderr, /no native binary for this platform, and no Rust toolchain \(cargo\) on PATH to build one from source/)
  assert.match(r.stderr, /Install Rust \(https:\/\/rustup\.rs\)/)
  for (const command of ['pack', 'publish']) {
    const skipped = spawnSync(process.execPath, [script], { cwd: dir, env: { ...env, npm_command: command }, encoding: 'utf8' })
    assert.equal(skipped.status, 0, command)
    assert.equal(skipped.stderr, '', command)
  }
  // With a binary in place it does nothing.
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { cwd: root, env, encoding: 'utf8' })
  assert.equal(built.status, 0, built.stderr)
  assert.equal(built.stderr, '')
  // Publishing from a tree with a local build is refused (releases ship binaries in npm/<platform>).
  writeFileSync(join(dir, `${pkg.name}.${platform}.node`), '')
  const publish = spawnSync(process.execPath, [script, '--before-publish'], { cwd: dir, encoding: 'utf8' })
  assert.equal(publish.status, 1)
  assert.match(publish.stderr, /refusing to publish with a local build/)
})

const skipInstall = process.env.RSS_SKIP_GIT_INSTALL_TEST === '1' ? 'RSS_SKIP_GIT_INSTALL_TEST=1' : !(has('git') && has('cargo')) && 'needs git and cargo'
test('npm install git+file:// of a clone builds the addon; it then works from require, import and the CLI', { skip: skipInstall, timeout: 15 * 60_000 }, () => {
  const clone = join(work, 'clone')
  for (const f of treeFiles()) {
    mkdirSync(dirname(join(clone, f)), { recursive: true })
    cpSync(join(root, f), join(clone, f))
  }
  assert.ok(!readdirSync(clone).some((f) => f.endsWith('.node')), 'the clone has no binary')
  const git = (...args) =>
    run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd: clone })
  git('init', '-q')
  git('add', '-A')
  git('commit', '-q', '-m', 'snapshot')

  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'first-hour', version: '1.0.0', private: true }))
  const env = { ...process.env, CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR ?? join(root, 'target') }
  delete env.RSS_NATIVE_SKIP_BUILD
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', `git+file://${clone}`], { cwd: app, env, timeout: 14 * 60_000 })

  const installed = join(app, 'node_modules', pkg.name)
  assert.ok(existsSync(join(installed, `${pkg.napi.binaryName}.${platform}.node`)), readdirSync(installed).join(', '))
  for (const dir of ['src', 'crates', 'lua', 'scripts', '__test__']) assert.ok(!existsSync(join(installed, dir)), `${dir} is not installed`)
  assert.ok(!existsSync(join(app, 'node_modules', '@napi-rs')), 'the build tooling stays out of the app')

  const prefix = uniquePrefix('git-install')
  const runEnv = { ...process.env, REDIS_URL: url, PREFIX: prefix }
  const cjs = `
    const { createRedisStore } = require('${pkg.name}')
    const store = createRedisStore({ url: process.env.REDIS_URL, prefix: process.env.PREFIX, absTtlSeconds: 600 })
    const now = Math.floor(Date.now() / 1000)
    store.issueInitial('cjs-user', { now, deviceId: 'laptop' })
      .then(({ rid }) => store.verifyAndRotateRefresh({ rid, now, deviceId: 'laptop' }))
      .then((r) => store.getRid(r.newRid.rid))
      .then((h) => { console.log(h.userId, h.status); return store.close() })`
  assert.equal(run(process.execPath, ['-e', cjs], { cwd: app, env: runEnv }).trim(), 'cjs-user active')
  const esm = `
    import { createRedisStore } from '${pkg.name}'
    const store = createRedisStore({ url: process.env.REDIS_URL, prefix: process.env.PREFIX, absTtlSeconds: 600 })
    console.log(JSON.stringify(await store.scanRids('cjs-user')).length > 2, await store.getRid('none'))
    await store.close()`
  assert.equal(run(process.execPath, ['--input-type=module', '-e', esm], { cwd: app, env: runEnv }).trim(), 'true null')
  const bin = join(app, 'node_modules', '.bin', process.platform === 'win32' ? 'redis-session-store.cmd' : 'redis-session-store')
  assert.equal(JSON.parse(run(bin, ['--prefix', prefix, 'list', 'cjs-user', '--json'], { cwd: app, env: runEnv })).length, 1)
})
