// Packaging: `npm pack` the package as it would be published, install the tarball into
// an empty project (with this platform's binary package, as npm does from the
// optionalDependencies napi pre-publish writes), then use it from there: import (ESM),
// require (CJS), a TypeScript consumer, and the CLI.
//
// The binary is not put in the main tarball: like a release, it travels in its
// per-platform package (npm/<platform>/). The test copies the locally built .node into
// a temporary copy of that package directory and packs it too.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisUrl, uniquePrefix } from '../shared/helpers.mjs'

const url = await redisUrl()
const root = fileURLToPath(new URL('../..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** This machine's napi platform name (`linux-x64-gnu`, `darwin-arm64`, ...). */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const musl = !process.report?.getReport()?.header?.glibcVersionRuntime
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const work = mkdtempSync(join(tmpdir(), 'rss-pack-'))
after(() => rmSync(work, { recursive: true, force: true }))

const run = (command, args, options = {}) => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })

/** A binary of a local build in the package root. `files` admits it, for installs from a
 * git URL (whose `prepare` step builds one); a release tree never holds one. */
const localBuild = /^redis-session-store-native\.[\w-]+\.node$/

/** The package as a release packs it: the files `npm pack` takes, minus a local build. */
function releaseTree() {
  const dir = join(work, 'release-tree')
  if (existsSync(dir)) return dir
  const [listing] = JSON.parse(run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root }))
  for (const { path } of listing.files) {
    if (localBuild.test(path)) continue
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    cpSync(join(root, path), join(dir, path))
  }
  return dir
}

test('the published file list holds only what runs', () => {
  assert.ok(pkg.files.includes('redis-session-store-native.*.node'), 'a local build can ride along in a git install')
  const [listing] = JSON.parse(run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: releaseTree() }))
  const files = listing.files.map((f) => f.path).sort()
  const required = [
    'board.d.ts',
    'board.mjs',
    'board/data.mjs',
    'board/handler.mjs',
    'board/html.mjs',
    'board/pages.mjs',
    'board/routes.mjs',
    'cli/board.mjs',
    'cli/format.mjs',
    'cli/main.mjs',
    'cli/tree.mjs',
    'index.d.ts',
    'index.js',
    'index.mjs',
    'js-binding.d.ts',
    'js-binding.js',
    'package.json',
    'promised.js',
  ]
  const alwaysIncludedByNpm = /^(README|LICENSE|LICENCE|CHANGELOG)(\.\w+)?$/i
  assert.deepEqual(
    files.filter((f) => !alwaysIncludedByNpm.test(f)),
    required,
  )
  assert.ok(!files.some((f) => /(^__test__|^bench|^crates|^src|^target|^lua|^npm|\.rs$|\.node$)/.test(f)), files.join(', '))
  assert.deepEqual(pkg.bin, { 'redis-session-store': 'cli/main.mjs' })
  assert.ok(pkg.exports['.'].types && pkg.exports['.'].import && pkg.exports['.'].require)
  assert.deepEqual(pkg.exports['./board'], { types: './board.d.ts', import: './board.mjs' })
  assert.deepEqual(pkg.peerDependenciesMeta, { '@opentelemetry/api': { optional: true } })
  assert.ok(pkg.engines.node)
  assert.equal(pkg.dependencies.commander.startsWith('^13'), true, 'commander 13')
  assert.equal(pkg.scripts.prepublishOnly, 'node scripts/build-native.mjs --before-publish', 'a local build is never published')
})

test('every napi target has its per-platform package', () => {
  const expected = ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'linux-x64-musl', 'win32-x64-msvc']
  assert.deepEqual(readdirSync(join(root, 'npm')).sort(), expected)
  for (const dir of expected) {
    const sub = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
    assert.equal(sub.name, `${pkg.name}-${dir}`)
    assert.equal(sub.version, pkg.version)
    assert.deepEqual(sub.files, [`${pkg.napi.binaryName}.${dir}.node`])
    assert.equal(sub.main, sub.files[0])
  }
})

test('the packed tarballs install into an empty project and work from ESM, CJS, TypeScript and the CLI', async () => {
  const name = platformName()
  const binary = join(root, `${pkg.napi.binaryName}.${name}.node`)
  assert.ok(existsSync(binary), `build the addon first (npm run build): ${binary} is missing`)

  // The main package, as `npm publish` would pack it.
  const packs = join(work, 'packs')
  mkdirSync(packs)
  run(npm, ['pack', '--ignore-scripts', '--pack-destination', packs], { cwd: releaseTree() })
  // This platform's binary package, with the local build in it.
  const platformDir = join(work, name)
  cpSync(join(root, 'npm', name), platformDir, { recursive: true })
  cpSync(binary, join(platformDir, `${pkg.napi.binaryName}.${name}.node`))
  run(npm, ['pack', '--ignore-scripts', '--pack-destination', packs], { cwd: platformDir })
  const tarballs = readdirSync(packs).map((f) => join(packs, f))
  assert.equal(tarballs.length, 2, tarballs.join(', '))
  const mainTarball = tarballs.find((t) => t.includes(`${pkg.name}-${pkg.version}.tgz`))
  assert.ok(mainTarball, 'main tarball')
  const listing = run('tar', ['-tzf', mainTarball])
  assert.ok(!/\.node$/m.test(listing), 'no binary in the main tarball')

  const app = join(work, 'app')
  cpSync(join(root, '__test__', 'fixtures', 'pack-app'), app, { recursive: true })
  run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', ...tarballs], { cwd: app })
  assert.ok(existsSync(join(app, 'node_modules', pkg.name, 'cli', 'main.mjs')))
  assert.ok(!existsSync(join(app, 'node_modules', pkg.name, 'src')), 'no sources installed')

  const env = { ...process.env, REDIS_URL: url, PREFIX: uniquePrefix('pack') }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  const esm = JSON.parse(run(process.execPath, ['esm.mjs'], { cwd: app, env }))
  assert.equal(esm.loadedFrom, join(app, 'node_modules', `${pkg.name}-${name}`, `${pkg.napi.binaryName}.${name}.node`))
  assert.equal(esm.status, 'used')
  assert.equal(esm.sameAsDefault, true)
  const cjs = JSON.parse(run(process.execPath, ['cjs.cjs'], { cwd: app, env }))
  assert.deepEqual(cjs, { rids: 1, replay: 'ERR_REPLAY' })

  // TypeScript: the installed types, resolved through `exports`, check a consumer.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app })
  // ...and reject a wrong one, so the check above means something.
  writeFileSync(join(app, 'wrong.ts'), "import { createRedisStore } from 'redis-session-store-native'\ncreateRedisStore({ url: 1, absTtlSeconds: 60 })\n")
  assert.throws(
    () => run(process.execPath, [tsc, '-p', join(app, 'tsconfig.wrong.json')], { cwd: app }),
    (err) => /wrong\.ts.*TS2322/.test(err.stdout),
  )

  // The CLI through npm's bin link.
  const bin = join(app, 'node_modules', '.bin', process.platform === 'win32' ? 'redis-session-store.cmd' : 'redis-session-store')
  const help = run(bin, ['--help'], { cwd: app, env })
  assert.match(help, /^Usage: redis-session-store \[options\] \[command\]/)
  const list = run(bin, ['--prefix', env.PREFIX, 'list', 'esm-user', '--json'], { cwd: app, env })
  assert.equal(JSON.parse(list).length, 1)
})
