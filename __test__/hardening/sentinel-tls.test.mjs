// cfg.tls with Sentinel: the CA and client certificate given in cfg.tls reach the
// Sentinels named with rediss:// and the primary they name, in a deployment where every
// process requires a client certificate signed by a private CA over TLS
// (scripts/redis-sentinel.mjs with `tls`): a primary, a replica and three Sentinels.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import { cli, startSentinels } from '../../scripts/redis-sentinel.mjs'
import { eventually, makeTlsMaterial, nowSeconds } from '../shared/helpers.mjs'

const { serverFiles, tls } = makeTlsMaterial('rss-sentinel-tls-')
const deployment = await startSentinels({ tls: serverFiles })
after(() => deployment.stop())

function sentinelStore({ nodes = deployment.sentinelTlsUrls, ...extra } = {}) {
  const store = createRedisStore({
    // The data nodes' scheme (TLS) and credentials; the Sentinels give the address.
    url: 'rediss://ignored.invalid:1',
    prefix: 'stls',
    absTtlSeconds: 600,
    commandTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    sentinel: { masterName: deployment.masterName, nodes },
    tls,
    ...extra,
  })
  after(() => store.close())
  return store
}

/** The session's status as the primary the Sentinels name holds it (read over its plain port). */
async function statusOnPrimary(rid) {
  const primary = deployment.nodeByPort(await deployment.primaryPort())
  return cli(primary.port, ['HGET', `stls:rid:${rid}`, 'status'])
}

async function issueAndRotate(store) {
  const now = nowSeconds()
  const { rid } = await store.issueInitial('u', { deviceId: 'd', now })
  const { newRid } = await store.verifyAndRotateRefresh({ rid, deviceId: 'd', now })
  return newRid.rid
}

test('TLS Sentinels and a TLS primary, each requiring a client certificate, accept the one in cfg.tls', async () => {
  const store = sentinelStore()
  const rid = await issueAndRotate(store)
  assert.equal((await store.getRid(rid)).status, 'active')
  assert.equal(await statusOnPrimary(rid), 'active', 'the session is on the primary the Sentinels name')
})

test('Sentinels reached without TLS name a TLS primary, which gets the CA and certificate of cfg.tls', async () => {
  const store = sentinelStore({ nodes: deployment.sentinelUrls })
  const rid = await issueAndRotate(store)
  assert.equal(await statusOnPrimary(rid), 'active')
})

test('without the client certificate, the call rejects with ERR_REDIS_UNAVAILABLE and the store stays usable', async () => {
  const store = sentinelStore({ tls: { ca: tls.ca } })
  await assert.rejects(store.issueInitial('u', { now: nowSeconds() }), (err) => err.code === 'ERR_REDIS_UNAVAILABLE')
  // The same deployment still serves a store that has the certificate.
  assert.equal(await statusOnPrimary(await issueAndRotate(sentinelStore())), 'active')
})

test('after a failover, the store reaches the new primary over TLS by itself', async () => {
  const store = sentinelStore()
  const before = await issueAndRotate(store)
  const oldPort = await deployment.primaryPort()
  await deployment.failover()
  const newPort = await deployment.waitForNewPrimary(oldPort)
  assert.notEqual(newPort, oldPort)
  const rid = await eventually(() => issueAndRotate(store))
  assert.equal(await statusOnPrimary(rid), 'active', 'written on the new primary')
  assert.equal((await store.getRid(before)).status, 'active', 'what was written before the failover is still there')
})
