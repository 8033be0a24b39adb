// What a group left in Redis, summarised so that the two implementations' runs can be
// compared: the parent reads it after each child, and `compareKeyspaces` lists what differs.
//
// Two modes:
//   exact       the seeded groups (gc, logoutAll): every store key by name, its type, its
//               content (hash fields and values, set members, string value) and whether
//               it has a TTL, one line per key.
//   normalised  the timed groups, whose rids, timestamps and call counts differ by
//               design: each key becomes a shape (its name with the rid, user and digits
//               replaced by placeholders, its type, TTL presence, its hash field names
//               with value classes, its set members' shapes), counted.
// Both add the references between keys (where each index member and device key points)
// and the sessions by status; keys outside the store's prefix are only counted.

const PREFIX = 'auth:'
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g
const SCAN_PAGE = 10_000
const BATCH = 2_000

/** A value or key name with what differs between runs by design replaced by placeholders. */
function normalise(text) {
  return text
    .replace(UUID, '<rid>')
    .replace(/\b\d{9,11}\b/g, '<time>')
    .replace(/:[a-z]+\d+:/g, (m) => `:${m.slice(1, -1).replace(/\d+/, '<n>')}:`)
    .replace(/^([a-z]+)\d+$/, '$1<n>')
}

async function allKeys(redis) {
  const keys = []
  let others = 0
  let cursor = '0'
  do {
    const [next, page] = await redis.scan(cursor, 'COUNT', SCAN_PAGE)
    cursor = next
    for (const key of page) {
      if (key.startsWith(PREFIX)) keys.push(key)
      else others++
    }
  } while (cursor !== '0')
  return { keys, others }
}

/** Type, TTL presence and content of each key, read in pipelined batches, batch by batch. */
async function* readKeys(redis, keys) {
  for (let start = 0; start < keys.length; start += BATCH) {
    const batch = keys.slice(start, start + BATCH)
    const meta = redis.pipeline()
    for (const key of batch) meta.type(key).pttl(key)
    const metaReplies = await meta.exec()
    const content = redis.pipeline()
    const types = batch.map((_, i) => metaReplies[2 * i][1])
    batch.forEach((key, i) => {
      if (types[i] === 'hash') content.hgetall(key)
      else if (types[i] === 'set') content.smembers(key)
      else if (types[i] === 'string') content.get(key)
      else content.call('TYPE', key) // other types (an audit stream): the type is the content
    })
    const contentReplies = await content.exec()
    yield batch.map((key, i) => {
      const [err, value] = contentReplies[i]
      if (err) throw err
      return { key, type: types[i], ttl: metaReplies[2 * i + 1][1] >= 0, value }
    })
  }
}

function contentText(entry, norm) {
  const { type, value } = entry
  if (type === 'hash')
    return Object.keys(value)
      .sort()
      .map((f) => `${f}=${norm(value[f])}`)
      .join(' ')
  if (type === 'set') return [...new Set(value.map(norm))].sort().join(' ')
  if (type === 'string') return norm(value)
  return value
}

const lineOf = (e, norm, suffix = '') => `${norm(e.key)} ${e.type}${e.ttl ? ' ttl' : ''}: ${contentText(e, norm)}${suffix}`

/**
 * The summary of the store's data now in `redis`; see the top of this file for the
 * modes. Keys are summarised batch by batch; what is kept to the end is each session's
 * status, the index members and the device keys, whose targets are resolved last.
 */
export async function readKeyspace(redis, { exact }) {
  const { keys, others } = await allKeys(redis)
  const norm = exact ? (v) => v : normalise
  const lines = {}
  const sessions = {}
  const refs = {}
  const count = (counts, name) => {
    counts[name] = (counts[name] ?? 0) + 1
  }
  const statusByKey = new Map()
  const indexMembers = []
  const deviceKeys = []
  for await (const batch of readKeys(redis, keys)) {
    for (const e of batch) {
      if (e.type === 'hash' && e.key.startsWith(`${PREFIX}rid:`)) {
        statusByKey.set(e.key, e.value.status ?? 'no status')
        count(sessions, e.value.status)
      }
      if (e.type === 'set' && e.key.startsWith(`${PREFIX}user:`)) for (const m of e.value) indexMembers.push(m)
      if (e.type === 'string' && e.key.startsWith(`${PREFIX}device:`)) deviceKeys.push(e)
      else count(lines, lineOf(e, norm))
    }
  }
  const statusOf = (key) => statusByKey.get(key) ?? 'missing'
  for (const m of indexMembers) count(refs, `index member -> ${statusOf(m)}`)
  for (const e of deviceKeys) {
    count(refs, `device key -> ${statusOf(e.value)}`)
    // A device key's line names its session's status: a pointer to an ended session is a
    // documented difference between the two implementations (see same-work.mjs).
    count(lines, lineOf(e, norm, ` (-> ${statusOf(e.value)})`))
  }
  return { exact, keys: keys.length, otherKeys: others, lines, sessions, refs }
}

const MAX_SHOWN = 200

/** A line as a message shows it: a large set's members would bury the difference. */
const shown = (line) => JSON.stringify(line.length > MAX_SHOWN ? `${line.slice(0, MAX_SHOWN)}...` : line)

/** Names counted differently by the two, in name order (so one key's two versions sit together). */
function differingCounts(what, a, b, names) {
  const out = []
  for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if ((a[name] ?? 0) !== (b[name] ?? 0)) out.push(`${what} ${shown(name)}: ${names[0]} ${a[name] ?? 0}, ${names[1]} ${b[name] ?? 0}`)
  }
  return out
}

/**
 * What differs between two summaries (empty when nothing does). Exact summaries must
 * agree key by key; normalised ones on the set of key shapes (not their counts, which
 * follow the number of calls each implementation completed in the same time) and on
 * the keys outside the store. Counts that follow the calls are checked by the caller.
 */
export function compareKeyspaces(a, b, names = ['original', 'native'], limit = 8) {
  const diffs = []
  if (a.otherKeys !== b.otherKeys) diffs.push(`keys outside "${PREFIX}*": ${names[0]} ${a.otherKeys}, ${names[1]} ${b.otherKeys}`)
  if (a.exact) {
    diffs.push(...differingCounts('key', a.lines, b.lines, names))
    diffs.push(...differingCounts('sessions with status', a.sessions, b.sessions, names))
    diffs.push(...differingCounts('references', a.refs, b.refs, names))
  } else {
    const only = (x, y) => Object.keys(x).filter((line) => !(line in y))
    for (const line of only(a.lines, b.lines)) diffs.push(`only ${names[0]} left keys shaped ${shown(line)} (${a.lines[line]})`)
    for (const line of only(b.lines, a.lines)) diffs.push(`only ${names[1]} left keys shaped ${shown(line)} (${b.lines[line]})`)
    for (const kind of only(a.refs, b.refs)) diffs.push(`only ${names[0]} has ${kind} (${a.refs[kind]})`)
    for (const kind of only(b.refs, a.refs)) diffs.push(`only ${names[1]} has ${kind} (${b.refs[kind]})`)
  }
  return diffs.length > limit ? [...diffs.slice(0, limit), `... and ${diffs.length - limit} more`] : diffs
}
