// The type-level drop-in proof (__test__/types/drop-in.ts) compiles with `tsc --strict`,
// and it can fail: a deliberately wrong file fails on exactly its marked lines, and
// drop-in.ts fails on the expected check against each of several broken copies of
// index.d.ts (a mutation test of the type test).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, symlinkSync, rmSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TYPES = join(ROOT, '__test__', 'types')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

function tsc(args, cwd = ROOT) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, '--pretty', 'false', ...args], { cwd })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

/** tsc diagnostics as { file, line, code }. */
function diagnostics(out) {
  return [...out.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+):/gm)].map((m) => ({
    file: m[1].replaceAll('\\', '/'),
    line: Number(m[2]),
    code: m[3],
  }))
}

/** Line number (1-based) of the declaration `export type <name> =` in text. */
function lineOf(text, name) {
  const index = text.split('\n').findIndex((l) => l.startsWith(`export type ${name} =`))
  assert.notEqual(index, -1, `drop-in.ts declares ${name}`)
  return index + 1
}

// Run both compilations at once: each takes a few seconds.
const positive = tsc(['-p', TYPES])

test('drop-in.ts compiles under tsc --noEmit --strict', async () => {
  const tsconfig = JSON.parse(readFileSync(join(TYPES, 'tsconfig.json'), 'utf8'))
  assert.equal(tsconfig.compilerOptions.strict, true)
  assert.equal(tsconfig.compilerOptions.noEmit, true)
  const { code, out } = await positive
  assert.equal(out.trim(), '', 'no diagnostics')
  assert.equal(code, 0)
})

test('negative/helpers.ts fails on exactly its expect-error lines', async () => {
  const file = join(TYPES, 'negative', 'helpers.ts')
  const lines = readFileSync(file, 'utf8').split('\n')
  const expected = lines.flatMap((l, i) => (l.includes('// expect-error') ? [i + 1] : []))
  assert.ok(expected.length >= 5)
  const { code, out } = await tsc([
    '--noEmit',
    '--strict',
    '--module',
    'esnext',
    '--moduleResolution',
    'bundler',
    '--target',
    'es2022',
    '--types',
    'node',
    file,
  ])
  assert.notEqual(code, 0, 'the deliberately wrong file must not compile')
  const got = diagnostics(out)
  assert.ok(
    got.every((d) => d.code === 'TS2344'),
    out,
  )
  assert.deepEqual(
    [...new Set(got.map((d) => d.line))].sort((a, b) => a - b),
    expected,
    out,
  )
})

// Broken variants of index.d.ts, each with the checks of drop-in.ts it must trip.
const MUTATIONS = [
  { name: 'absExp widened', from: '  absExp: number\n', to: '  absExp: number | string\n', trips: ['CheckRefreshIssue', 'CheckIssueResult'] },
  { name: 'now widened', from: '  now: number\n', to: '  now: number | bigint\n', trips: ['CheckVerifyRotateInput'] },
  { name: 'logoutAll missing', from: '  logoutAll(userId: UserId): Promise<void>\n', to: '', trips: ['CheckStoreAssignable', 'CheckNoMethodMissing'] },
  {
    name: 'logoutDevice param type changed',
    from: 'logoutDevice(userId: string, deviceId: string)',
    to: 'logoutDevice(userId: string, deviceId: number)',
    trips: ['CheckLogoutDeviceParams', 'CheckParamsAccepted'],
  },
  {
    name: 'gcOrphans opts narrowed',
    from: 'gcOrphans(opts?: { dryRun?: boolean; graceSeconds?: number })',
    to: 'gcOrphans(opts?: { dryRun?: boolean })',
    trips: ['CheckParamsSame'],
  },
  { name: 'GCReport without removedRids', from: '  removedRids: number\n', to: '', trips: ['CheckGcReportReadme'] },
  { name: 'GCReport without addedToSets', from: '  addedToSets: number\n', to: '', trips: ['CheckGcReportOriginal'] },
  {
    name: 'getRid narrowed to Record<string, string>',
    from: 'getRid(rid: string): Promise<Record<string, unknown> | null>',
    to: 'getRid(rid: string): Promise<Record<string, string> | null>',
    trips: ['CheckGetRidResult', 'CheckResultsSame'],
  },
  {
    name: 'scanRids result changed',
    from: 'scanRids(userId: UserId): Promise<string[]>',
    to: 'scanRids(userId: UserId): Promise<readonly string[]>',
    trips: ['CheckScanRidsResult'],
  },
  {
    name: 'issueInitial absTtlSeconds made a string',
    from: '& { absTtlSeconds: number }): Promise<RefreshIssue>',
    to: '& { absTtlSeconds: string }): Promise<RefreshIssue>',
    trips: ['CheckIssueParams'],
  },
  { name: 'cfg prefix required', from: '  prefix?: string\n', to: '  prefix: string\n', trips: ['CheckCfgAccepted'] },
  { name: 'close() required on the interface', from: '  close?(): Promise<void>\n', to: '  close(): Promise<void>\n', trips: ['CheckAdditionsOptional'] },
]

test('drop-in.ts fails against each broken copy of index.d.ts', async () => {
  const indexDts = readFileSync(join(ROOT, 'index.d.ts'), 'utf8')
  const dropIn = readFileSync(join(TYPES, 'drop-in.ts'), 'utf8')
  const tmp = mkdtempSync(join(tmpdir(), 'rss-types-'))
  try {
    const files = []
    MUTATIONS.forEach((m, i) => {
      assert.ok(indexDts.includes(m.from), `index.d.ts contains the text mutation "${m.name}" changes`)
      const dir = join(tmp, `m${i}`)
      mkdirSync(join(dir, '__test__', 'types'), { recursive: true })
      writeFileSync(join(dir, 'index.d.ts'), indexDts.replace(m.from, m.to))
      copyFileSync(join(ROOT, 'js-binding.d.ts'), join(dir, 'js-binding.d.ts'))
      copyFileSync(join(TYPES, 'drop-in.ts'), join(dir, '__test__', 'types', 'drop-in.ts'))
      copyFileSync(join(TYPES, 'util.ts'), join(dir, '__test__', 'types', 'util.ts'))
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
      files.push(`m${i}/__test__/types/drop-in.ts`)
    })
    // An unchanged copy as a control: the copying itself must not break anything.
    const control = join(tmp, 'control')
    mkdirSync(join(control, '__test__', 'types'), { recursive: true })
    copyFileSync(join(ROOT, 'index.d.ts'), join(control, 'index.d.ts'))
    copyFileSync(join(ROOT, 'js-binding.d.ts'), join(control, 'js-binding.d.ts'))
    copyFileSync(join(TYPES, 'drop-in.ts'), join(control, '__test__', 'types', 'drop-in.ts'))
    copyFileSync(join(TYPES, 'util.ts'), join(control, '__test__', 'types', 'util.ts'))
    symlinkSync(join(ROOT, 'node_modules'), join(control, 'node_modules'), 'dir')
    files.push('control/__test__/types/drop-in.ts')

    const tsconfig = JSON.parse(readFileSync(join(TYPES, 'tsconfig.json'), 'utf8'))
    tsconfig.compilerOptions.typeRoots = [join(ROOT, 'node_modules', '@types')]
    tsconfig.files = files
    writeFileSync(join(tmp, 'tsconfig.json'), JSON.stringify(tsconfig))
    const { code, out } = await tsc(['-p', tmp], tmp)
    assert.notEqual(code, 0)
    const got = diagnostics(out)
    assert.deepEqual(
      got.filter((d) => d.file.startsWith('control/')),
      [],
      `control copy compiles:\n${out}`,
    )
    MUTATIONS.forEach((m, i) => {
      const mine = got.filter((d) => d.file.startsWith(`m${i}/`))
      assert.ok(mine.length > 0, `mutation "${m.name}" is caught`)
      for (const check of m.trips) {
        const line = lineOf(dropIn, check)
        assert.ok(
          mine.some((d) => d.line === line && d.code === 'TS2344'),
          `mutation "${m.name}" trips ${check} (line ${line}):\n${mine.map((d) => `${d.line} ${d.code}`).join('\n')}`,
        )
      }
    })
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
})
