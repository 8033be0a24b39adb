// Small statistics helpers shared by the benchmark parent and children.

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** Nearest-rank percentile of an unsorted array (p in 0..100). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** p50 / p99 in milliseconds of latencies in milliseconds. */
export function latencySummary(latencies) {
  const sorted = Float64Array.from(latencies).sort()
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) }
}

/**
 * The store's script calls in an `INFO commandstats` text: EVAL/EVALSHA/FCALL and their
 * read-only forms, { calls, usec }. A script's time includes the commands it calls, which
 * commandstats also counts under their own names, so only script commands are summed.
 */
export function scriptCommandStats(commandstats) {
  let [calls, usec] = [0, 0]
  for (const [, name, n, u] of commandstats.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) {
    if (/^(eval|evalsha|fcall)(_ro)?$/.test(name)) {
      calls += Number(n)
      usec += Number(u)
    }
  }
  return { calls, usec }
}

/** Calls per second and CPU microseconds per call of `call`, `inflight` in flight for `ms`. */
export async function measure(call, inflight, ms) {
  let done = 0
  const deadline = performance.now() + ms
  const lane = async () => {
    while (performance.now() < deadline) {
      await call()
      done++
    }
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: inflight }, lane))
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  return { perSec: done / seconds, cpuUs: (used.user + used.system) / done }
}
