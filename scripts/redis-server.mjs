// Starts a throwaway redis-server on a free loopback port, for tests, the demo and the
// benchmark. REDIS_URL, when set, is used instead and nothing is started.

import { spawn, execFileSync } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function hasRedisServer() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

async function waitForPort(port, child, deadlineMs = 10_000) {
  const start = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`)
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true) })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() - start > deadlineMs) throw new Error(`redis-server did not listen on ${port} in time`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * A redis-server process on a free loopback port. `extraArgs` are passed on its command
 * line. Returns { url, port, stop(), kill(signal), restart() }.
 */
export async function startRedis({ port, extraArgs = [] } = {}) {
  if (!hasRedisServer()) {
    throw new Error('redis-server is not on PATH: install it (Debian: apt-get install -y redis-server) or set REDIS_URL')
  }
  port ??= await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'rss-redis-'))
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs]
  let child
  const launch = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' })
    await waitForPort(port, child)
  }
  await launch()
  const handle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() { return child.pid },
    /** Kills the server (data gone) and waits for it to exit. */
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill(signal)
      await exited
    },
    /** Starts it again on the same port. */
    restart: launch,
    async stop() {
      await handle.kill('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return handle
}

/** REDIS_URL when set, otherwise a throwaway server; `stop()` only stops what it started. */
export async function redisForRun() {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {}, started: false }
  const server = await startRedis()
  return { url: server.url, stop: () => server.stop(), started: true }
}
