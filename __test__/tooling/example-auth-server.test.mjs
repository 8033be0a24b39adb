// The example auth server (examples/auth-server/) end to end: the app listening on a real
// port, a real Redis behind its store, and clients with cookie jars, as a browser would
// use it: sign in, refresh, a replay refused and its lineage ended, the three sign-outs,
// the devices list, and the board under /admin for administrators only.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRedisStore } from '../../index.mjs'
import { createAuthApp, hashPassword } from '../../examples/auth-server/app.mjs'
import { redisUrl, uniquePrefix, storeConfig } from '../shared/helpers.mjs'
import { httpClient } from '../shared/http-client.mjs'

await redisUrl()
const store = createRedisStore(
  storeConfig({ prefix: uniquePrefix('example'), absTtlSeconds: 3600, onReuse: 'revoke-lineage', tokenStorage: 'sha256', audit: { maxLen: 1000 } }),
)
const users = {
  alice: { password: hashPassword('alice-password') },
  bob: { password: hashPassword('bob-password') },
  carol: { password: hashPassword('carol-password') },
  dave: { password: hashPassword('dave-password') },
  erin: { password: hashPassword('erin-password') },
  admin: { password: hashPassword('admin-password'), admin: true },
}
const server = createAuthApp({ store, users, signingKey: randomBytes(32) }).listen(0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
const origin = `http://127.0.0.1:${server.address().port}`
after(async () => {
  await new Promise((resolve) => server.close(resolve))
  await store.close()
})

/** A browser: its own cookie jar (so its own device id). */
const browser = (userAgent = 'test-browser/1.0') => httpClient(origin, { 'user-agent': userAgent })

async function signIn(client, username, password = `${username}-password`) {
  const r = await client.request('/auth/sign-in', { method: 'POST', json: { username, password } })
  assert.equal(r.status, 200, r.body)
  return r.json()
}
const refresh = (client) => client.request('/auth/refresh', { method: 'POST' })
const bearer = (token) => ({ authorization: `Bearer ${token}` })

test('sign in sets the refresh token in an httpOnly, Secure, SameSite=Strict cookie; a wrong password is refused', async () => {
  const b = browser()
  assert.equal((await b.request('/auth/sign-in', { method: 'POST', json: { username: 'alice', password: 'nope' } })).status, 401)
  assert.equal((await b.request('/auth/sign-in', { method: 'POST', json: { username: 'constructor', password: 'x' } })).status, 401)
  const { accessToken, expiresIn } = await signIn(b, 'alice')
  assert.ok(accessToken)
  assert.ok(expiresIn <= 300)
  const rt = b.lastCookies.find((c) => c.name === 'rt')
  assert.ok(rt.value.length >= 32)
  assert.equal(rt.path, '/auth')
  assert.ok(rt.attributes.has('httponly') && rt.attributes.has('secure'))
  assert.equal(rt.attributes.get('samesite'), 'Strict')
  // The token itself never appears in a response body.
  const devices = await b.request('/me/devices', { headers: bearer(accessToken) })
  assert.ok(!devices.body.includes(rt.value))
})

test('refresh rotates the cookie; replaying an old one is refused and ends the lineage', async () => {
  const b = browser()
  await signIn(b, 'bob')
  const first = b.jar.get('rt').value
  const r1 = await refresh(b)
  assert.equal(r1.status, 200, r1.body)
  const second = b.jar.get('rt').value
  assert.notEqual(second, first)
  assert.equal((await refresh(b)).status, 200)
  const current = b.jar.get('rt').value

  // An attacker with the first token (a copy of the jar as it was).
  const attacker = browser()
  attacker.jar.set('rt', { value: first, path: '/auth' })
  attacker.jar.set('did', { ...b.jar.get('did') })
  const replay = await refresh(attacker)
  assert.equal(replay.status, 401)
  assert.match(replay.json().error, /reused/)
  // The victim's current token is ended with the lineage: they sign in again.
  assert.ok(current !== first)
  const after = await refresh(b)
  assert.equal(after.status, 401)
  assert.equal(b.jar.has('rt'), false, 'the refused refresh clears the cookie')
  assert.deepEqual(await store.listSessions('bob'), [])
})

test('the three sign-outs, and the devices list by session id', async () => {
  // carol on a laptop (two browser profiles share its device id), a phone and a tablet.
  const laptop = browser('laptop-ua')
  await signIn(laptop, 'carol')
  const laptop2 = browser('laptop-ua')
  laptop2.jar.set('did', { ...laptop.jar.get('did') })
  await signIn(laptop2, 'carol')
  const phone = browser('phone-ua')
  await signIn(phone, 'carol')
  const tablet = browser('tablet-ua')
  await signIn(tablet, 'carol')
  const tokenOf = async (b) => (await refresh(b)).json().accessToken

  const list = await laptop.request('/me/devices', { headers: bearer(await tokenOf(laptop)) })
  const devices = list.json()
  assert.equal(devices.length, 4)
  assert.equal(devices.filter((d) => d.current).length, 1)
  assert.equal(new Set(devices.map((d) => d.deviceId)).size, 3)
  for (const d of devices) assert.match(d.sessionId, /^[0-9a-f]{40}$/)
  for (const b of [laptop, laptop2, phone, tablet]) assert.ok(!list.body.includes(b.jar.get('rt').value))
  assert.equal((await laptop.request('/me/devices')).status, 401, 'no Bearer token (the cookie alone), no list')

  // "Sign out": this session only.
  assert.equal((await phone.request('/auth/sign-out', { method: 'POST' })).status, 204)
  const phoneRid = phone.jar.get('rt')
  assert.equal(phoneRid, undefined, 'the cookie is cleared')
  assert.equal((await refresh(phone)).status, 401)
  assert.equal((await store.listSessions('carol')).length, 3)

  // "Sign out this device": both laptop sessions, the tablet's stays.
  const r = await laptop.request('/auth/sign-out-device', { method: 'POST', headers: bearer(await tokenOf(laptop)) })
  assert.deepEqual(r.json(), { ended: 2 })
  assert.equal((await refresh(laptop2)).status, 401)
  assert.equal((await refresh(tablet)).status, 200)

  // "Sign out everywhere", from a phone signed in again.
  await signIn(phone, 'carol')
  const everywhere = await phone.request('/auth/sign-out-everywhere', { method: 'POST', headers: bearer(await tokenOf(phone)) })
  assert.deepEqual(everywhere.json(), { ended: 2 })
  assert.equal((await refresh(tablet)).status, 401)
  assert.deepEqual(await store.listSessions('carol'), [])
})

test('ending another session from the devices list, by its id', async () => {
  const a = browser('a')
  const b = browser('b')
  await signIn(a, 'dave')
  await signIn(b, 'dave')
  const token = (await refresh(a)).json().accessToken
  const other = (await a.request('/me/devices', { headers: bearer(token) })).json().find((d) => !d.current)
  assert.equal((await a.request(`/me/devices/${other.sessionId}`, { method: 'DELETE', headers: bearer(token) })).status, 204)
  assert.equal((await refresh(b)).status, 401)
  assert.equal((await refresh(a)).status, 200)
  assert.equal((await a.request(`/me/devices/${other.sessionId}`, { method: 'DELETE', headers: bearer(token) })).status, 404)
})

test('the board under /admin: administrators only, and an end from it is felt by the app', async () => {
  const user = browser('u')
  await signIn(user, 'erin')
  const refused = await user.request('/admin/users/erin')
  assert.equal(refused.status, 403)
  assert.doesNotMatch(refused.body, /erin/)
  const nobody = await browser().request('/admin/')
  assert.equal(nobody.status, 403)

  const admin = browser('admin-ua')
  await signIn(admin, 'admin')
  const page = await admin.request('/admin/users/erin')
  assert.equal(page.status, 200)
  assert.match(page.body, /Active sessions <span class="chip">1</)
  assert.ok(!page.body.includes(user.jar.get('rt').value))
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)[1]
  const ended = await admin.request('/admin/users/erin/end-all', { method: 'POST', form: { csrf } })
  assert.equal(ended.status, 303)
  assert.equal((await refresh(user)).status, 401)
})
