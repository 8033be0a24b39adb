// Starts a throwaway Redis Cluster on loopback: 3 primaries and 3 replicas, each a server
// of the run's kind (REDIS_SERVER_KIND, see servers.mjs) with --cluster-enabled yes on a
// free port, joined as `redis-cli --cluster create` joins them (distinct config epochs,
// MEET, the slots split evenly, each replica told its primary) but with plain commands,
// so no redis-cli is needed. For the tests and the benchmark; stopped by `stop()`.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.mjs'
import { serverBinary as binaryOfKind, kindFromEnv } from './servers.mjs'
import { cliCommand } from './cli.mjs'
import { waitFor as harnessWait, running, stopProcess, throwawayNodeArgs } from './harness.mjs'

const SLOTS = 16384

const waitFor = (...args) => harnessWait('redis cluster', ...args)

const canListen = (port) =>
  new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })

/** A free port whose cluster bus port (the port + 10000) is free as well, and neither in
 * `taken` (the ports of this cluster's other nodes, which may not listen yet); both are
 * added to it. */
async function freeNodePort(taken) {
  for (;;) {
    const port = await freePort()
    if (port + 10000 > 65535 || taken.has(port) || taken.has(port + 10000)) continue
    if (!(await canListen(port + 10000))) continue
    taken.add(port).add(port + 10000)
    return port
  }
}

/** Joins started nodes into one cluster: the first `primaries` nodes share the slots, the
 * others replicate them in turn. */
async function joinNodes(nodes, { primaries, cli }) {
  // Distinct epochs from the start, so that no epoch collision has to be settled.
  await Promise.all(nodes.map((n, i) => cli(n.port, 'CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))))
  for (const n of nodes.slice(1)) await cli(nodes[0].port, 'CLUSTER', 'MEET', '127.0.0.1', String(n.port))
  const per = Math.ceil(SLOTS / primaries)
  for (let p = 0; p < primaries; p++) {
    const slots = []
    for (let slot = p * per; slot < Math.min(SLOTS, (p + 1) * per); slot++) slots.push(String(slot))
    await cli(nodes[p].port, 'CLUSTER', 'ADDSLOTS', ...slots)
  }
  // A replica can be told its primary once it knows it: every node sees every other.
  await waitFor(async () => {
    for (const n of nodes) {
      const known = (await cli(n.port, 'CLUSTER', 'NODES')).split('\n').filter((line) => !line.includes('handshake'))
      if (known.length < nodes.length) return false
    }
    return true
  }, 'every node meeting every other')
  const ids = await Promise.all(nodes.slice(0, primaries).map((n) => cli(n.port, 'CLUSTER', 'MYID')))
  for (const [i, n] of nodes.slice(primaries).entries()) await cli(n.port, 'CLUSTER', 'REPLICATE', ids[i % primaries])
}

/** The client port of a CLUSTER NODES line (`<id> <ip>:<port>@<bus port> ...`). */
const nodePort = (line) => Number(line.split(' ')[1].split(':')[1].split('@')[0])

/**
 * A cluster of `primaries` primaries with `replicas` replicas each. `serverBinary` picks
 * the server binary (default: the run's kind). With `tls: { cert, key, ca }` (PEM file
 * paths) every node listens with TLS only, between nodes too, and URLs are rediss://;
 * `clientCert: { cert, key }` is what the harness's own connections present. Returns
 * { url, nodes: [{ port, url, pid, kill(), restart() }], primaryPorts(), stop() }.
 */
export async function startCluster({ primaries = 3, replicas = 1, serverBinary = binaryOfKind(kindFromEnv()), extraArgs = [], tls, clientCert } = {}) {
  const cliTls = tls && { ca: tls.ca, ...clientCert }
  const cli = (port, ...args) => cliCommand(port, args, { tls: cliTls })
  const tlsArgs = (port) =>
    tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          tls.cert,
          '--tls-key-file',
          tls.key,
          '--tls-ca-cert-file',
          tls.ca,
          '--tls-auth-clients',
          'no',
          '--tls-cluster',
          'yes',
          '--tls-replication',
          'yes',
        ]
      : ['--port', String(port)]
  const dir = mkdtempSync(join(tmpdir(), 'rss-cluster-'))
  const count = primaries * (1 + replicas)
  const makeNode = (port) => {
    const args = [
      ...tlsArgs(port),
      ...throwawayNodeArgs(dir),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      '2000',
      '--dbfilename',
      `dump-${port}.rdb`,
      ...extraArgs,
    ]
    const node = {
      port,
      url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
      child: null,
      get pid() {
        return node.child.pid
      },
      async start() {
        // The server's last words, to say why it did not start.
        let log = ''
        const child = spawn(serverBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        node.child = child
        const keep = (d) => (log = (log + d).slice(-1000))
        child.stdout.on('data', keep)
        child.stderr.on('data', keep)
        const exited = () => (!running(child) ? `it exited: ${log.trim().split('\n').slice(-2).join(' / ')}` : null)
        // Answered by this very process, not by another server that took the port meanwhile.
        const ours = async () => (await cli(port, 'INFO', 'server')).includes(`process_id:${child.pid}\r`)
        await waitFor(ours, `node ${port} start`, 20_000, exited)
      },
      kill(signal = 'SIGKILL') {
        return stopProcess(node.child, signal)
      },
      restart() {
        return node.start()
      },
    }
    return node
  }
  const nodes = []
  const taken = new Set()
  /** A node on a fresh port, started; a port taken meanwhile by another process (the node
   * exits at once) is given up for another, twice at most. */
  const launch = async () => {
    for (let attempt = 1; ; attempt++) {
      const node = makeNode(await freeNodePort(taken))
      nodes.push(node)
      try {
        await node.start()
        return node
      } catch (err) {
        if (!err.gaveUp || attempt === 3) throw err
        nodes.splice(nodes.indexOf(node), 1)
      }
    }
  }
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const started = await Promise.all(Array.from({ length: count }, launch))
    nodes.splice(0, nodes.length, ...started)
    await joinNodes(nodes, { primaries, cli })
    // Every node agrees that all slots are served, and every replica is attached.
    await waitFor(async () => {
      for (const n of nodes) {
        if (!(await cli(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false
      }
      const shards = await cli(nodes[0].port, 'CLUSTER', 'NODES')
      const replicaPorts = shards
        .split('\n')
        .filter((line) => line.includes('slave') && line.includes('connected'))
        .map(nodePort)
      if (replicaPorts.length !== primaries * replicas) return false
      // Attached is not enough: a replica that has not finished its first sync refuses to
      // take over when its primary dies (its data counts as too old).
      for (const port of replicaPorts) {
        if (!(await cli(port, 'INFO', 'replication')).includes('master_link_status:up')) return false
      }
      return true
    }, 'cluster agreement')
  } catch (err) {
    await stop()
    throw err
  }
  return {
    url: nodes[0].url,
    nodes,
    /** The ports of the nodes that are primaries now. */
    async primaryPorts() {
      const alive = nodes.find((n) => n.child.exitCode === null && n.child.signalCode === null)
      const lines = (await cli(alive.port, 'CLUSTER', 'NODES')).split('\n')
      return lines.filter((l) => l.includes('master') && !l.includes('fail')).map(nodePort)
    },
    stop,
  }
}

// `node scripts/redis-cluster.mjs`: start one and print its seed URL until interrupted.
if (import.meta.url === `file://${process.argv[1]}`) {
  const cluster = await startCluster()
  console.log(cluster.url)
  const end = async () => {
    await cluster.stop()
    process.exit(0)
  }
  process.on('SIGINT', end)
  process.on('SIGTERM', end)
}
