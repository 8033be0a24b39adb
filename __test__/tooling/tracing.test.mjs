// OpenTelemetry spans of the store's calls (cfg.tracing), collected with the SDK's
// in-memory exporter against a real Redis: one client span per call, parented under the
// caller's active span, database-client attributes, an errored span for a replay, and no
// token, userId or binding value anywhere in a span.

import { test, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createRedisStore } from '../../index.mjs'
import { redisUrl, uniquePrefix, storeConfig, nowSeconds } from '../shared/helpers.mjs'

const url = await redisUrl()
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager().enable()
context.setGlobalContextManager(contextManager)
trace.setGlobalTracerProvider(provider)
const appTracer = trace.getTracer('the-app')

const stores = []
after(async () => {
  await Promise.all(stores.map((s) => s.close()))
  await provider.shutdown()
  contextManager.disable()
})
beforeEach(() => exporter.reset())

function newStore(name, extra = {}) {
  const store = createRedisStore(storeConfig({ prefix: uniquePrefix(name), absTtlSeconds: 3600, ...extra }))
  stores.push(store)
  return store
}

const parentOf = (span) => span.parentSpanContext?.spanId

test('each call is a client span under the active span, with the database client attributes', async () => {
  const store = newStore('trace-calls', { tracing: true, onReuse: 'revoke-lineage', tokenStorage: 'sha256' })
  const t = nowSeconds()
  const binding = { deviceId: 'laptop-7f3a', uaHash: 'ua-5e1d9c', ipHash: 'ip-0b8e22' }
  const { port, hostname } = new URL(url)
  let root
  let first
  let second
  let replay
  await appTracer.startActiveSpan('POST /refresh', async (span) => {
    root = span
    first = await store.issueInitial('user-9c41', { now: t, absTtlSeconds: 3600, ...binding })
    second = (await store.verifyAndRotateRefresh({ rid: first.rid, now: t + 1, ...binding })).newRid
    replay = await store.verifyAndRotateRefresh({ rid: first.rid, now: t + 2, ...binding }).catch((err) => err)
    await store.listSessions('user-9c41')
    span.end()
  })
  assert.equal(replay.code, 'ERR_REPLAY')

  const spans = exporter.getFinishedSpans()
  const calls = spans.filter((s) => s.name !== 'POST /refresh')
  assert.deepEqual(
    calls.map((s) => s.name),
    ['issueInitial', 'verifyAndRotateRefresh', 'verifyAndRotateRefresh', 'listSessions'],
  )
  for (const s of calls) {
    assert.equal(s.kind, SpanKind.CLIENT)
    assert.equal(parentOf(s), root.spanContext().spanId, `${s.name} is a child of the request's span`)
    assert.equal(s.spanContext().traceId, root.spanContext().traceId)
    assert.equal(s.attributes['db.system.name'], 'redis')
    assert.equal(s.attributes['db.system'], 'redis')
    assert.equal(s.attributes['db.operation.name'], s.name)
    assert.equal(s.attributes['server.address'], hostname)
    assert.equal(s.attributes['server.port'], Number(port))
  }
  const [issued, rotated, replayed] = calls
  assert.equal(issued.status.code, SpanStatusCode.UNSET)
  assert.equal(rotated.status.code, SpanStatusCode.UNSET)
  assert.equal(replayed.status.code, SpanStatusCode.ERROR)
  assert.equal(replayed.status.message, 'ERR_REPLAY')
  assert.equal(replayed.attributes['error.type'], 'ERR_REPLAY')
  assert.equal(replayed.events.length, 1)
  assert.equal(replayed.events[0].name, 'exception')

  // Nothing a client holds, or that identifies them, in any span.
  const everything = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links })))
  for (const secret of [first.rid, second.rid, 'user-9c41', ...Object.values(binding)]) {
    assert.ok(!everything.includes(secret), `${secret} in a span`)
  }
})

test('a call with no active span starts its own trace; a bad argument is an errored span', async () => {
  const store = newStore('trace-root', { tracing: true })
  await store.getRid('no-such-rid')
  await assert.rejects(store.logoutAll(''), { code: 'ERR_INVALID_ARG' })
  const [get, bad] = exporter.getFinishedSpans()
  assert.equal(get.name, 'getRid')
  assert.equal(parentOf(get), undefined)
  assert.equal(bad.name, 'logoutAll')
  assert.equal(bad.status.code, SpanStatusCode.ERROR)
  assert.equal(bad.attributes['error.type'], 'ERR_INVALID_ARG')
})

test('with tracing off (or unset) no span is made; a tracing value that is not a boolean is refused', async () => {
  for (const tracing of [false, undefined]) {
    const store = newStore('trace-off', { tracing })
    const { rid } = await store.issueInitial('u', { now: nowSeconds(), absTtlSeconds: 60 })
    await store.verifyAndRotateRefresh({ rid, now: nowSeconds() })
    await store.listSessions('u')
  }
  assert.deepEqual(exporter.getFinishedSpans(), [])
  for (const tracing of ['yes', 1, null, {}]) {
    assert.throws(() => createRedisStore(storeConfig({ absTtlSeconds: 60, tracing })), { name: 'TypeError', message: /cfg\.tracing must be a boolean/ })
  }
})

test('with metrics on too, the views are traced but not counted', async () => {
  const store = newStore('trace-metrics', { tracing: true, metrics: true })
  await store.issueInitial('u', { now: nowSeconds(), absTtlSeconds: 60 })
  await store.listSessions('u')
  assert.deepEqual(
    exporter.getFinishedSpans().map((s) => s.name),
    ['issueInitial', 'listSessions'],
  )
  assert.deepEqual(Object.keys(store.metrics().calls), ['issueInitial'])
})

test('without @opentelemetry/api installed, tracing: true works and makes no span', () => {
  // A child process in which the package cannot be resolved.
  const hide = `const M = require('node:module'); const resolve = M._resolveFilename; M._resolveFilename = function (request, ...rest) { if (request === '@opentelemetry/api') { const e = new Error('Cannot find module'); e.code = 'MODULE_NOT_FOUND'; throw e } return resolve.call(this, request, ...rest) }`
  const script = `
    const { createRedisStore } = require(${JSON.stringify(fileURLToPath(new URL('../../index.js', import.meta.url)))})
    let resolvable = true
    try { require.resolve('@opentelemetry/api') } catch { resolvable = false }
    const store = createRedisStore({ url: ${JSON.stringify(url)}, prefix: ${JSON.stringify(uniquePrefix('trace-absent'))}, absTtlSeconds: 60, tracing: true })
    store.issueInitial('u', { now: Math.floor(Date.now() / 1000), absTtlSeconds: 60 })
      .then(({ rid }) => store.verifyAndRotateRefresh({ rid, now: Math.floor(Date.now() / 1000) }))
      .then(() => store.close())
      .then(() => console.log(JSON.stringify({ resolvable, ok: true })))
  `
  const run = spawnSync(process.execPath, ['-e', `${hide}\n${script}`], { encoding: 'utf8', env: { ...process.env, REDIS_URL: url } })
  assert.equal(run.status, 0, run.stderr)
  assert.deepEqual(JSON.parse(run.stdout.trim()), { resolvable: false, ok: true })
})
