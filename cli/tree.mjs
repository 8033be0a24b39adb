// The lineage tree: ancestors to descendants, each session's status and times, the
// inspected rid and the active leaf marked. The one renderer, used by `inspect` and by
// examples/demo.mjs.

import { palette, time, duration, relative, statusColor } from './format.mjs'

const GLYPH = { active: '●', used: '○', tombstoned: '✕' }

/**
 * Renders a lineage (as `inspectLineage` returns it) as text.
 * @param {import('../index').LineageInfo} lineage
 * @param {{ color?: boolean, now?: number }} [options]
 */
export function renderLineage(lineage, { color = false, now = Math.floor(Date.now() / 1000) } = {}) {
  const c = palette(color)
  const { sessions } = lineage
  const byRid = new Map(sessions.map((s) => [s.rid, s]))
  // The sessions come in tree order, each pointing at its parent's place in the list.
  const children = new Map(sessions.map((s) => [s.rid, []]))
  const roots = []
  for (const s of sessions) {
    if (s.parentIndex === undefined) roots.push(s)
    else children.get(sessions[s.parentIndex].rid).push(s)
  }
  const kids = (s) => children.get(s.rid)

  const counts = {}
  for (const s of sessions) counts[s.status] = (counts[s.status] ?? 0) + 1
  const summary = Object.entries(counts)
    .map(([status, n]) => statusColor(status, c)(`${n} ${status}`))
    .join(', ')
  const out = [`${c.bold('Lineage')} of user ${c.cyan(lineage.userId)}: ${sessions.length} session${sessions.length === 1 ? '' : 's'} (${summary})`]
  if (lineage.missingParent) {
    out.push(c.dim(`┄ older sessions gone (expired or collected); the oldest left has parent ${lineage.missingParent}`))
  }

  const details = (s) => {
    const parts = [`created ${time(s.createdAt)}`]
    const next = kids(s)
    if (next.length > 0) {
      const rotatedAt = next[0].createdAt
      parts.push(`rotated ${time(rotatedAt)} (after ${duration(rotatedAt - s.createdAt)})`)
    }
    if (s.status === 'active') parts.push(`expires ${time(s.absExpAt)} (${relative(s.absExpAt, now)})`)
    if (s.status === 'tombstoned') parts.push('ended (logged out or revoked)')
    if (s.deviceId) parts.push(`device ${s.deviceId}`)
    return parts.join(' · ')
  }

  const walk = (s, linePrefix, childPrefix, seen) => {
    if (seen.has(s.rid)) return
    seen.add(s.rid)
    const next = kids(s)
    const paint = statusColor(s.status, c)
    const marks = []
    if (s.rid === lineage.rid) marks.push(c.bold(c.blue('◀ inspected')))
    if (s.status === 'active' && next.length === 0) marks.push(c.bold(c.green('◀ active leaf')))
    out.push(`${linePrefix}${paint(GLYPH[s.status] ?? '?')} ${s.rid}  ${paint(s.status)}${marks.length ? `  ${marks.join('  ')}` : ''}`)
    out.push(`${childPrefix}${next.length > 0 ? '│ ' : '  '} ${c.dim(details(s))}`)
    next.forEach((child, i) => {
      const last = i === next.length - 1
      walk(child, childPrefix + (last ? '└─' : '├─'), childPrefix + (last ? '  ' : '│ '), seen)
    })
  }
  const seen = new Set()
  for (const root of roots) walk(root, '', '', seen)

  out.push('', ...explain(lineage, byRid, kids, c))
  return out.join('\n')
}

/** Plain words under the tree: what the inspected rid's state means. */
function explain(lineage, byRid, kids, c) {
  const asked = byRid.get(lineage.rid)
  const leaves = lineage.sessions.filter((s) => s.status === 'active' && kids(s).length === 0)
  const lines = []
  if (asked?.status === 'used') {
    const child = kids(asked)[0]
    lines.push(
      `${c.yellow('The inspected rid was already rotated')}${child ? ` at ${time(child.createdAt)} into ${child.rid}` : ''}: ` +
        'presenting it again is a replay (rotate_fail:ERR_REPLAY).',
    )
    const leaf = leaves[0]
    if (leaf) {
      let hops = 0
      for (let s = leaf; s && s.rid !== asked.rid; s = byRid.get(s.parentRid)) hops++
      lines.push(`The lineage lives on in ${leaf.rid}, ${hops} rotation${hops === 1 ? '' : 's'} later.`)
    }
  } else if (asked?.status === 'active') {
    lines.push(`${c.green('The inspected rid is the active session')} of this lineage.`)
  } else if (asked?.status === 'tombstoned' && kids(asked).length > 0) {
    // Ending a lineage overwrites `used` with `tombstoned`; the child still shows the rotation.
    const child = kids(asked)[0]
    lines.push(
      `${c.yellow('The inspected rid was rotated')} at ${time(child.createdAt)} into ${child.rid}: presenting it after that was a replay ` +
        `(rotate_fail:ERR_REPLAY). ${c.red('Later the lineage was ended')} (a lineage revocation, logout-all or device logout).`,
    )
  } else if (asked?.status === 'tombstoned') {
    lines.push(`${c.red('The inspected rid was ended')} (logout, device logout, logout-all or a lineage revocation).`)
  }
  if (leaves.length === 0) lines.push('No session of this lineage is active: it has ended.')
  if (leaves.length > 1) lines.push(c.magenta(`${leaves.length} active leaves: this lineage forked, which rotation never does.`))
  if (lineage.scanned) lines.push(c.dim('(descendants no longer indexed were found by scanning the rid keys)'))
  return lines
}
