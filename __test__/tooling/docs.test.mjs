// The README, COMPATIBILITY.md and LICENSE against the code: the Node.js versions, the
// types, the input rules and their bounds, every error code with what to do about it,
// the install story, the license. No Redis needed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const read = (f) => readFileSync(join(root, f), 'utf8')
const readme = read('README.md')
const compat = read('COMPATIBILITY.md')
const types = read('index.d.ts')
const pkg = JSON.parse(read('package.json'))

/** The lowest version a semver range like `^20.17.0 || ^22.13.0 || >= 23.5.0` allows. */
const lowest = (range) =>
  range
    .split('||')
    .map((part) =>
      part
        .match(/(\d+)\.(\d+)/)
        .slice(1)
        .map(Number),
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])[0]

test('the Node.js versions in the README are the ones package.json and the build tool require', () => {
  const [major, minor] = lowest(pkg.engines.node)
  const cli = JSON.parse(read('node_modules/@napi-rs/cli/package.json'))
  const [cliMajor, cliMinor] = lowest(cli.engines.node)
  assert.ok(
    major > cliMajor || (major === cliMajor && minor >= cliMinor),
    `engines ${pkg.engines.node} admits a Node.js the build tool (${cli.engines.node}) refuses`,
  )
  assert.match(readme, new RegExp(`\\*\\*Node\\.js ${major}\\.${minor} or later\\*\\*`))
  assert.doesNotMatch(readme, /Node(\.js)? 18\+|Node\.js 18 or later/)
  for (const dir of ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'linux-x64-musl', 'win32-x64-msvc']) {
    assert.equal(JSON.parse(read(`npm/${dir}/package.json`)).engines.node, pkg.engines.node, dir)
  }
  const matrix = [...read('.github/workflows/release.yml').matchAll(/node: \[([^\]]*)\]/g)].map((m) => m[1])
  assert.ok(matrix.length > 0)
  for (const list of matrix) {
    for (const v of list.match(/\d+/g)) assert.ok(Number(v) >= major, `the release workflow tests Node.js ${v}`)
    assert.ok(
      readme.includes(
        `matrix, ${list
          .match(/\d+/g)
          .join(', ')
          .replace(/, (\d+)$/, ' and $1')}`,
      ),
      `README names the workflow's matrix ${list}`,
    )
  }
})

test('the README types getRid and issueInitial as index.d.ts does', () => {
  assert.match(types, /getRid\(rid: string\): Promise<Record<string, unknown> \| null>/)
  assert.match(readme, /`getRid\(rid\)` \| .*`Record<string, unknown> \\\| null`/)
  assert.doesNotMatch(readme, /Record<string, string>/)
  assert.match(types, /issueInitial\(userId: UserId, input: Omit<VerifyRotateInput, 'rid'> & \{ absTtlSeconds: number \}\)/)
  assert.match(readme, /`absTtlSeconds` is required by the types, as in the original/)
  assert.doesNotMatch(readme, /`absTtlSeconds` falls back to `cfg\.absTtlSeconds`\./)
})

test('the README states every input rule, with the bounds the code enforces', () => {
  const input = read('crates/core/src/input.rs')
  const constant = (name) => input.match(new RegExp(`pub const ${name}: \\w+ = ([\\d_]+);`))[1].replaceAll('_', '')
  const nowLimit = constant('NOW_LIMIT')
  const maxTtl = constant('MAX_TTL_SECONDS')
  assert.equal(Number(nowLimit), Date.UTC(10000, 0, 1) / 1000, 'the year 10000')
  assert.equal(Number(constant('MAX_ID_BYTES')), 1024)
  const rules = readme.slice(readme.indexOf('### Input rules'), readme.indexOf('### ', readme.indexOf('### Input rules') + 5))
  for (const text of [
    'a non-empty string of at most 1024 bytes',
    '`null`, numbers and other kinds are refused',
    '`null` is refused',
    `below \`${nowLimit}\``,
    `at most \`${maxTtl}\` (10 years)`,
    'epoch **seconds**',
    '`graceSeconds` a finite number `>= 0`',
    'A method never throws',
  ]) {
    assert.ok(rules.includes(text), `the README's input rules say: ${text}`)
  }
  // COMPATIBILITY.md points to those rules and lists the millisecond refusal as a deviation.
  assert.match(compat, /the README's "Input rules"/)
  assert.match(compat, /\| 13 \| `issueInitial\(u, \{ now: Date\.now\(\), \.\.\. \}\)` \(milliseconds\)/)
  assert.ok(compat.includes(nowLimit) && compat.includes(maxTtl))
})

test('every error code is in the types and in the README, each with what to do', () => {
  const fromRust = [...read('crates/core/src/error.rs').matchAll(/=> "(ERR_[A-Z_]+)"/g)].map((m) => m[1])
  const fromTypes = [...types.matchAll(/\| '(ERR_[A-Z_]+)'/g)].map((m) => m[1])
  const rotateCodes = ['ERR_REPLAY', 'ERR_BINDING', 'ERR_COLLISION', 'ERR_IDLE', 'ERR_SESSION_LIMIT'] // the scripts' reasons
  assert.deepEqual([...new Set([...fromRust, ...rotateCodes])].sort(), [...fromTypes].sort())
  const table = readme.slice(readme.indexOf('### Errors'), readme.indexOf('### Connection'))
  assert.match(table, /\| message \| `code` \| when \| what to do \|/)
  for (const code of fromTypes) {
    const row = table.split('\n').find((line) => line.includes(`| \`${code}\` |`))
    assert.ok(row, `README documents ${code}`)
    const cells = row.split(/(?<!\\)\|/).slice(1, -1)
    assert.equal(cells.length, 4, row)
    assert.ok(cells[3].trim().length > 10, `${code} says what to do`)
  }
  for (const code of ['ERR_NATIVE_BINDING_MISSING', 'ERR_NATIVE_BINDING_LOAD']) {
    assert.ok(readme.includes(code) && read('index.js').includes(`'${code}'`), code)
  }
})

test('the README says how to install before and after publication, and the alias install', () => {
  const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('## Quick start'))
  assert.match(install, /\*\*Not on the npm registry yet\*\*: `npm install redis-session-store-native` answers 404/)
  assert.match(install, /npm install git\+https:/)
  assert.match(install, /npm ci {10}# builds the addon/)
  assert.match(install, /npm install @devcoons\/redis-session-store@npm:redis-session-store-native/)
  assert.match(install, /npm install @devcoons\/redis-session-store@git\+https:/)
  assert.ok(install.includes(pkg.scripts.prepare.split(' ').pop()), 'names the prepare script')
  assert.equal(pkg.scripts.prepare, 'node scripts/build-native.mjs')
  assert.ok(pkg.devDependencies['@napi-rs/cli'], 'the build tool is needed only where devDependencies are installed')
})

test('LICENSE is the MIT license of this project, and ships', () => {
  assert.ok(existsSync(join(root, 'LICENSE')))
  const license = read('LICENSE')
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} redis-session-store-native contributors\n/)
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/)
  assert.equal(pkg.license, 'MIT')
  assert.match(readme, /## License\n\nMIT, see \[LICENSE\]\(LICENSE\)\./)
})
