// `redis-session-store board`: the session board on loopback for a quick look without an
// app. Only the holder of a random access token, printed once, gets in: the first visit
// carries it in the URL, the board moves it into an httpOnly cookie and drops it from the
// address bar.

import { createServer } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createSessionBoard } from '../board.mjs'

const ACCESS_COOKIE = 'rss_board_access'

/** Whether `given` is the access token, in constant time. */
function matches(given, token) {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function cookieValue(req, name) {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * Serves the board for `store` on 127.0.0.1:`port` (0: a free port). Resolves to
 * { url, accessUrl, close() } once listening.
 */
export async function serveBoard({ store, port = 0, readOnly = false }) {
  const token = randomBytes(32).toString('base64url')
  const board = createSessionBoard({
    store,
    readOnly,
    authorize: (req) => (matches(cookieValue(req, ACCESS_COOKIE), token) ? 'cli' : false),
  })
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1')
    const access = url.searchParams.get('access')
    if (access !== null) {
      url.searchParams.delete('access')
      res.statusCode = 303
      // A wrong token is dropped without a cookie: the next page is refused.
      if (matches(access, token)) res.setHeader('Set-Cookie', `${ACCESS_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`)
      // Collapsed slashes: `//host` would send the browser to another site.
      res.setHeader('Location', `${url.pathname.replace(/\/{2,}/g, '/')}${url.search}`)
      res.setHeader('Referrer-Policy', 'no-referrer')
      res.end()
      return
    }
    board(req, res)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  const base = `http://127.0.0.1:${server.address().port}`
  return {
    url: `${base}/`,
    accessUrl: `${base}/?access=${token}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
