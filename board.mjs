// The session board: a request handler an auth server mounts to let its operators find a
// user, see their sessions and lineages, the keyspace and the store's metrics, read the
// audit trail, and end a session, a device or all of a user's sessions.
//
// Plain server-rendered HTML, no script and no external asset. Every stored string
// (userIds, deviceIds, audit fields) is attacker-controlled and goes through `html`,
// which escapes whatever it is given. No rid ever leaves the server: rows and actions
// carry sessionIds (which name a lineage and work as no token) and deviceIds.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { time, relative, bytes, count } from './cli/format.mjs'

const ACTIONS = ['end-session', 'end-device', 'end-all']
const CSRF_COOKIE = 'rss_board_csrf'
const MAX_FORM_BYTES = 16 * 1024
const AUDIT_ROWS = 50
const RECENT_ROWS = 20
/** Lineages longer than this start folded. */
const FOLD_AT = 8

/** Markup that `html` inserts as it is. Only `html` makes one. */
class Markup {
  constructor(text) {
    this.text = text
  }
  toString() {
    return this.text
  }
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
// Control, zero-width and bidirectional characters would let a crafted userId look like
// another one: they are shown as visible escapes.
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu

function escapeText(value) {
  return String(value)
    .replace(INVISIBLE, (ch) => `\\u{${ch.codePointAt(0).toString(16)}}`)
    .replace(/[&<>"']/g, (ch) => ENTITIES[ch])
}

function render(value) {
  if (value instanceof Markup) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeText(value)
}

/** A template tag: every interpolated value is escaped unless it is Markup itself. */
function html(strings, ...values) {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new Markup(out)
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--panel:#fff;--ink:#1b1f24;--muted:#5b6470;--line:#d9dde3;--accent:#1f6feb;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--chip:#eef1f4}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--panel:#161b22;--ink:#e6edf3;--muted:#8d96a0;--line:#30363d;--accent:#4493f8;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--chip:#21262d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--panel);padding:.5rem 1rem}
.skip:focus{left:.5rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.75rem 1.25rem;background:var(--panel);border-bottom:1px solid var(--line)}
header .brand{font-weight:650;text-decoration:none;color:var(--ink)}
header form{display:flex;gap:.5rem;flex:1;min-width:14rem;max-width:32rem}
main{max-width:72rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.4rem;margin:.25rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:0 0 .75rem}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:1rem 1.25rem;margin-bottom:1.25rem}
.grid{display:grid;gap:1.25rem;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));margin-bottom:1.25rem}
.grid section{margin:0}
input[type=search]{flex:1;min-width:0;padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--ink);font:inherit}
button{font:inherit;padding:.4rem .8rem;border-radius:6px;border:1px solid var(--line);background:var(--chip);color:var(--ink);cursor:pointer}
button.danger{border-color:var(--bad);color:var(--bad);background:transparent}
button.danger:hover{background:var(--bad);color:#fff}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}
.nowrap{white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;overflow-wrap:anywhere}
.chip{display:inline-block;padding:0 .5rem;border-radius:999px;background:var(--chip);font-size:.8rem;font-weight:600}
.s-active{color:var(--ok)}.s-used{color:var(--warn)}.s-tombstoned,.s-expired{color:var(--bad)}
.actions{display:flex;flex-wrap:wrap;gap:.4rem}
.actions form{margin:0}
.bar{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.75rem;margin-bottom:.75rem}
.bar h2{margin:0}
.note{padding:.6rem .9rem;border-radius:6px;border:1px solid var(--line);background:var(--chip);margin-bottom:1rem}
.note.bad{border-color:var(--bad)}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.1rem;border-left:2px solid var(--line)}
ul.tree{padding-left:.6rem}
ul.tree li{margin:.3rem 0;padding-left:.2rem}
.lineage{margin:.5rem 0 1rem}
.lineage summary{cursor:pointer}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums}
@media (max-width:44rem){
main{padding:.75rem}
table.stack thead{display:none}
table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
table.stack td{display:flex;gap:1rem;border:0;padding:.2rem 0}
table.stack td::before{content:attr(data-label);flex:0 0 7.5rem;color:var(--muted);font-size:.85rem}
}
`
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64')
/** No script, no frame, no foreign form target; the one stylesheet is inline and pinned by its hash. */
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`

const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

class HttpError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

const nowSeconds = () => Math.floor(Date.now() / 1000)

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
      const ended = await act(route.action, route.userId, form)
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
    const body = route.name === 'user' ? await userPage(ctx, route.userId, route.query) : await homePage(ctx)
    send(res, 200, body)
  }

  async function act(action, userId, form) {
    if (action === 'end-all') return store.logoutAllCounted(userId)
    if (action === 'end-device') {
      if (typeof form.deviceId !== 'string' || form.deviceId === '') throw new HttpError(400, 'No device was named: nothing was changed.')
      return store.logoutDeviceCounted(userId, form.deviceId)
    }
    if (typeof form.sessionId !== 'string' || form.sessionId === '') throw new HttpError(400, 'No session was named: nothing was changed.')
    return (await store.logoutSession(userId, form.sessionId)) ? 1 : 0
  }

  async function homePage(ctx) {
    const [stats, recent] = await Promise.all([store.keyspaceStats(), readAudit({ count: RECENT_ROWS })])
    const metrics = typeof store.metrics === 'function' ? store.metrics() : null
    const body = html`
      <div class="grid">
        ${statsSection(stats)}
        ${metricsSection(metrics)}
      </div>
      ${recent === null ? '' : auditSection('Recent activity', recent, ctx, true)}`
    return page({ title: 'Sessions', mount: ctx.mount, body })
  }

  async function userPage(ctx, userId, query) {
    const [sessions, audit] = await Promise.all([store.listSessions(userId), readAudit({ userId, count: AUDIT_ROWS })])
    const lineages = await Promise.all(sessions.map((s) => store.inspectSession(userId, s.sessionId)))
    const now = nowSeconds()
    const notice = flash(query)
    const devices = [...new Set(sessions.map((s) => s.deviceId).filter((d) => d !== ''))]
    const canAct = !ctx.readOnly
    const action = (name, label, fields, describe) =>
      canAct
        ? html`<form method="post" action="${userHref(ctx.mount, userId)}/${name}">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            ${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
            <button type="submit" class="danger" aria-label="${describe}">${label}</button></form>`
        : ''

    const rows = sessions.map(
      (s) => html`<tr>
        <td data-label="Device">${s.deviceId === '' ? html`<span class="muted">no device</span>` : html`<span class="mono">${s.deviceId}</span>`}</td>
        <td data-label="Signed in">${when(s.signedInAt, now)}</td>
        <td data-label="Last rotated">${when(s.lastRotatedAt, now)}</td>
        <td data-label="Idle expiry">${when(s.expAt, now)}</td>
        <td data-label="Absolute expiry">${when(s.absExpAt, now)}</td>
        <td data-label="Status">${statusChip(s.expAt <= now ? 'expired' : s.status)}</td>
        <td data-label="Session" class="mono nowrap" title="${s.sessionId}">${s.sessionId.slice(0, 12)}…</td>
        ${
          canAct
            ? html`<td data-label="Actions"><div class="actions">
          ${action('end-session', 'End session', { sessionId: s.sessionId }, `End session ${s.sessionId.slice(0, 12)}`)}
          ${s.deviceId === '' ? '' : action('end-device', 'End device', { deviceId: s.deviceId }, `End every session of device ${s.deviceId}`)}
        </div></td>`
            : ''
        }
      </tr>`,
    )
    const body = html`
      <h1>User <span class="mono">${userId}</span></h1>
      ${notice}
      ${ctx.readOnly ? html`<div class="note">Read-only board: sessions can be seen, not ended.</div>` : ''}
      <section aria-labelledby="sessions-h">
        <div class="bar"><h2 id="sessions-h">Active sessions <span class="chip">${sessions.length}</span></h2>
          ${sessions.length > 0 && canAct ? html`<div class="actions">${action('end-all', 'End all sessions', {}, `End all sessions of this user`)}</div>` : ''}
        </div>
        ${
          sessions.length === 0
            ? html`<p class="muted">No active session.</p>`
            : html`<table class="stack"><thead><tr><th scope="col">Device</th><th scope="col">Signed in</th><th scope="col">Last rotated</th><th scope="col">Idle expiry</th><th scope="col">Absolute expiry</th><th scope="col">Status</th><th scope="col">Session</th>${canAct ? html`<th scope="col">Actions</th>` : ''}</tr></thead><tbody>${rows}</tbody></table>`
        }
        ${devices.length > 1 ? html`<p class="muted">${devices.length} devices.</p>` : ''}
      </section>
      <section aria-labelledby="lineages-h">
        <h2 id="lineages-h">Lineages</h2>
        ${sessions.length === 0 ? html`<p class="muted">No active lineage.</p>` : sessions.map((s, i) => lineageTree(lineages[i], s, now))}
      </section>
      ${audit === null ? '' : auditSection('Audit trail', audit, ctx, false)}`
    return page({ title: `User ${userId}`, mount: ctx.mount, body })
  }

  /** The audit stream's newest entries, or null when the store cannot read them here. */
  async function readAudit(opts) {
    if (typeof store.readAudit !== 'function') return null
    try {
      return await store.readAudit(opts)
    } catch {
      return null
    }
  }
}

function page({ title, mount, body }) {
  const home = mount === null ? null : `${mount}/`
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Session board</title><style>${new Markup(STYLE)}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><a class="brand" href="${home ?? '#main'}">Session board</a>
${
  home === null
    ? ''
    : html`<form method="get" action="${mount}/users" role="search"><label for="find" class="skip">User id</label>
<input id="find" type="search" name="userId" placeholder="Find a user by id" required autocomplete="off" spellcheck="false"><button type="submit">Find</button></form>`
}
</header>
<main id="main">${body}</main></body></html>`
}

function statsSection(stats) {
  const statuses = Object.entries(stats.sessionsByStatus)
  return html`<section aria-labelledby="stats-h"><h2 id="stats-h">Keyspace</h2>
    <dl class="kv">
      ${statuses.length === 0 ? html`<dt>Sessions</dt><dd>none</dd>` : statuses.map(([status, n]) => html`<dt>${statusChip(status)}</dt><dd>${count(n)}</dd>`)}
      <dt>Users</dt><dd>${count(stats.userKeys)} <span class="muted">(${bytes(stats.userBytes)})</span></dd>
      <dt>Session keys</dt><dd>${count(stats.ridKeys)} <span class="muted">(${bytes(stats.ridBytes)})</span></dd>
      <dt>Device keys</dt><dd>${count(stats.deviceKeys)} <span class="muted">(${bytes(stats.deviceBytes)})</span></dd>
      <dt>Indexed</dt><dd>${count(stats.indexedMembers)}</dd>
    </dl></section>`
}

function metricsSection(metrics) {
  if (metrics === null) {
    return html`<section aria-labelledby="metrics-h"><h2 id="metrics-h">Calls</h2><p class="muted">Metrics are off (the store's <span class="mono">metrics</span> option).</p></section>`
  }
  const methods = Object.keys(metrics.calls).sort()
  const rows = methods.map((method) => {
    const outcomes = metrics.calls[method]
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0)
    const failures = Object.entries(outcomes).filter(([outcome]) => outcome !== 'ok')
    const lat = metrics.latency[method]
    const mean = lat && lat.count > 0 ? `${((lat.sum / lat.count) * 1000).toFixed(2)} ms` : '-'
    return html`<tr><td data-label="Method" class="mono">${method}</td><td data-label="Calls" class="num">${count(total)}</td>
      <td data-label="Errors">${failures.length === 0 ? html`<span class="muted">none</span>` : failures.map(([code, n]) => html`<span class="chip">${code} ${count(n)}</span> `)}</td>
      <td data-label="Mean" class="num">${mean}</td></tr>`
  })
  return html`<section aria-labelledby="metrics-h"><h2 id="metrics-h">Calls since start</h2>
    ${
      rows.length === 0
        ? html`<p class="muted">No call yet.</p>`
        : html`<table class="stack"><thead><tr><th scope="col">Method</th><th scope="col" class="num">Calls</th><th scope="col">Errors</th><th scope="col" class="num">Mean</th></tr></thead><tbody>${rows}</tbody></table>`
    }</section>`
}

function auditSection(title, entries, ctx, withUser) {
  const now = nowSeconds()
  const rows = entries.map(
    (e) => html`<tr><td data-label="When">${when(e.time, now)}</td>
      ${withUser ? html`<td data-label="User"><a class="mono" href="${userHref(ctx.mount, e.userId)}">${e.userId}</a></td>` : ''}
      <td data-label="Event">${e.event}</td><td data-label="Reason">${e.reason === '' ? html`<span class="muted">-</span>` : e.reason}</td>
      <td data-label="Device">${e.deviceId === '' ? html`<span class="muted">-</span>` : html`<span class="mono">${e.deviceId}</span>`}</td></tr>`,
  )
  return html`<section aria-labelledby="audit-h"><h2 id="audit-h">${title}</h2>
    ${
      entries.length === 0
        ? html`<p class="muted">No audit entry (the store's <span class="mono">audit</span> option is off, or nothing happened yet).</p>`
        : html`<table class="stack"><thead><tr><th scope="col">When</th>${withUser ? html`<th scope="col">User</th>` : ''}<th scope="col">Event</th><th scope="col">Reason</th><th scope="col">Device</th></tr></thead><tbody>${rows}</tbody></table>`
    }</section>`
}

/** One lineage as a tree: a rotation continues the line, a fork (grace-window answers) indents. */
function lineageTree(lineage, current, now) {
  if (lineage === null) return html`<p class="muted">A lineage ended while the page was drawn.</p>`
  const { sessions } = lineage
  const children = sessions.map(() => [])
  const roots = []
  sessions.forEach((s, i) => {
    if (s.parentIndex === undefined) roots.push(i)
    else children[s.parentIndex].push(i)
  })
  const node = (i) => {
    const s = sessions[i]
    const isCurrent = s.rid === current.rid
    return html`<li>${statusChip(s.status)} created ${when(s.createdAt, now)}${s.deviceId === '' ? '' : html` · <span class="mono">${s.deviceId}</span>`}${isCurrent ? html` <strong>← current</strong>` : ''}</li>`
  }
  // A chain of rotations stays flat; only a session with several children opens a level.
  const chain = (start) => {
    const items = []
    let i = start
    for (;;) {
      items.push(node(i))
      if (children[i].length !== 1) break
      i = children[i][0]
    }
    if (children[i].length > 1) items.push(html`<li><ul>${children[i].map((c) => chain(c))}</ul></li>`)
    return items
  }
  const tree = html`<ul class="tree">${lineage.missingParent ? html`<li class="muted">older sessions expired or collected</li>` : ''}${roots.map((r) => chain(r))}</ul>`
  const summary = html`Session <span class="mono">${current.sessionId.slice(0, 12)}…</span> · ${current.deviceId === '' ? 'no device' : current.deviceId} · ${sessions.length} ${sessions.length === 1 ? 'session' : 'sessions'}`
  return html`<details class="lineage" ${sessions.length <= FOLD_AT ? 'open' : ''}><summary>${summary}</summary>${tree}</details>`
}

function statusChip(status) {
  return html`<span class="chip s-${/^[a-z]+$/.test(status) ? status : 'other'}">${status}</span>`
}

function when(seconds, now) {
  if (!seconds) return html`<span class="muted">-</span>`
  return html`<time datetime="${new Date(seconds * 1000).toISOString()}" title="${time(seconds)}">${seconds === now ? 'just now' : relative(seconds, now)}</time>`
}

function flash(query) {
  const ended = query.get('ended')
  const what = query.get('what')
  if (ended === null || !/^\d{1,6}$/.test(ended) || !ACTIONS.includes(what)) return ''
  const n = Number(ended)
  const noun = n === 1 ? 'session' : 'sessions'
  return html`<div class="note" role="status">${n === 0 ? 'Nothing to end: no matching active session.' : `Ended ${n} ${noun}.`}</div>`
}

const userHref = (mount, userId) => `${mount}/users/${encodeURIComponent(userId)}`

/**
 * Where the request is, relative to the board: { name, mount, userId?, action?, query },
 * or null for a path the board does not serve. Express (and Fastify's middleware layer)
 * give the mount as `req.baseUrl`; otherwise it is what comes before the board's own
 * path, so the handler works under any prefix without being told it.
 */
function parseRoute(req) {
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

function readCookie(req, name) {
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

const isTls = (req) => Boolean(req.socket?.encrypted) || req.headers['x-forwarded-proto'] === 'https'

/** The POSTed form: from a body parser that already ran (Express, Fastify), or read here. */
async function readForm(req) {
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

function send(res, status, markup) {
  res.statusCode = status
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.end(markup.text)
}
