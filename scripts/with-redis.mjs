#!/usr/bin/env node
// Runs a command with REDIS_URL pointing at a Redis: the one given, or a throwaway
// server started for the command and stopped after it.
//   node scripts/with-redis.mjs <command> [args...]

import { spawn } from 'node:child_process'
import { redisForRun } from './redis-server.mjs'

const [command, ...args] = process.argv.slice(2)
if (!command) {
  console.error('usage: node scripts/with-redis.mjs <command> [args...]')
  process.exit(2)
}
const redis = await redisForRun()
const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, REDIS_URL: redis.url } })
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await redis.stop()
process.exit(code)
