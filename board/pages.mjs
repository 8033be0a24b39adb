// The board's pages as HTML, from what data.mjs read: the home page and a user's page, and
// the sections they are made of. Every stored string goes through `html`, which escapes it.

import { time, relative, bytes, count } from '../cli/format.mjs'
import { html, page } from './html.mjs'
import { ACTIONS, userHref } from './routes.mjs'

/** Lineages longer than this start folded. */
const FOLD_AT = 8

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** The home page: the keyspace, the calls since start, the recent activity. */
export function homePage(ctx, { stats, recent, metrics }) {
  const body = html`
    <div class="grid">
      ${statsSection(stats)}
      ${metricsSection(metrics)}
    </div>
    ${recent === null ? '' : auditSection('Recent activity', recent, ctx, true)}`
  return page({ title: 'Sessions', mount: ctx.mount, body })
}

/** A user's page: their active sessions with the actions on them, each lineage, the audit trail. */
export function userPage(ctx, userId, query, { sessions, lineages, audit }) {
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
