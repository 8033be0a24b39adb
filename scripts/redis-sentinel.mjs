// Starts a throwaway Sentinel deployment on loopback: one primary, one replica and three
// Sentinels (quorum 2), each on a free port, with short failure detection so failovers
// take a few seconds. Every process is the run's server kind (REDIS_SERVER_KIND, see
// servers.mjs); a Sentinel is that binary started with --sentinel. For the tests; stopped
// by `stop()`.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.mjs'
import { serverBinary, kindFromEnv } from './servers.mjs'
import { cliCommand } from './cli.mjs'
import { waitFor as harnessWait, running, stopProcess, throwawayNodeArgs } from './harness.mjs'

/** One command against a port, answered as redis-cli prints it; `auth` is a password or undefined. */
export function cli(port, args, auth) {
  return cliCommand(port, args, { password: auth })
}

const waitFor = (...args) => harnessWait('sentinel harness', ...args)

function processHandle(binary, args, port, auth) {
  const handle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    child: null,
    get pid() {
      return handle.child.pid
    },
    async start() {
      handle.child = spawn(binary, args, { stdio: 'ignore' })
      await waitFor(async () => (await cli(port, ['PING'], auth)) === 'PONG', `${binary} on ${port} answering`)
    },
    get running() {
      return running(handle.child)
    },
    /** Sends `signal`; for a signal that ends the process, waits until it exited. */
    kill(signal = 'SIGKILL') {
      return stopProcess(handle.child, signal)
    },
    restart() {
      return handle.start()
    },
  }
  return handle
}

/**
 * A primary, a replica and three Sentinels watching them as `masterName`.
 * `password`: the data nodes' requirepass (and masterauth, and the Sentinels' auth-pass).
 * `dataArgs`: more redis-server arguments for both data nodes.
 * `tls`: { cert, key, ca } files: every process also listens with TLS (a `tlsPort`) and
 *   requires a client certificate signed by `ca` there; replication, the Sentinels' checks
 *   and their talk among themselves go over TLS, so the Sentinels name TLS ports. The plain
 *   ports stay, for the harness's own commands.
 * Returns { masterName, password, sentinels: [{ port, url, tlsPort }], sentinelUrls,
 *   sentinelTlsUrls (with `tls`), nodes: [primary, replica],
 *   primaryPort(), nodeByPort(port), waitForNewPrimary(oldPort), failover(), stop() }.
 */
export async function startSentinels({ masterName = 'mymaster', password, dataArgs = [], downAfterMs = 1000, failoverTimeoutMs = 3000, tls } = {}) {
  const binary = serverBinary(kindFromEnv())
  const dir = mkdtempSync(join(tmpdir(), 'rss-sentinel-'))
  const [primaryPort, replicaPort] = [await freePort(), await freePort()]
  const tlsPorts = new Map() // plain port -> TLS port
  const tlsPortOf = async (port) => {
    if (tls) tlsPorts.set(port, await freePort())
    return tlsPorts.get(port)
  }
  const tlsSettings = tls
    ? [
        ['tls-cert-file', tls.cert],
        ['tls-key-file', tls.key],
        ['tls-ca-cert-file', tls.ca],
        ['tls-auth-clients', 'yes'],
        ['tls-replication', 'yes'],
      ]
    : []
  const tlsArgs = (port) => (tls ? ['--tls-port', String(tlsPorts.get(port)), ...tlsSettings.flatMap(([name, value]) => [`--${name}`, value])] : [])
  await tlsPortOf(primaryPort)
  await tlsPortOf(replicaPort)
  // The port the others reach the primary on: its TLS one with `tls`.
  const primaryAddress = tls ? tlsPorts.get(primaryPort) : primaryPort
  const dataNode = (port, more) =>
    processHandle(
      binary,
      [
        '--port',
        String(port),
        ...throwawayNodeArgs(dir),
        '--dbfilename',
        `dump-${port}.rdb`,
        '--repl-diskless-sync-delay',
        '0',
        ...(password ? ['--requirepass', password, '--masterauth', password] : []),
        ...tlsArgs(port),
        ...dataArgs,
        ...more,
      ],
      port,
      password,
    )
  const primary = dataNode(primaryPort, [])
  const replica = dataNode(replicaPort, ['--replicaof', '127.0.0.1', String(primaryAddress)])
  const nodes = [primary, replica]
  const sentinels = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const tlsPort = await tlsPortOf(port)
    const file = join(dir, `sentinel-${port}.conf`)
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        ...(tls ? [`tls-port ${tlsPort}`, ...tlsSettings.map(([name, value]) => `${name} ${value}`)] : []),
        `sentinel monitor ${masterName} 127.0.0.1 ${primaryAddress} 2`,
        `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
        `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
        `sentinel parallel-syncs ${masterName} 1`,
        ...(password ? [`sentinel auth-pass ${masterName} ${password}`] : []),
        '',
      ].join('\n'),
    )
    sentinels.push(Object.assign(processHandle(binary, [file, '--sentinel'], port), { tlsPort }))
  }
  const stop = async () => {
    await Promise.all([...nodes, ...sentinels].map((n) => n.kill('SIGCONT').then(() => n.kill('SIGKILL'))))
    rmSync(dir, { recursive: true, force: true })
  }
  // A data node by the port the Sentinels name (its TLS one with `tls`).
  const nodeByPort = (port) => nodes.find((n) => n.port === port || tlsPorts.get(n.port) === port)
  const primaryPortNow = async (sentinel = sentinels[0]) => {
    const reply = await cli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', masterName])
    return Number(reply.split('\n')[1])
  }
  const masterField = async (sentinel, field) => {
    const flat = (await cli(sentinel.port, ['SENTINEL', 'master', masterName])).split('\n')
    return flat[flat.indexOf(field) + 1]
  }
  try {
    await primary.start()
    await replica.start()
    await waitFor(async () => (await cli(replicaPort, ['INFO', 'replication'], password)).includes('master_link_status:up'), 'replica in sync')
    await Promise.all(sentinels.map((s) => s.start()))
    // Every Sentinel knows the replica and the two other Sentinels, so a failover can be
    // agreed on and has a replica to promote.
    await waitFor(
      async () => {
        for (const s of sentinels) {
          if (Number(await masterField(s, 'num-slaves')) < 1) return false
          if (Number(await masterField(s, 'num-other-sentinels')) < 2) return false
        }
        return true
      },
      'sentinels discovering each other and the replica',
      45_000,
    )
  } catch (err) {
    await stop()
    throw err
  }
  return {
    masterName,
    password,
    sentinels,
    sentinelUrls: sentinels.map((s) => s.url),
    sentinelTlsUrls: tls ? sentinels.map((s) => `rediss://127.0.0.1:${s.tlsPort}`) : [],
    nodes,
    primaryPort: primaryPortNow,
    nodeByPort,
    /** Waits until every Sentinel names a primary other than `oldPort`, and it says it is one. */
    async waitForNewPrimary(oldPort, deadlineMs = 30_000) {
      let port
      await waitFor(
        async () => {
          const ports = await Promise.all(sentinels.filter((s) => s.running).map((s) => primaryPortNow(s)))
          if (ports.some((p) => p !== ports[0]) || ports[0] === oldPort) return false
          port = ports[0]
          return (await cli(nodeByPort(port).port, ['ROLE'], password)).startsWith('master')
        },
        `a primary other than ${oldPort}`,
        deadlineMs,
      )
      return port
    },
    /** Asks a Sentinel for a failover now (no agreement needed) and returns at once. */
    failover: () => cli(sentinels[0].port, ['SENTINEL', 'failover', masterName]),
    stop,
  }
}
