// Loads one implementation behind the same `createRedisStore(cfg)` surface.
//   original: @devcoons/redis-session-store 0.1.0, from its src/store.ts through tsx
//             (its published dist/ is broken), on ioredis 5
//   native:   this package (index.js), plus the addon's `noop()` benchmarking aid

import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

export const IMPLS = ['original', 'native']

export async function loadImpl(name) {
  if (name === 'native') {
    const { createRedisStore } = require(join(ROOT, 'index.js'))
    const { NativeStore } = require(join(ROOT, 'js-binding.js'))
    return { createRedisStore, NativeStore }
  }
  if (name === 'original') {
    const { tsImport } = await import('tsx/esm/api')
    const storeTs = join(ROOT, 'node_modules/@devcoons/redis-session-store/src/store.ts')
    const mod = await tsImport(pathToFileURL(storeTs).href, import.meta.url)
    return { createRedisStore: mod.createRedisStore ?? mod.default?.createRedisStore }
  }
  throw new Error(`unknown implementation ${name}`)
}

/**
 * Runs `workload` of bench/child.mjs against `impl` in a process of its own, with `cfg`
 * merged into the store's cfg; resolves to what it prints: { result, made } (`made`: the
 * state changes that succeeded, see child.mjs).
 */
export function runChild(url, impl, workload, params, cfg = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench/child.mjs'), impl, workload, JSON.stringify(params)], {
      env: { ...process.env, REDIS_URL: url, BENCH_CFG: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop()
      if (code !== 0 || !line) return reject(new Error(`${impl} ${workload}: child exited ${code}`))
      const { result, made } = JSON.parse(line)
      resolve({ result, made })
    })
  })
}
