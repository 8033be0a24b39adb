// Requests to the board: which page or action a URL names, under whatever prefix the board
// is mounted, the links back to them, and what a request carries (its cookie, its form).

/** The actions a POST can name, as the last part of a user's path. */
export const ACTIONS = ['end-session', 'end-device', 'end-all']
const MAX_FORM_BYTES = 16 * 1024

/** A refusal with its HTTP status; its message is shown as it is. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/** The page of one user. */
export const userHref = (mount, userId) => `${mount}/users/${encodeURIComponent(userId)}`

/**
 * Where the request is, relative to the board: { name, mount, userId?, action?, query },
 * or null for a path the board does not serve. Express (and Fastify's middleware layer)
 * give the mount as `req.baseUrl`; otherwise it is what comes before the board's own
 * path, so the handler works under any prefix without being told it.
 */
export function parseRoute(req) {
  const express = typeof req.baseUrl === 'string'
  const url = new URL(express ? req.url : (req.originalUrl ?? req.url), 'http://board.invalid')
  // Repeated slashes collapse: a mount of `//host` would make every link and redirect
  // of the board point at another site.
  const path = url.pathname.replace(/\/{2,}/g, '/')
  const query = url.searchParams
  const user = /^(.*)\/users\/([^/]+)(?:\/([a-z-]+))?\/?$/.exec(path)
  const prefix = express ? req.baseUrl.replace(/\/$/, '') : null
  if (user) {
    if (express && user[1] !== '') return null
    let userId
    try {
      userId = decodeURIComponent(user[2])
    } catch {
      return null
    }
    const mount = prefix ?? user[1]
    if (user[3] === undefined) return { name: 'user', mount, userId, query }
    return ACTIONS.includes(user[3]) ? { name: 'action', mount, userId, action: user[3], query } : null
  }
  const search = /^(.*)\/users\/?$/.exec(path)
  if (search && (!express || search[1] === '')) return { name: 'search', mount: prefix ?? search[1], query }
  if (express && path !== '/' && path !== '') return null
  return { name: 'home', mount: prefix ?? path.replace(/\/+$/, ''), query }
}

export function readCookie(req, name) {
  const header = req.headers.cookie
  if (typeof header !== 'string') return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim()
      return /^[A-Za-z0-9_-]{16,64}$/.test(value) ? value : null
    }
  }
  return null
}

export const isTls = (req) => Boolean(req.socket?.encrypted) || req.headers['x-forwarded-proto'] === 'https'

/** The POSTed form: from a body parser that already ran (Express, Fastify), or read here. */
export async function readForm(req) {
  if (req.body !== undefined && req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) return req.body
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Actions are sent as a form: nothing was changed.')
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'The form is too large: nothing was changed.')
    chunks.push(chunk)
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
}
