// Server containers for the tests, started with the npm `testcontainers` package on the
// Docker engine DOCKER_HOST names (else the default socket). Every container runs in the
// host's network namespace and binds 127.0.0.1 on a free port, so the tests talk to
// loopback only, as with a local process.
//
// Which image a kind runs (first that applies):
//   1. REDIS_IMAGE (redis-* kinds) or VALKEY_IMAGE (valkey-* kinds), when set: pulled by
//      the engine if it does not have it;
//   2. the official image (redis:7, valkey/valkey:9, ...) when the engine already has it;
//   3. an image built here from the kind's registry binary (servers.mjs): `docker import`
//      of a root filesystem holding the binary and the shared libraries it loads. It is
//      built once per binary version and reused; nothing is ever pulled for it.
// Every container carries the label CONTAINER_LABEL with the value of the run that made it
// (RSS_CONTAINER_RUN), so that whatever a crashed test left can be found and removed.
//
//   node scripts/containers.mjs [kind...]   prints the image each kind would run

import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { reportedVersion, serverBinary } from './servers.mjs'
import { waitForPort } from './redis-server.mjs'

/** The label every test container carries; its value names the run that started it. */
export const CONTAINER_LABEL = 'redis-session-store.test-run'

/** How to get an engine, for the messages that say one is missing. */
export const ENGINE_HINT = 'start a Docker engine (Debian, as root: apt-get install -y docker.io, then dockerd in the background) or point DOCKER_HOST at one'

// Without a registry the engine cannot pull the Ryuk reaper image testcontainers starts by
// default; containers are removed by their owners instead, and by label after each run.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true'
// The containers share the host's network, so the host they are reached at is loopback.
// Left to find it, testcontainers run inside a container (a /.dockerenv) may start an
// alpine helper to read the gateway: a pull.
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1'

let runtime
/** The testcontainers module and its engine client; rejects, saying how to get an engine,
 * when none answers. */
export function engine() {
  runtime ??= (async () => {
    const tc = await import('testcontainers')
    try {
      const client = await tc.getContainerRuntimeClient()
      const docker = client.container.dockerode
      await docker.ping()
      // testcontainers falls back to the default socket when DOCKER_HOST does not answer;
      // the Rust crate does not, and both sides must use the same engine.
      const named = process.env.DOCKER_HOST && new URL(process.env.DOCKER_HOST)
      if (named && (named.protocol === 'unix:' ? docker.modem.socketPath !== named.pathname : docker.modem.host !== named.hostname)) {
        throw new Error(`DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`)
      }
      return { tc, client, docker }
    } catch (e) {
      throw new Error(`no Docker engine answers (${e.message.split('\n')[0]}): ${ENGINE_HINT}`)
    }
  })()
  return runtime
}

/** The variable that chooses the image for a kind. */
export const imageVariable = (kind) => (kind.startsWith('valkey') ? 'VALKEY_IMAGE' : 'REDIS_IMAGE')

/** The official image of a kind's version line: redis:7, valkey/valkey:9. */
export const officialImage = (kind) => (kind.startsWith('valkey') ? `valkey/valkey:${kind.slice('valkey-'.length)}` : `redis:${kind.slice('redis-'.length)}`)

/** The name of the image built here from the kind's binary (its version in the tag). */
export function localImage(kind) {
  const version = reportedVersion(serverBinary(kind))?.match(/ v=(\S+) /)?.[1]
  if (!version) throw new Error(`${kind}: cannot read the version of ${serverBinary(kind)}`)
  return `redis-session-store-test/${kind}:${version}`
}

async function hasImage(name) {
  const { tc, client } = await engine()
  return client.image.exists(tc.ImageName.fromString(name))
}

/**
 * The image a kind's containers run, and where it comes from: { image, source }, source
 * being the variable's name, 'official' or 'built here'. Builds the local image when it is
 * the one and the engine does not have it yet.
 */
export async function imageFor(kind) {
  const chosen = process.env[imageVariable(kind)]
  if (chosen) return { image: chosen, source: imageVariable(kind) }
  if (await hasImage(officialImage(kind))) return { image: officialImage(kind), source: 'official' }
  return { image: await ensureLocalImage(kind), source: 'built here' }
}

/** The name of the image built here for a kind, built first when the engine lacks it. */
export async function ensureLocalImage(kind) {
  const image = localImage(kind)
  if (!(await hasImage(image))) await buildLocalImage(kind, image)
  return image
}

/** The shared libraries `ldd` says a binary loads, with the dynamic loader. */
function sharedLibraries(binary) {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((line) => line.match(/=>\s*(\/\S+)/)?.[1] ?? line.trim().match(/^(\/\S+)/)?.[1])
    .filter(Boolean)
}

/** `docker import` of a root filesystem with the kind's binary in /usr/local/bin, its
 * libraries where `ldd` found them, and a writable /data (the working directory). */
async function buildLocalImage(kind, image) {
  const { docker } = await engine()
  const binary = execFileSync('sh', ['-c', 'command -v "$0"', serverBinary(kind)], { encoding: 'utf8' }).trim()
  const root = mkdtempSync(join(tmpdir(), `rss-image-${kind}-`))
  try {
    const place = (from, to) => {
      mkdirSync(dirname(join(root, to)), { recursive: true })
      copyFileSync(from, join(root, to)) // follows symlinks: the file itself goes in
    }
    place(binary, `/usr/local/bin/${basename(binary)}`)
    chmodSync(join(root, 'usr/local/bin', basename(binary)), 0o755)
    for (const lib of sharedLibraries(binary)) place(lib, lib)
    for (const [dir, mode] of [
      ['data', 0o777],
      ['tmp', 0o1777],
    ]) {
      mkdirSync(join(root, dir))
      chmodSync(join(root, dir), mode)
    }
    const [repo, tag] = image.split(':')
    const tar = spawn('tar', ['-C', root, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const stream = await docker.importImage(tar.stdout, { repo, tag, changes: ['ENV PATH=/usr/local/bin', 'WORKDIR /data'] })
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (e) => (e ? reject(e) : resolve())))
    if (!(await hasImage(image))) throw new Error(`${kind}: docker import did not make ${image}`)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/** The run id containers started in this process are labelled with. */
export const runId = () => process.env.RSS_CONTAINER_RUN || `pid-${process.pid}`

/**
 * A server container of `kind` from `image`, in the host's network namespace on 127.0.0.1
 * `port`, with `extraArgs` on the server's command line, labelled with `run`. The handle matches a local
 * process's (see redis-server.mjs): { url, port, kind, image, id, stop(), kill(signal),
 * restart(), pause(), unpause() }; restart() starts the same container again, so its
 * filesystem (an AOF in /data) is kept while memory is not.
 */
export async function startServerContainer({ kind, image, port, extraArgs = [], run = runId() }) {
  const { tc, docker } = await engine()
  const program = kind.startsWith('valkey') ? 'valkey-server' : 'redis-server'
  const command = [program, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/data', ...extraArgs]
  const started = await new tc.GenericContainer(image)
    .withNetworkMode('host')
    .withCommand(command)
    .withLabels({ [CONTAINER_LABEL]: run })
    .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/))
    .withStartupTimeout(30_000)
    .start()
  const container = docker.getContainer(started.getId())
  const handle = {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind,
    image,
    id: started.getId(),
    /** Sends `signal` to the server; SIGKILL and SIGTERM wait for the container to stop. */
    async kill(signal = 'SIGKILL') {
      if (!(await container.inspect()).State.Running) return
      await container.kill({ signal })
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await container.wait()
    },
    /** Starts the stopped container again (same port, same filesystem). */
    async restart() {
      await container.start()
      await waitForPort(port)
    },
    pause: () => container.pause(),
    unpause: () => container.unpause(),
    /** Stops and removes the container. */
    async stop() {
      const state = (await container.inspect().catch(() => null))?.State
      if (state?.Paused) await container.unpause()
      await container.remove({ force: true, v: true }).catch((e) => {
        if (e.statusCode !== 404) throw e
      })
    },
  }
  return handle
}

/** The containers (running or not) labelled with run `id`. */
export async function runContainers(id) {
  const { docker } = await engine()
  return docker.listContainers({ all: true, filters: { label: [`${CONTAINER_LABEL}=${id}`] } })
}

/** Removes every container labelled with run `id`; resolves to how many there were. */
export async function removeRunContainers(id) {
  const { docker } = await engine()
  const left = await runContainers(id)
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })))
  return left.length
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const kinds = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys((await import('./servers.mjs')).KINDS)
  let failed = false
  for (const kind of kinds) {
    try {
      const { image, source } = await imageFor(kind)
      console.log(`${kind}: ${image} (${source})`)
    } catch (e) {
      console.error(`${kind}: ${e.message}`)
      failed = true
    }
  }
  process.exit(failed ? 1 : 0)
}
