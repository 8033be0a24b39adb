'use strict'

// The public module. The native class does the work; this file only hands out a plain
// object of functions, so that a method taken off the store (`const { logout } = store`)
// keeps working, as it does with the original package. It also delivers events and keeps
// metrics, both only when asked for: with no listener and `cfg.metrics` unset, a method
// is the native call itself.

const { NativeStore, aclRule, aclFeatures, sentinelUserRule } = loadNative()
const { promised } = require('./promised.js')

const EVENT_NAMES = ['issued', 'rotated', 'replay', 'binding_mismatch', 'expired', 'idle', 'evicted', 'logout']

/** Upper bounds of the latency histogram buckets, in seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/** Counters per method and outcome, and a latency histogram per method. */
class Metrics {
  constructor() {
    this.calls = new Map() // method -> Map(outcome -> count)
    this.latency = new Map() // method -> { counts: number[], sum, count }
  }

  record(method, outcome, seconds) {
    if (!this.calls.has(method)) this.calls.set(method, new Map())
    const outcomes = this.calls.get(method)
    outcomes.set(outcome, (outcomes.get(outcome) || 0) + 1)
    if (!this.latency.has(method)) this.latency.set(method, { counts: new Array(LATENCY_BUCKETS.length).fill(0), sum: 0, count: 0 })
    const h = this.latency.get(method)
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]) h.counts[i]++
    h.sum += seconds
    h.count++
  }

  snapshot() {
    const calls = {}
    for (const [method, outcomes] of this.calls) calls[method] = Object.fromEntries(outcomes)
    const latency = {}
    for (const [method, h] of this.latency) {
      const buckets = Object.fromEntries(LATENCY_BUCKETS.map((le, i) => [String(le), h.counts[i]]))
      buckets['+Inf'] = h.count
      latency[method] = { buckets, sum: h.sum, count: h.count }
    }
    return { calls, latency }
  }

  text() {
    const label = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    const lines = ['# HELP session_store_calls_total Store calls by method and outcome (ok or the error code).', '# TYPE session_store_calls_total counter']
    for (const [method, outcomes] of this.calls) {
      for (const [outcome, n] of outcomes) {
        lines.push(`session_store_calls_total{method="${label(method)}",outcome="${label(outcome)}"} ${n}`)
      }
    }
    lines.push('# HELP session_store_call_duration_seconds Time from a call to its settlement.', '# TYPE session_store_call_duration_seconds histogram')
    for (const [method, h] of this.latency) {
      const m = label(method)
      LATENCY_BUCKETS.forEach((le, i) => {
        lines.push(`session_store_call_duration_seconds_bucket{method="${m}",le="${le}"} ${h.counts[i]}`)
      })
      lines.push(`session_store_call_duration_seconds_bucket{method="${m}",le="+Inf"} ${h.count}`)
      lines.push(`session_store_call_duration_seconds_sum{method="${m}"} ${h.sum}`)
      lines.push(`session_store_call_duration_seconds_count{method="${m}"} ${h.count}`)
    }
    return `${lines.join('\n')}\n`
  }
}

/** A listener's failure (a throw or a rejected Promise) becomes a process warning. */
function warnListener(err) {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'SessionStoreListenerWarning')
}

/**
 * OpenTelemetry, for `cfg.tracing`: the API package when it is installed (an optional peer
 * dependency), loaded once; `null` without it, and then tracing costs nothing.
 */
let otel
function openTelemetry() {
  if (otel === undefined) {
    try {
      otel = require('@opentelemetry/api')
    } catch {
      otel = null
    }
  }
  return otel
}

/** Where the store connects, as the database client conventions name it (no credentials). */
function serverAttributes(url) {
  if (typeof url !== 'string') return {}
  if (url.startsWith('/')) return { 'server.address': url, 'network.transport': 'unix' }
  try {
    const parsed = new URL(url)
    if (parsed.protocol === 'unix:') return { 'server.address': parsed.pathname, 'network.transport': 'unix' }
    return { 'server.address': parsed.hostname.replace(/^\[|\]$/g, ''), 'server.port': Number(parsed.port || 6379) }
  } catch {
    return {}
  }
}

/**
 * Starts one client span per store call, a child of the active context, or `null` when
 * tracing is off or the API is absent. Attributes name the system, the method and the
 * server, never an argument: no token, userId or binding value reaches a trace.
 */
function spanStarter(cfg) {
  if (cfg.tracing === undefined || cfg.tracing === false) return null
  if (typeof cfg.tracing !== 'boolean') throw new TypeError(`cfg.tracing must be a boolean (received ${typeof cfg.tracing})`)
  const api = openTelemetry()
  if (api === null) return null
  const tracer = api.trace.getTracer('redis-session-store-native', require('./package.json').version)
  const base = { 'db.system.name': 'redis', 'db.system': 'redis', ...serverAttributes(cfg.url) }
  return (name) => {
    const span = tracer.startSpan(name, { kind: api.SpanKind.CLIENT, attributes: { ...base, 'db.operation.name': name } }, api.context.active())
    return {
      ok() {
        span.end()
      },
      // Only the error's code: a message may quote an argument.
      failed(err) {
        const code = (err && typeof err.code === 'string' && err.code) || 'error'
        span.setAttribute('error.type', code)
        span.recordException({ name: err instanceof Error ? err.name : 'Error', message: code })
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: code })
        span.end()
      },
    }
  }
}

/** The events of a rotation refused, by the error's code: [name, payload] pairs. */
function rotateRefused([input], err, revokes) {
  const rid = input && typeof input === 'object' ? input.rid : undefined
  switch (err?.code) {
    case 'ERR_REPLAY':
      return [['replay', { rid, revoked: revokes }]]
    case 'ERR_BINDING':
      return [['binding_mismatch', { rid }]]
    case 'ERR_EXPIRED_ABS':
      return [['expired', { rid }]]
    case 'ERR_IDLE':
      return [['idle', { rid }]]
    default:
      return []
  }
}

/** A progress callback whose throw becomes a warning: on the addon's thread it would be fatal. */
function warnOnThrow(onProgress) {
  if (typeof onProgress !== 'function') return onProgress
  return (report) => {
    try {
      onProgress(report)
    } catch (err) {
      process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'GcProgressWarning')
    }
  }
}

/**
 * What each store method is, one line each. Every method calls the addon's method of the
 * same name with its arguments and is counted in the metrics and traced under `as` (its own
 * name unless given). The events of a success: `ends` names the arguments a `logout` event
 * repeats (its `kind` being the method's name), `issued` and `rotated` build theirs from
 * the result; `refused` gives the events of a failure. `evictions`: the result carries the
 * rids a session limit ended, handed to listeners and kept out of the result. `traceOnly`:
 * outside events and metrics, only traced. `args` adapts the arguments before the call.
 */
const METHODS = {
  issueInitial: { issued: true, evictions: true },
  verifyAndRotateRefresh: { rotated: true, refused: rotateRefused },
  tombstoneLineage: { ends: ['rid'] },
  logout: { ends: ['rid'] },
  logoutDevice: { ends: ['userId', 'deviceId'] },
  logoutAll: { ends: ['userId'] },
  // Operator forms of the two logouts, resolving to how many active sessions they ended.
  logoutDeviceCounted: { as: 'logoutDevice', ends: ['userId', 'deviceId'] },
  logoutAllCounted: { as: 'logoutAll', ends: ['userId'] },
  logoutSession: { ends: ['userId', 'sessionId'] },
  logoutOtherSessions: { ends: ['userId', 'keepSessionId'] },
  getRid: {},
  scanRids: {},
  gcOrphans: {},
  readAudit: {},
  // Read-only operator views and tools (used by the `redis-session-store` CLI and the board).
  listSessions: { traceOnly: true },
  inspectLineage: { traceOnly: true },
  inspectSession: { traceOnly: true },
  keyspaceStats: { traceOnly: true },
  migrateFrom: { traceOnly: true },
  prefixHasKeys: { traceOnly: true },
  gcOrphansWithProgress: { traceOnly: true, args: ([opts, onProgress]) => [opts, warnOnThrow(onProgress)] },
}

/** The events of one method's success, as [name, payload] pairs, or `null` for none. */
function successEvents(name, spec) {
  if (spec.ends) {
    const fields = spec.ends
    return (args) => [['logout', { kind: name, ...Object.fromEntries(fields.map((field, i) => [field, args[i]])) }]]
  }
  if (spec.issued) {
    return ([userId, input], value, evicted) => [
      ['issued', { userId, rid: value.rid, absExp: value.absExp, deviceId: input?.deviceId || '' }],
      ...(evicted || []).map((rid) => ['evicted', { userId, rid }]),
    ]
  }
  if (spec.rotated) return ([input], value) => [['rotated', { userId: value.userId, rid: input.rid, newRid: value.newRid }]]
  return null
}

/** @param {import('./index').Cfg} cfg */
function createRedisStore(cfg) {
  const native = new NativeStore(cfg)
  const startSpan = spanStarter(cfg)
  const metrics = native.metricsEnabled ? new Metrics() : null
  const revokes = native.revokesOnReuse
  /** @type {Map<string, Function[]>} */
  const listeners = new Map()
  let listening = 0

  // Events are delivered on a later turn of the event loop, after the caller has its
  // result; listeners see a snapshot of the list as it was when the call settled.
  const deliver = (events) => {
    if (events.length === 0) return
    const batch = events.map(([name, payload]) => [listeners.get(name) || [], payload]).filter(([l]) => l.length)
    if (batch.length === 0) return
    setImmediate(() => {
      for (const [list, payload] of batch) {
        for (const listener of list) {
          try {
            const result = listener(payload)
            if (result && typeof result.then === 'function') result.then(undefined, warnListener)
          } catch (err) {
            warnListener(err)
          }
        }
      }
    })
  }

  /**
   * The one call path of every method in METHODS: the native call itself unless events,
   * metrics, a span or eviction reports need its outcome.
   */
  const storeMethod = (key, spec) => {
    const name = spec.as ?? key
    const counted = !spec.traceOnly
    const strip = spec.evictions === true && native.limitsSessions
    const onOk = successEvents(name, spec)
    const onErr = spec.refused ? (args, err) => spec.refused(args, err, revokes) : null
    const call = spec.args ? (...args) => native[key](...spec.args(args)) : (...args) => native[key](...args)
    if (spec.traceOnly && startSpan === null) return promised(call)
    return promised((...args) => {
      if (listening === 0 && metrics === null && startSpan === null && !strip) return call(...args)
      const span = startSpan === null ? null : startSpan(name)
      const start = metrics && counted ? process.hrtime.bigint() : 0n
      const record = (outcome) => {
        if (metrics === null || !counted) return
        try {
          metrics.record(name, outcome, Number(process.hrtime.bigint() - start) / 1e9)
        } catch {}
      }
      let pending
      try {
        pending = call(...args)
      } catch (err) {
        pending = Promise.reject(err)
      }
      return pending.then(
        (value) => {
          const evicted = strip && value ? value.evicted : undefined
          if (evicted !== undefined) delete value.evicted
          record('ok')
          span?.ok()
          if (listening > 0 && onOk) {
            try {
              deliver(onOk(args, value, evicted))
            } catch {}
          }
          return value
        },
        (err) => {
          record((err && typeof err.code === 'string' && err.code) || 'error')
          span?.failed(err)
          if (listening > 0 && onErr) {
            try {
              deliver(onErr(args, err))
            } catch {}
          }
          throw err
        },
      )
    })
  }

  const store = {
    ...Object.fromEntries(Object.entries(METHODS).map(([key, spec]) => [key, storeMethod(key, spec)])),
    close: async () => native.close(),
    /** Adds a listener for one of EVENT_NAMES; returns the store. */
    on(event, listener) {
      if (!EVENT_NAMES.includes(event)) {
        throw new TypeError(`event must be one of ${EVENT_NAMES.join(', ')} (received ${typeof event === 'string' ? `"${event}"` : typeof event})`)
      }
      if (typeof listener !== 'function') {
        throw new TypeError(`listener must be a function (received ${listener === null ? 'null' : typeof listener})`)
      }
      listeners.set(event, [...(listeners.get(event) || []), listener])
      listening++
      return store
    },
    /** Removes a listener added with `on`; returns the store. */
    off(event, listener) {
      const list = listeners.get(event)
      const at = list ? list.indexOf(listener) : -1
      if (at >= 0) {
        listeners.set(
          event,
          list.filter((_, i) => i !== at),
        )
        listening--
      }
      return store
    },
    /** Counters and latency histograms (`cfg.metrics`); `null` when metrics are off. */
    metrics: () => (metrics ? metrics.snapshot() : null),
    /** The metrics in the Prometheus text exposition format; `""` when metrics are off. */
    metricsText: () => (metrics ? metrics.text() : ''),
  }
  return store
}

module.exports = { createRedisStore, aclRule, aclFeatures, sentinelUserRule }

/**
 * The addon, through js-binding.js. When no binary for this platform loads, the
 * loader's report (every path it tried and why each failed) is replaced by one short
 * error saying what is missing and how to get it.
 */
function loadNative() {
  try {
    return require('./js-binding.js')
  } catch (err) {
    throw bindingError(err)
  }
}

function bindingError(err) {
  // Platforms a prebuilt binary package is made for (the directories under npm/).
  const prebuilt = ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'linux-x64-musl', 'win32-x64-msvc']
  if (!(err instanceof Error) || !err.loadErrors) return err
  const reasons = err.loadErrors.map((e) => e.message.split('\n')[0])
  const failed = err.loadErrors.find((e) => e.code !== 'MODULE_NOT_FOUND')?.message.split('\n')[0]
  const name = err.platform
  const pkg = `redis-session-store-native-${name}`
  const fromSource =
    'build it from source: install Rust (https://rustup.rs), then install this package from a clone or a git URL, which builds the addon (or run `npm run build` in a clone)'
  let message
  let code
  if (failed) {
    code = 'ERR_NATIVE_BINDING_LOAD'
    message = `redis-session-store-native: the native binary for ${name} was found but failed to load: ${failed}\nReinstall it, or ${fromSource}.`
  } else if (prebuilt.includes(name)) {
    code = 'ERR_NATIVE_BINDING_MISSING'
    message =
      `redis-session-store-native: no native binary for ${name} (the package ${pkg} is not installed). Two ways to fix it:\n` +
      `  1. install the prebuilt binary: npm install ${pkg} (installs that omit optional dependencies leave it out)\n` +
      `  2. ${fromSource}`
  } else {
    code = 'ERR_NATIVE_BINDING_MISSING'
    message = `redis-session-store-native: no prebuilt binary is made for ${name}; ${fromSource}.`
  }
  const error = new Error(message)
  error.code = code
  // The loader's full report, for whoever needs it, kept out of the printed error.
  Object.defineProperty(error, 'loadErrors', { value: reasons, enumerable: false })
  return error
}
