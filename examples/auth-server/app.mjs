// A small auth server wired to the session store the way we recommend: a short-lived
// access token, the refresh token in an httpOnly, Secure, SameSite=Strict cookie, rotation
// on every refresh with a replay ending the whole lineage, the three sign-outs, a devices
// list by session id, and the session board under /admin for administrators.
//
// The store, the users and the signing key come from the caller (server.mjs, the tests),
// so the app itself holds no state but the store's.

import { createHash, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import express from 'express'
import { createSessionBoard } from '../../board.mjs'

/** How long an access token lives: short, since only the refresh rotation checks Redis. */
const ACCESS_TTL_SECONDS = 5 * 60
/** How long a sign-in lasts at most, however often it is refreshed. */
const SESSION_TTL_SECONDS = 30 * 24 * 3600
/** The store's answers that mean "this refresh token is no good": sign in again. */
const REFUSED = new Set(['ERR_NOT_FOUND', 'ERR_REPLAY', 'ERR_EXPIRED_ABS', 'ERR_BINDING', 'ERR_IDLE', 'ERR_INVALID_ARG'])

const REFRESH_COOKIE = 'rt'
const ACCESS_COOKIE = 'at'
const DEVICE_COOKIE = 'did'
const SESSION_COOKIE = 'sid'

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** A password as kept: salt and scrypt hash. */
export function hashPassword(password, salt = randomBytes(16)) {
  return { salt, hash: scryptSync(password, salt, 32) }
}

function passwordMatches(kept, password) {
  return timingSafeEqual(kept.hash, scryptSync(password, kept.salt, 32))
}

/** Access tokens: `<claims as base64url JSON>.<HMAC-SHA256>`, checked without Redis. */
function accessTokens(key) {
  const sign = (body) => createHmac('sha256', key).update(body).digest('base64url')
  return {
    issue(claims) {
      const body = Buffer.from(JSON.stringify({ ...claims, exp: nowSeconds() + ACCESS_TTL_SECONDS })).toString('base64url')
      return `${body}.${sign(body)}`
    },
    /** The claims of a valid, unexpired token; null otherwise. */
    verify(token) {
      if (typeof token !== 'string') return null
      const [body, mac, extra] = token.split('.')
      if (!body || !mac || extra !== undefined) return null
      const expected = Buffer.from(sign(body))
      const given = Buffer.from(mac)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
      return claims.exp > nowSeconds() ? claims : null
    },
  }
}

function cookies(req) {
  const out = {}
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim())
  }
  return out
}

/** The cookie attributes every auth cookie gets; the refresh token's only goes to /auth. */
const cookieOptions = (path, maxAgeSeconds) => ({ httpOnly: true, secure: true, sameSite: 'strict', path, maxAge: maxAgeSeconds * 1000 })

/**
 * The app. `users`: { [name]: { password: { salt, hash }, admin?: boolean } } (see
 * hashPassword); `signingKey`: at least 32 random bytes for the access tokens.
 * @param {{ store: ReturnType<typeof import('../../index.js').createRedisStore>, users: object, signingKey: Buffer }} options
 */
export function createAuthApp({ store, users, signingKey }) {
  const tokens = accessTokens(signingKey)
  const app = express()
  app.disable('x-powered-by')

  /** The binding of a refresh token: the device cookie and a hash of the user agent. */
  const binding = (req, deviceId) => ({
    deviceId,
    uaHash: createHash('sha256')
      .update(req.headers['user-agent'] ?? '')
      .digest('hex')
      .slice(0, 32),
  })

  /** Sets the cookies of a signed-in session and answers with its access token. */
  const grant = (res, { userId, rid, absExp, deviceId, sessionId }) => {
    const remaining = Math.max(1, absExp - nowSeconds())
    const accessToken = tokens.issue({ sub: userId, sid: sessionId, did: deviceId, admin: users[userId]?.admin === true })
    res.cookie(REFRESH_COOKIE, rid, cookieOptions('/auth', remaining))
    res.cookie(SESSION_COOKIE, sessionId, cookieOptions('/auth', remaining))
    res.cookie(ACCESS_COOKIE, accessToken, cookieOptions('/', ACCESS_TTL_SECONDS))
    res.json({ userId, accessToken, expiresIn: ACCESS_TTL_SECONDS })
  }

  const clearSession = (res) => {
    res.clearCookie(REFRESH_COOKIE, { path: '/auth' })
    res.clearCookie(SESSION_COOKIE, { path: '/auth' })
    res.clearCookie(ACCESS_COOKIE, { path: '/' })
  }

  /** The claims of the request's Bearer access token, or null. */
  const bearerOf = (req) => {
    const header = req.headers.authorization
    return header?.startsWith('Bearer ') ? tokens.verify(header.slice(7)) : null
  }

  // The API takes the access token from the Authorization header only, so no cookie
  // alone can call it; the cookie copy is for the board's pages in a browser.
  const signedIn = (req, res, next) => {
    const claims = bearerOf(req)
    if (claims === null) return res.status(401).json({ error: 'sign in first' })
    req.claims = claims
    next()
  }

  app.use('/auth', express.json({ limit: '4kb' }))

  app.post('/auth/sign-in', async (req, res) => {
    const { username, password } = req.body ?? {}
    const user = typeof username === 'string' && Object.hasOwn(users, username) ? users[username] : null
    if (user === null || typeof password !== 'string' || !passwordMatches(user.password, password)) {
      return res.status(401).json({ error: 'wrong username or password' })
    }
    // A device keeps its id across sign-ins, so "sign out this device" finds every session of it.
    const deviceId = /^[A-Za-z0-9_-]{16,64}$/.test(cookies(req)[DEVICE_COOKIE] ?? '') ? cookies(req)[DEVICE_COOKIE] : randomBytes(16).toString('base64url')
    res.cookie(DEVICE_COOKIE, deviceId, { ...cookieOptions('/', 400 * 24 * 3600) })
    const { rid, absExp } = await store.issueInitial(username, { now: nowSeconds(), absTtlSeconds: SESSION_TTL_SECONDS, ...binding(req, deviceId) })
    // The session's id, for the devices list: the lineage view of the token just issued.
    const { sessions } = await store.inspectLineage(rid)
    grant(res, { userId: username, rid, absExp, deviceId, sessionId: sessions[0].sessionId })
  })

  app.post('/auth/refresh', async (req, res) => {
    const jar = cookies(req)
    const deviceId = jar[DEVICE_COOKIE] ?? ''
    try {
      const { userId, newRid } = await store.verifyAndRotateRefresh({ rid: jar[REFRESH_COOKIE] ?? '', now: nowSeconds(), ...binding(req, deviceId) })
      grant(res, { userId, rid: newRid.rid, absExp: newRid.absExp, deviceId, sessionId: jar[SESSION_COOKIE] ?? '' })
    } catch (err) {
      if (!REFUSED.has(err.code)) throw err
      clearSession(res)
      // A replay has already ended the whole lineage (onReuse: 'revoke-lineage').
      res.status(401).json({ error: err.code === 'ERR_REPLAY' ? 'refresh token reused: this session was ended' : 'sign in again' })
    }
  })

  /** Sign out: this session only. */
  app.post('/auth/sign-out', async (req, res) => {
    const rid = cookies(req)[REFRESH_COOKIE]
    if (rid) await store.logout(rid)
    clearSession(res)
    res.status(204).end()
  })

  /** Sign out this device: every session of the user on it. */
  app.post('/auth/sign-out-device', signedIn, async (req, res) => {
    const ended = await store.logoutDeviceCounted(req.claims.sub, req.claims.did)
    clearSession(res)
    res.json({ ended })
  })

  /** Sign out everywhere: every session of the user. */
  app.post('/auth/sign-out-everywhere', signedIn, async (req, res) => {
    const ended = await store.logoutAllCounted(req.claims.sub)
    clearSession(res)
    res.json({ ended })
  })

  /** The user's devices, by session id (never a token), this one marked. */
  app.get('/me/devices', signedIn, async (req, res) => {
    const sessions = await store.listSessions(req.claims.sub)
    res.json(
      sessions.map((s) => ({
        sessionId: s.sessionId,
        deviceId: s.deviceId,
        signedInAt: s.signedInAt,
        lastRotatedAt: s.lastRotatedAt,
        current: s.sessionId === req.claims.sid,
      })),
    )
  })

  /** End one of my other sessions, by its id. */
  app.delete('/me/devices/:sessionId', signedIn, async (req, res) => {
    const ended = await store.logoutSession(req.claims.sub, req.params.sessionId)
    res.status(ended ? 204 : 404).end()
  })

  // The operators' board: administrators only, its form tokens bound to their name.
  app.use(
    '/admin',
    createSessionBoard({
      store,
      authorize: (req) => {
        const claims = bearerOf(req) ?? tokens.verify(cookies(req)[ACCESS_COOKIE])
        return claims?.admin === true ? claims.sub : false
      },
    }),
  )

  app.use((err, _req, res, _next) => {
    res.status(503).json({ error: 'the session store could not answer', code: err.code ?? 'internal' })
  })
  return app
}
