// The session board in real HTTP servers (node:http under a prefix, Express, Fastify)
// against a real Redis: authorization, what the pages show and never show, the actions
// and their CSRF tokens, read-only mode, escaping.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import express from 'express'
import Fastify from 'fastify'
import { createRedisStore } from '../../index.mjs'
import { createSessionBoard } from '../../board.mjs'
import { redisUrl, uniquePrefix, storeConfig, nowSeconds } from '../shared/helpers.mjs'
import { httpClient } from '../shared/http-client.mjs'

await redisUrl()
const closers = []
after(async () => {
  for (const close of closers.reverse()) await close()
})

function newStore(name, extra = {}) {
  const store = createRedisStore(storeConfig({ prefix: uniquePrefix(name), absTtlSeconds: 3600, ...extra }))
  closers.push(() => store.close())
  return store
}

/** Lets in requests carrying `x-operator: <name>`, bound to that name. */
const byHeader = (req) => (typeof req.headers['x-operator'] === 'string' ? req.headers['x-operator'] : false)

/** node:http with the board under `/ops/board`, everything else 404 from the app. */
async function httpApp(board) {
  const server = createServer((req, res) => {
    if (req.url === '/ops/board' || req.url.startsWith('/ops/board/') || req.url.startsWith('/ops/board?')) return board(req, res)
    res.statusCode = 404
    res.end('app 404')
  })
  return listen(server, '/ops/board')
}

async function listen(server, mount) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${server.address().port}${mount}`
}

/** A browser-like client of the board at `base`, sending the operator header. */
function client(base, operator = 'ops-1') {
  const { origin, pathname } = new URL(base)
  const http = httpClient(origin, operator ? { 'x-operator': operator } : {})
  const mount = pathname.replace(/\/$/, '')
  return { jar: http.jar, request: (path, options) => http.request(mount + path, options) }
}

/** The CSRF token in a page's forms (the same in each). */
function csrfOf(body) {
  const m = /name="csrf" value="([^"]+)"/.exec(body)
  assert.ok(m, 'the page has an action form')
  return m[1]
}

/** A user with two devices; the laptop's lineage rotated twice. Returns every rid the client held. */
async function seed(store, userId) {
  const t = nowSeconds()
  const a = await store.issueInitial(userId, { now: t - 300, deviceId: 'laptop', absTtlSeconds: 3600 })
  const a1 = (await store.verifyAndRotateRefresh({ rid: a.rid, now: t - 200, deviceId: 'laptop' })).newRid
  const a2 = (await store.verifyAndRotateRefresh({ rid: a1.rid, now: t - 100, deviceId: 'laptop' })).newRid
  const b = await store.issueInitial(userId, { now: t - 50, deviceId: 'phone', absTtlSeconds: 3600 })
  return { held: [a.rid, a1.rid, a2.rid, b.rid], laptop: a2.rid, phone: b.rid }
}

test('createSessionBoard refuses to run without authorize, and without a store', () => {
  const store = newStore('board-args')
  assert.throws(() => createSessionBoard({ store }), { name: 'TypeError', message: /authorize must be a function/ })
  assert.throws(() => createSessionBoard({ store, authorize: true }), TypeError)
  assert.throws(() => createSessionBoard(), TypeError)
  assert.throws(() => createSessionBoard({ authorize: () => true }), { name: 'TypeError', message: /options.store/ })
  assert.throws(() => createSessionBoard({ store, authorize: () => true, readOnly: 'yes' }), /readOnly must be a boolean/)
})

test('a refused request gets 403 and no user data, on every page and action', async () => {
  const store = newStore('board-refused')
  await seed(store, 'alice')
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  const anonymous = client(base, null)
  for (const path of ['/', '/users/alice', '/users?userId=alice']) {
    const r = await anonymous.request(path)
    assert.equal(r.status, 403, path)
    assert.doesNotMatch(r.body, /alice|laptop|phone/, path)
    assert.equal(r.headers.get('set-cookie'), null)
  }
  const post = await anonymous.request('/users/alice/end-all', { method: 'POST', form: { csrf: 'x' } })
  assert.equal(post.status, 403)
  assert.equal((await store.listSessions('alice')).length, 2)

  // An authorize that throws refuses too.
  const throwing = await httpApp(
    createSessionBoard({
      store,
      authorize: async () => {
        throw new Error('identity provider down')
      },
    }),
  )
  const r = await client(throwing).request('/users/alice')
  assert.equal(r.status, 403)
  assert.doesNotMatch(r.body, /alice|laptop|identity provider/)
})

for (const tokenStorage of ['plain', 'sha256']) {
  test(`the user page lists the sessions and lineages and no rid the client holds (tokenStorage ${tokenStorage})`, async () => {
    const store = newStore(`board-list-${tokenStorage}`, { tokenStorage, audit: { maxLen: 1000 } })
    const { held } = await seed(store, 'alice')
    const listed = await store.listSessions('alice')
    const lineage = await store.inspectSession('alice', listed[0].sessionId)
    const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
    const r = await client(base).request('/users/alice')
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type'), /^text\/html/)
    for (const s of listed) {
      assert.ok(r.body.includes(s.sessionId), 'each session by its id')
      assert.ok(r.body.includes(`>${s.deviceId}<`), 'each device')
    }
    assert.match(r.body, /Active sessions <span class="chip">2</)
    assert.equal(lineage.sessions.length, 3)
    assert.equal((r.body.match(/<ul class="tree">/g) ?? []).length, 2, 'one tree per lineage')
    assert.equal((r.body.match(/chip s-used/g) ?? []).length, 2, 'the laptop lineage shows its two used sessions')
    assert.match(r.body, /Audit trail/)
    assert.match(r.body, /<td data-label="Event">rotated<\/td>/)
    // No token and no stored name, in any form the page could carry it.
    const stored = [...listed, ...lineage.sessions].map((s) => s.rid)
    for (const rid of [...held, ...stored]) {
      assert.ok(!r.body.includes(rid), `rid ${rid} in the page`)
      assert.ok(!r.body.includes(encodeURIComponent(rid)), `rid ${rid} in a link`)
    }
    for (const hex of held.map((rid) => rid.replace(/-/g, ''))) assert.ok(!r.body.includes(hex))
    const home = await client(base).request('/')
    for (const rid of [...held, ...stored]) assert.ok(!home.body.includes(rid))
  })
}

test('pages carry a strict Content-Security-Policy and no external asset or script', async () => {
  const store = newStore('board-csp', { metrics: true })
  await seed(store, 'alice')
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  for (const path of ['/', '/users/alice']) {
    const r = await client(base).request(path)
    const csp = r.headers.get('content-security-policy')
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.doesNotMatch(csp, /unsafe|script-src/)
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(r.headers.get('cache-control'), 'no-store')
    assert.doesNotMatch(r.body, /<script|\bsrc=|https?:\/\/|<link/)
    assert.match(r.body, /<meta name="viewport"/)
  }
  const home = await client(base).request('/')
  assert.match(home.body, /issueInitial/, 'metrics by method')
  assert.match(home.body, /Keyspace/)
})

test("an action without, with a wrong, or with another operator's CSRF token changes nothing; with its own it ends the session", async () => {
  const store = newStore('board-csrf', { onReuse: 'revoke-lineage' })
  const { laptop } = await seed(store, 'alice')
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  const ops1 = client(base, 'ops-1')
  const page = await ops1.request('/users/alice')
  const token = csrfOf(page.body)
  const laptopId = (await store.listSessions('alice')).find((s) => s.deviceId === 'laptop').sessionId
  const end = (c, form) => c.request('/users/alice/end-session', { method: 'POST', form: { sessionId: laptopId, ...form } })

  for (const form of [{}, { csrf: '' }, { csrf: 'x'.repeat(43) }, { csrf: `${token}x` }]) {
    const r = await end(ops1, form)
    assert.equal(r.status, 403, JSON.stringify(form))
    assert.match(r.body, /nothing was changed/)
  }
  // The same token from another operator (their own cookie, or ops-1's cookie copied).
  const ops2 = client(base, 'ops-2')
  await ops2.request('/users/alice')
  assert.equal((await end(ops2, { csrf: token })).status, 403)
  const stolen = client(base, 'ops-2')
  for (const [k, v] of ops1.jar) stolen.jar.set(k, v)
  assert.equal((await end(stolen, { csrf: token })).status, 403)
  // Without the board's cookie (a cross-site form post would carry none): refused.
  assert.equal((await end(client(base, 'ops-1'), { csrf: token })).status, 403)
  assert.equal((await store.listSessions('alice')).length, 2, 'nothing changed')

  const ok = await end(ops1, { csrf: token })
  assert.equal(ok.status, 303)
  assert.equal(ok.headers.get('location'), '/ops/board/users/alice?ended=1&what=end-session')
  const after = await store.listSessions('alice')
  assert.deepEqual(
    after.map((s) => s.deviceId),
    ['phone'],
  )
  await assert.rejects(store.verifyAndRotateRefresh({ rid: laptop, now: nowSeconds(), deviceId: 'laptop' }), { code: 'ERR_REPLAY' })
  const shown = await ops1.request('/users/alice?ended=1&what=end-session')
  assert.match(shown.body, /Ended 1 session\./)
})

test("ending a device and all of a user's sessions", async () => {
  const store = newStore('board-device')
  const { phone } = await seed(store, 'bob')
  await store.issueInitial('bob', { now: nowSeconds(), deviceId: 'phone', absTtlSeconds: 3600 })
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  const ops = client(base)
  const token = csrfOf((await ops.request('/users/bob')).body)
  const device = await ops.request('/users/bob/end-device', { method: 'POST', form: { csrf: token, deviceId: 'phone' } })
  assert.equal(device.status, 303)
  assert.match(device.headers.get('location'), /ended=\d+&what=end-device$/)
  assert.deepEqual(
    (await store.listSessions('bob')).map((s) => s.deviceId),
    ['laptop'],
  )
  await assert.rejects(store.verifyAndRotateRefresh({ rid: phone, now: nowSeconds(), deviceId: 'phone' }))
  const all = await ops.request('/users/bob/end-all', { method: 'POST', form: { csrf: token } })
  assert.equal(all.status, 303)
  assert.equal(all.headers.get('location'), '/ops/board/users/bob?ended=1&what=end-all')
  assert.deepEqual(await store.listSessions('bob'), [])
  // A session id of another user's session ends nothing.
  const { laptop: carolLaptop } = await seed(store, 'carol')
  const carolId = (await store.listSessions('carol'))[0].sessionId
  const wrongUser = await ops.request('/users/bob/end-session', { method: 'POST', form: { csrf: token, sessionId: carolId } })
  assert.equal(wrongUser.headers.get('location'), '/ops/board/users/bob?ended=0&what=end-session')
  assert.equal((await store.listSessions('carol')).length, 2)
  assert.ok(await store.getRid(carolLaptop))
})

test('readOnly shows no action and refuses every POST, even with a valid token', async () => {
  const store = newStore('board-ro')
  await seed(store, 'alice')
  const writable = createSessionBoard({ store, authorize: byHeader })
  const readOnly = createSessionBoard({ store, authorize: byHeader, readOnly: true })
  // One server, two boards: a token from the writable board's page, used on the read-only one.
  const server = createServer((req, res) => (req.url.startsWith('/ro') ? readOnly(req, res) : writable(req, res)))
  const root = await listen(server, '')
  const ops = client(root)
  const token = csrfOf((await ops.request('/rw/users/alice')).body)
  const page = await ops.request('/ro/users/alice')
  assert.equal(page.status, 200)
  assert.doesNotMatch(page.body, /<form method="post"|name="csrf"|End session|End all/)
  assert.match(page.body, /Read-only board/)
  const sessionId = (await store.listSessions('alice'))[0].sessionId
  for (const [action, form] of [
    ['end-session', { sessionId }],
    ['end-device', { deviceId: 'laptop' }],
    ['end-all', {}],
  ]) {
    const r = await ops.request(`/ro/users/alice/${action}`, { method: 'POST', form: { csrf: token, ...form } })
    assert.equal(r.status, 403, action)
    assert.match(r.body, /read-only/)
  }
  assert.equal((await store.listSessions('alice')).length, 2)
})

test('a path that would make the mount another host redirects and links within this one', async () => {
  const store = newStore('board-host')
  await seed(store, 'alice')
  const board = createSessionBoard({ store, authorize: byHeader })
  const root = await listen(
    createServer((req, res) => board(req, res)),
    '',
  )
  // Sent as written (fetch would normalise the dot segment away).
  const raw = (path) =>
    new Promise((resolve, reject) => {
      const req = request(`${root}/`, { path, headers: { 'x-operator': 'ops-1' } }, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location, body }))
      })
      req.on('error', reject)
      req.end()
    })
  for (const path of ['/.//evil.example/users?userId=alice', '/x/..//evil.example/users?userId=alice']) {
    const r = await raw(path)
    assert.equal(r.status, 303, path)
    assert.match(r.location, /^\/(?!\/)/, path)
  }
  const page = await raw('/.//evil.example/users/alice')
  assert.equal(page.status, 200)
  assert.doesNotMatch(page.body, /(href|action)="\/\//)
})

test('stored strings are escaped: a userId and deviceId with markup, on the user page and in the audit trail', async () => {
  const store = newStore('board-xss', { audit: { maxLen: 100 } })
  const userId = '<script>alert(1)</script>"\'&\u202e'
  const deviceId = '<img src=x onerror=alert(2)>'
  await store.issueInitial(userId, { now: nowSeconds(), deviceId, absTtlSeconds: 3600 })
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  const ops = client(base)
  const search = await ops.request(`/users?userId=${encodeURIComponent(userId)}`)
  assert.equal(search.status, 303)
  const location = search.headers.get('location')
  assert.equal(location, `/ops/board/users/${encodeURIComponent(userId)}`)
  const page = await ops.request(location.slice('/ops/board'.length))
  assert.equal(page.status, 200)
  assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\\u{202e}'))
  assert.ok(page.body.includes('&lt;img src=x onerror=alert(2)&gt;'))
  assert.doesNotMatch(page.body, /<script|<img|\u202e/)
  // The recent activity on the home page links the user, escaped too.
  const home = await ops.request('/')
  assert.ok(home.body.includes(`href="/ops/board/users/${encodeURIComponent(userId).replace("'", '&#39;')}"`))
  assert.doesNotMatch(home.body, /<script|<img/)
})

test('under Express, mounted with app.use and behind a form body parser', async () => {
  const store = newStore('board-express')
  await seed(store, 'alice')
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  app.use('/admin', createSessionBoard({ store, authorize: byHeader }))
  app.get('/', (_req, res) => res.send('app home'))
  const base = await listen(createServer(app), '/admin')
  const ops = client(base)
  const home = await ops.request('/')
  assert.equal(home.status, 200)
  assert.match(home.body, /action="\/admin\/users"/)
  assert.equal((await ops.request('/users?userId=alice')).headers.get('location'), '/admin/users/alice')
  const page = await ops.request('/users/alice')
  assert.match(page.body, /action="\/admin\/users\/alice\/end-all"/)
  const r = await ops.request('/users/alice/end-all', { method: 'POST', form: { csrf: csrfOf(page.body) } })
  assert.equal(r.status, 303)
  assert.equal(r.headers.get('location'), '/admin/users/alice?ended=2&what=end-all')
  assert.deepEqual(await store.listSessions('alice'), [])
  // A path under the mount that the board does not serve goes on to the app (404 here).
  const other = await ops.request('/elsewhere')
  assert.equal(other.status, 404)
  assert.doesNotMatch(other.body, /Session board/)
})

test('under Fastify, through the raw request and response', async () => {
  const store = newStore('board-fastify')
  await seed(store, 'alice')
  const board = createSessionBoard({ store, authorize: byHeader })
  const app = Fastify()
  await app.register(async (scope) => {
    // The board reads its own form bodies: leave them unparsed in this scope.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null))
    const handle = (request, reply) => {
      reply.hijack()
      board(request.raw, reply.raw)
    }
    scope.all('/admin', handle)
    scope.all('/admin/*', handle)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  closers.push(() => app.close())
  const ops = client(`http://127.0.0.1:${app.server.address().port}/admin`)
  const page = await ops.request('/users/alice')
  assert.equal(page.status, 200)
  assert.match(page.body, /action="\/admin\/users\/alice\/end-device"/)
  const r = await ops.request('/users/alice/end-device', { method: 'POST', form: { csrf: csrfOf(page.body), deviceId: 'laptop' } })
  assert.equal(r.status, 303)
  assert.deepEqual(
    (await store.listSessions('alice')).map((s) => s.deviceId),
    ['phone'],
  )
  assert.equal((await ops.request('')).status, 200)
})

test('a store that cannot answer gives an error page with the code only', async () => {
  const store = newStore('board-down')
  const { laptop } = await seed(store, 'alice')
  const base = await httpApp(createSessionBoard({ store, authorize: byHeader }))
  await store.close()
  const r = await client(base).request('/users/alice')
  assert.equal(r.status, 500)
  assert.match(r.body, /ERR_STORE_CLOSED/)
  assert.ok(!r.body.includes(laptop))
  assert.doesNotMatch(r.body, /alice/)
})
