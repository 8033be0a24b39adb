// The board's request handler: the options checked once, then for each request its route,
// the authorization before any read, the CSRF check before any action, and the page.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { act, homeData, userData } from './data.mjs'
import { SECURITY_HEADERS, html, page, send } from './html.mjs'
import { homePage, userPage } from './pages.mjs'
import { HttpError, isTls, parseRoute, readCookie, readForm, userHref } from './routes.mjs'

const CSRF_COOKIE = 'rss_board_csrf'

/**
 * The handler. See board.d.ts for the options.
 * @param {{ store: object, authorize: Function, readOnly?: boolean }} options
 */
export function createSessionBoard(options) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createSessionBoard needs an options object { store, authorize, readOnly? }')
  }
  const { store, authorize, readOnly = false } = options
  if (typeof authorize !== 'function') {
    throw new TypeError(
      `options.authorize must be a function (req) => boolean | string | Promise of one (received ${authorize === null ? 'null' : typeof authorize}); the board never runs without it`,
    )
  }
  for (const name of ['listSessions', 'inspectSession', 'keyspaceStats', 'logoutSession', 'logoutAllCounted', 'logoutDeviceCounted']) {
    if (store === null || typeof store !== 'object' || typeof store[name] !== 'function') {
      throw new TypeError(`options.store must be a store from createRedisStore (it has no ${name} method)`)
    }
  }
  if (typeof readOnly !== 'boolean') throw new TypeError(`options.readOnly must be a boolean (received ${typeof readOnly})`)

  // CSRF tokens are an HMAC under a secret of this board: bound to the operator that
  // `authorize` named and to a random cookie of their browser.
  const secret = randomBytes(32)
  const csrfToken = (viewer, nonce) => createHmac('sha256', secret).update(`csrf\0${viewer}\0${nonce}`).digest('base64url')

  return function sessionBoard(req, res, next) {
    serve(req, res, next).catch((err) => {
      const status = err instanceof HttpError ? err.status : 500
      // A store error's message can quote stored names: only its code is shown.
      const message = err instanceof HttpError ? err.message : `The store could not answer (${err?.code ?? 'internal error'}).`
      if (res.headersSent) {
        res.destroy()
        return
      }
      send(res, status, page({ title: `${status}`, mount: null, body: html`<div class="note bad" role="alert">${message}</div>` }))
    })
  }

  async function serve(req, res, next) {
    const route = parseRoute(req)
    if (route === null) {
      if (typeof next === 'function') return next()
      throw new HttpError(404, 'Not found.')
    }
    // Authorization comes before any read: a refused request learns nothing.
    let verdict
    try {
      verdict = await authorize(req)
    } catch {
      verdict = false
    }
    if (!verdict) {
      send(res, 403, page({ title: 'Forbidden', mount: null, body: html`<div class="note bad" role="alert">Not allowed.</div>` }))
      return
    }
    const viewer = typeof verdict === 'string' ? verdict : ''
    // A browser without the board's cookie gets one with its first page, whose forms already
    // carry the token; an action without the cookie is refused.
    const cookieNonce = readCookie(req, CSRF_COOKIE)
    const nonce = cookieNonce ?? randomBytes(24).toString('base64url')
    const cookiePath = /^[A-Za-z0-9/_.~%-]+$/.test(route.mount) ? route.mount : '/'
    const cookie = cookieNonce === null ? `${CSRF_COOKIE}=${nonce}; Path=${cookiePath}; HttpOnly; SameSite=Strict${isTls(req) ? '; Secure' : ''}` : null
    const csrf = csrfToken(viewer, nonce)
    const ctx = { mount: route.mount, readOnly, csrf, viewer }

    if (route.name === 'action') {
      if (req.method !== 'POST') throw new HttpError(405, 'Actions are POST requests.')
      if (readOnly) throw new HttpError(403, 'This board is read-only: nothing was changed.')
      const form = await readForm(req)
      const given = typeof form.csrf === 'string' ? Buffer.from(form.csrf) : Buffer.alloc(0)
      const expected = Buffer.from(csrf)
      if (cookieNonce === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new HttpError(403, 'The form token is missing or does not match: nothing was changed. Reload the page and try again.')
      }
      const ended = await act(store, route.action, route.userId, form)
      res.statusCode = 303
      res.setHeader('Location', `${userHref(route.mount, route.userId)}?ended=${ended}&what=${route.action}`)
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
      res.end()
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'Pages are GET requests.')
    if (cookie) res.setHeader('Set-Cookie', cookie)
    if (route.name === 'search') {
      const userId = route.query.get('userId') ?? ''
      res.statusCode = 303
      res.setHeader('Location', userId === '' ? `${route.mount}/` : userHref(route.mount, userId))
      res.end()
      return
    }
    const body = route.name === 'user' ? userPage(ctx, route.userId, route.query, await userData(store, route.userId)) : homePage(ctx, await homeData(store))
    send(res, 200, body)
  }
}
