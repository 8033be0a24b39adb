// cfg.tls: a CA given as PEM text (instead of the system's roots) and a client
// certificate for servers that require one (tls-auth-clients yes), against a real TLS
// redis-server and a TLS-only Redis Cluster.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { startCluster } from '../../scripts/redis-cluster.mjs'
import { nowSeconds, makeTlsMaterial, startTlsRedis } from '../shared/helpers.mjs'

const { dir, serverFiles, clientFiles, tls } = makeTlsMaterial('rss-mtls-')
const { server, tlsPort } = await startTlsRedis(dir, { authClients: true })
after(() => server.stop())
const url = `rediss://127.0.0.1:${tlsPort}`

async function roundTrip(cfg) {
  const store = createRedisStore({ absTtlSeconds: 600, prefix: 'mtls', commandTimeoutMs: 3000, ...cfg })
  try {
    const now = nowSeconds()
    const { rid } = await store.issueInitial('u', { now })
    const { newRid } = await store.verifyAndRotateRefresh({ rid, now })
    return (await store.getRid(newRid.rid)).status
  } finally {
    await store.close()
  }
}

test('a server that requires a client certificate accepts the one in cfg.tls, with the CA from cfg.tls.ca', async () => {
  assert.equal(await roundTrip({ url, tls }), 'active')
})

test('without the client certificate the same server refuses the connection', async () => {
  await assert.rejects(roundTrip({ url, tls: { ca: tls.ca } }), (err) => err.code === 'ERR_REDIS_UNAVAILABLE')
})

test('cfg.tls is checked when the store is created', () => {
  const bad = [
    [{ url: 'redis://127.0.0.1:1', tls }, /cfg\.tls must be given only with a rediss:\/\/ URL/],
    [{ url, tls: { cert: tls.cert } }, /cfg\.tls\.cert and cfg\.tls\.key must be given together/],
    [{ url, tls: { ca: 'not a pem' } }, /cfg\.tls\.ca must be PEM text/],
    [{ url, tls: 'yes' }, /cfg\.tls must be an object/],
  ]
  for (const [cfg, message] of bad) {
    assert.throws(
      () => createRedisStore({ absTtlSeconds: 60, ...cfg }),
      (err) => err instanceof TypeError && message.test(err.message),
      String(message),
    )
  }
})

test('a TLS-only cluster requiring client certificates works with cfg.tls', async () => {
  const cluster = await startCluster({
    tls: serverFiles,
    extraArgs: ['--tls-auth-clients', 'yes'],
    clientCert: clientFiles,
  })
  try {
    assert.equal(await roundTrip({ url: cluster.url, cluster: true, tls }), 'active')
  } finally {
    await cluster.stop()
  }
})
