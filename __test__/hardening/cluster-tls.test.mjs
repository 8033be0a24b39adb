// rediss:// seeds of a Redis Cluster: every node listens with TLS only (between nodes
// too), with a certificate signed by a private CA given through SSL_CERT_FILE. The store
// reaches all primaries over TLS; without the CA it refuses to talk to them.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startCluster } from '../../scripts/redis-cluster.mjs'
import { makeCa, signCertificate } from '../shared/helpers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'rss-cluster-tls-'))
makeCa(dir)
signCertificate(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1')
const cluster = await startCluster({ tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') } })
after(async () => {
  await cluster.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Issues and rotates sessions of many users (so every primary serves some) in a fresh process. */
function roundTrips(env) {
  const script = `
    const { createRedisStore } = require('./')
    const store = createRedisStore({ url: ${JSON.stringify(cluster.url)}, cluster: true, prefix: 'tls', absTtlSeconds: 600 })
    const now = Math.floor(Date.now() / 1000)
    Promise.all(Array.from({ length: 30 }, (_, i) =>
      store.issueInitial('user' + i, { now }).then(({ rid }) => store.verifyAndRotateRefresh({ rid, now }))))
      .then((rotated) => console.log(JSON.stringify({ rotated: rotated.length })))
      .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))
      .finally(() => store.close())`
  const childEnv = { ...process.env, ...env }
  if (!env.SSL_CERT_FILE) delete childEnv.SSL_CERT_FILE
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000, env: childEnv })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

test('a cluster with rediss:// seeds works once its CA is given with SSL_CERT_FILE', () => {
  assert.match(cluster.url, /^rediss:\/\//)
  assert.deepEqual(roundTrips({ SSL_CERT_FILE: join(dir, 'ca.pem') }), { rotated: 30 })
})

test('a cluster whose certificates cannot be verified is refused', () => {
  const outcome = roundTrips({})
  assert.equal(outcome.code, 'ERR_REDIS_UNAVAILABLE')
})
