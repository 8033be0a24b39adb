#!/usr/bin/env node
// `npm test`: builds the addon, then runs the Rust suite and the Node suite against one
// Redis (REDIS_URL, or a throwaway server started here and stopped at the end).

import { spawnSync } from 'node:child_process'
import { redisForRun } from './redis-server.mjs'

function run(label, command, args, env) {
  console.log(`\n== ${label}: ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } })
  if (result.status !== 0) {
    console.error(`== ${label} failed (exit ${result.status ?? result.signal})`)
    return false
  }
  return true
}

if (!run('build', 'npm', ['run', '--silent', 'build'])) process.exit(1)

const redis = await redisForRun()
console.log(`== redis: ${redis.started ? 'throwaway server at ' : ''}${redis.url.replace(/\/\/[^@]*@/, '//***@')}`)
let ok = false
try {
  ok = run('rust', 'cargo', ['test', '-p', 'session-store-core'], { REDIS_URL: redis.url })
  ok = run('node', process.execPath, ['--test', '--test-concurrency=1', '__test__/'], { REDIS_URL: redis.url }) && ok
} finally {
  await redis.stop()
}
process.exit(ok ? 0 : 1)
