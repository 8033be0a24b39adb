// The benchmark's same-work check: after each group, what the original and this package
// produced must agree, or the run fails (a faster implementation that skipped work, or
// swallowed errors, would otherwise look like a win). See BENCHMARKS.md, "Method".

import { compareKeyspaces } from './keyspace.mjs'

const EXPECTED_REFUSAL = 'rotate_fail:ERR_REPLAY'
const GC_REPORT_FIELDS = ['scannedUserSets', 'scannedRids', 'removedFromSets', 'addedToSets', 'deletedRidHashes']

/** Failed calls a child counted, as readable lines (every timed call must succeed). */
function failureLines(where, failures) {
  return Object.entries(failures ?? {}).map(([message, n]) => `${where}: ${n} calls failed with ${JSON.stringify(message)}`)
}

/**
 * The timed groups leave a session hash per successful issue and rotation (nothing
 * deletes one there), and a used parent per rotation: the data must account for every
 * call the child says succeeded, no more and no fewer. Where sessions were logged out
 * (the mixed run) this package's logout of an already ended rid ends its lineage, used
 * parents included (a deliberate difference), so only the total is checked there.
 */
function accountedFor(impl, { made, keyspace }) {
  const sessions = Object.values(keyspace.sessions).reduce((a, b) => a + b, 0)
  const out = []
  if (sessions !== made.issued + made.rotated)
    out.push(`${impl}: ${sessions} session hashes left for ${made.issued} issues + ${made.rotated} rotations that succeeded`)
  if (made.loggedOut === 0 && (keyspace.sessions.used ?? 0) !== made.rotated)
    out.push(`${impl}: ${keyspace.sessions.used ?? 0} used sessions left for ${made.rotated} rotations that succeeded`)
  return out
}

/**
 * Where the data deliberately differs (COMPATIBILITY.md lists both): the original keeps a
 * rotated parent in its user's index, and leaves a device key pointing at a session that
 * logout or logoutAll ended; this package does neither. This package must leave none of
 * them, and the original's are left out of the comparison.
 */
const DELIBERATE = [
  { ref: 'index member -> used', what: 'used parents in user indexes' },
  { ref: 'device key -> tombstoned', line: / \(-> tombstoned\)$/, what: 'device keys pointing at ended sessions' },
  // gcScope 'registry' (this package's option): the set of the store's users gc walks.
  { line: /^auth:registry set/, what: 'the gc registry' },
]

function withoutDeliberateDifferences(impl, { keyspace }) {
  const diffs = []
  const refs = { ...keyspace.refs }
  const lines = { ...keyspace.lines }
  for (const d of DELIBERATE) {
    if (impl === 'native' && refs[d.ref]) diffs.push(`native: ${refs[d.ref]} ${d.what} (the original's behaviour, not this package's)`)
    delete refs[d.ref]
    if (d.line) for (const line of Object.keys(lines)) if (d.line.test(line)) delete lines[line]
  }
  return { diffs, keyspace: { ...keyspace, refs, lines } }
}

/** Both keyspaces compared, the deliberate differences set aside. */
function sameData(original, native) {
  const o = withoutDeliberateDifferences('original', original)
  const n = withoutDeliberateDifferences('native', native)
  return [...o.diffs, ...n.diffs, ...compareKeyspaces(o.keyspace, n.keyspace)]
}

/** What a timed group's two runs must agree on besides their own failure counts. */
function timedData(original, native) {
  // Each rotation leaves its parent in the original's index: exactly that many.
  const usedIndexed = original.keyspace.refs['index member -> used'] ?? 0
  const diffs = usedIndexed === original.made.rotated ? [] : [`original: ${usedIndexed} used parents indexed after ${original.made.rotated} rotations`]
  return [...diffs, ...accountedFor('original', original), ...accountedFor('native', native), ...sameData(original, native)]
}

const CHECKS = {
  throughput(original, native) {
    const diffs = []
    for (const [impl, run] of Object.entries({ original, native })) {
      for (const p of run.points) {
        diffs.push(...failureLines(`${impl} ${p.op} @${p.inflight}`, p.failures))
        diffs.push(...failureLines(`${impl} ${p.op} @${p.inflight} warm-up`, p.warmupFailures))
      }
    }
    return [...diffs, ...timedData(original, native)]
  },
  server(original, native) {
    const diffs = []
    for (const [impl, run] of Object.entries({ original, native })) for (const p of run.ops) diffs.push(...failureLines(`${impl} ${p.op}`, p.failures))
    return [...diffs, ...timedData(original, native)]
  },
  gc: gcCheck,
  gcShared: gcCheck,
  gcRegistry: gcCheck,
  gcSharedRegistry: gcCheck,
  logoutAll(original, native) {
    const diffs = []
    if (JSON.stringify(original.check) !== JSON.stringify(native.check))
      diffs.push(`sessions ended: original ${JSON.stringify(original.check)}, native ${JSON.stringify(native.check)}`)
    return [...diffs, ...sameData(original, native)]
  },
  mixed(original, native) {
    // The one refusal a lane meets is a rotation of the session it logged out, refused as
    // a replay; which lane draws which operation depends on completion order, so how
    // many differs between the two.
    const diffs = []
    for (const [impl, run] of Object.entries({ original, native })) {
      const { [EXPECTED_REFUSAL]: _, ...unexpected } = run.rotateRefusals
      diffs.push(...failureLines(`${impl} mixed rotations`, unexpected))
    }
    return [...diffs, ...timedData(original, native)]
  },
}

function gcCheck(original, native) {
  const diffs = []
  for (const f of GC_REPORT_FIELDS)
    if (original.report[f] !== native.report[f]) diffs.push(`report.${f}: original ${original.report[f]}, native ${native.report[f]}`)
  const data = sameData(original, native)
  diffs.push(...data)
  // DEBUG DIGEST also covers expiry times, which the key-by-key summary reads as present or not.
  if (data.length === 0 && original.digestAfter !== native.digestAfter)
    diffs.push(`DEBUG DIGEST differs (${original.digestAfter} vs ${native.digestAfter}) though keys, values and TTL presence agree: an expiry time differs`)
  return diffs
}

/** What differs between the two implementations' results of `group` (empty when nothing does). */
export function sameWork(group, original, native) {
  return CHECKS[group](original, native)
}
