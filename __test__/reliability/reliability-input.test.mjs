// Hostile input, against a redis-server (or cluster) of this file's own so that a dump
// of every key in the database is stable. Every argument of every method and every
// cfg field gets missing, undefined, null, numbers (0, negative, float, NaN, ±Infinity),
// booleans, objects, arrays, '', a 1 MB string and other kinds: each is either refused
// with the documented TypeError (the README's input rules) and the keyspace stays byte-for-byte the
// same, or accepted as documented. Ids made of ':', glob characters, braces, spaces,
// newlines, NUL and emoji never alias users or devices, and gc on glob-like prefixes
// touches nothing outside its prefix.

import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createRedisStore } from '../../index.mjs'
import {
  failOnUnhandledRejections,
  expireTimes,
  ownServer,
  rawClient,
  storeConfig,
  keys,
  primaries,
  clearPrefix,
  isCluster,
  escapeRegExp,
} from '../shared/helpers.mjs'

failOnUnhandledRejections()

const srv = await ownServer()
const client = await rawClient(srv.url)
const NOW = Math.floor(Date.now() / 1000)
const PREFIX = 'hx'
const store = createRedisStore(storeConfig({ url: srv.url, prefix: PREFIX, absTtlSeconds: 3600 }))
after(() => store.close())

/** Every key of one node: [key, 'type|DUMP bytes (hex)|expiry in ms'] pairs. */
async function dumpNode(node) {
  const keys = await node.keysBuffer('*')
  const pipe = node.pipeline()
  for (const k of keys) pipe.type(k).dumpBuffer(k)
  const replies = await pipe.exec()
  const expiries = await expireTimes(node, keys, { millis: true })
  return keys.map((k, i) => {
    const [[, type], [, bytes]] = replies.slice(i * 2, i * 2 + 2)
    return [k, `${type}|${bytes.toString('hex')}|${expiries[i]}`]
  })
}

/** Every key of the database (of every primary): type, DUMP bytes (hex) and expiry in ms. */
async function dumpAll() {
  const entries = (await Promise.all(primaries(client).map(dumpNode))).flat().sort(([a], [b]) => Buffer.compare(a, b))
  return Object.fromEntries(entries.map(([k, v]) => [k.toString('hex'), v]))
}

/** Sessions for several users and prefixes, so "unchanged" has something to protect. */
async function seed() {
  const other = createRedisStore(storeConfig({ url: srv.url, prefix: 'other', absTtlSeconds: 3600 }))
  for (const s of [store, other]) {
    for (const user of ['u', 'u:x', 'victim']) {
      const a = await s.issueInitial(user, { now: NOW, deviceId: 'd', uaHash: 'ua', ipHash: 'ip' })
      await s.verifyAndRotateRefresh({ rid: a.rid, now: NOW, deviceId: 'd' })
      await s.issueInitial(user, { now: NOW, deviceId: 'x:d' })
    }
  }
  await other.close()
}

const MISSING = Symbol('missing')
const MB = 'x'.repeat(1 << 20)
/** The hostile values; `accept` in a case lists the ones its rule lets through. */
const VALUES = {
  missing: MISSING,
  undefined,
  null: null,
  number: 42,
  zero: 0,
  negative: -1,
  float: 1.5,
  NaN,
  Infinity,
  '-Infinity': -Infinity,
  true: true,
  false: false,
  object: {},
  array: [],
  emptyString: '',
  '1MB string': MB,
  '1025 bytes of é': `${'é'.repeat(512)}x`,
  '257 emoji (1028 bytes)': '😀'.repeat(257),
  symbol: Symbol('s'),
  bigint: 10n,
  function: () => 'x',
  'String object': new String('x'),
  Date: new Date(),
}

const RULES = {
  id: { text: 'a non-empty string of at most 1024 bytes', accept: [] },
  binding: { text: 'a string of at most 1024 bytes, or undefined', accept: ['missing', 'undefined', 'emptyString'] },
  now: { text: 'a finite number >= 0 and below 253402300800 (epoch seconds)', accept: ['number', 'zero', 'float'] },
  ttl: { text: 'a finite number > 0 and at most 315576000 (seconds)', accept: ['number', 'float'] },
  optionalTtl: { text: 'a finite number > 0 and at most 315576000 (seconds)', accept: ['missing', 'undefined', 'number', 'float'] },
  // Objects of any kind pass this rule; the first required field then fails.
  object: { text: 'an object', accept: [], fieldError: ['object', 'String object', 'Date'] },
  gcOpts: { text: 'an object', accept: ['missing', 'undefined', 'null', 'object', 'String object', 'Date'] },
  bool: { text: 'a boolean', accept: ['missing', 'undefined', 'true', 'false'] },
  grace: { text: 'a finite number >= 0 (seconds)', accept: ['missing', 'undefined', 'number', 'zero', 'float'] },
}

/** Builds positional arguments, leaving out trailing MISSING ones. */
function args(...list) {
  const i = list.indexOf(MISSING)
  return i === -1 ? list : list.slice(0, i)
}

/** An object with `field` set to `value`, or without it when MISSING. */
function withField(base, field, value) {
  const o = { ...base }
  if (value === MISSING) delete o[field]
  else o[field] = value
  return o
}

const goodIssue = { now: NOW, deviceId: 'd', uaHash: 'ua', ipHash: 'ip', absTtlSeconds: 60 }
const goodRotate = { rid: 'no-such-rid', now: NOW, deviceId: 'd', uaHash: 'ua', ipHash: 'ip' }

// [method, argument named in the message, rule, (value) => call]
const CASES = [
  ['issueInitial', 'userId', 'id', (v) => store.issueInitial(...args(v, goodIssue))],
  ['issueInitial', 'input', 'object', (v) => store.issueInitial(...args('u', v))],
  ['issueInitial', 'input.now', 'now', (v) => store.issueInitial('u', withField(goodIssue, 'now', v))],
  ['issueInitial', 'input.deviceId', 'binding', (v) => store.issueInitial('u', withField(goodIssue, 'deviceId', v))],
  ['issueInitial', 'input.uaHash', 'binding', (v) => store.issueInitial('u', withField(goodIssue, 'uaHash', v))],
  ['issueInitial', 'input.ipHash', 'binding', (v) => store.issueInitial('u', withField(goodIssue, 'ipHash', v))],
  ['issueInitial', 'input.absTtlSeconds', 'optionalTtl', (v) => store.issueInitial('u', withField(goodIssue, 'absTtlSeconds', v))],
  ['verifyAndRotateRefresh', 'input', 'object', (v) => store.verifyAndRotateRefresh(...args(v))],
  ['verifyAndRotateRefresh', 'input.rid', 'id', (v) => store.verifyAndRotateRefresh(withField(goodRotate, 'rid', v))],
  ['verifyAndRotateRefresh', 'input.now', 'now', (v) => store.verifyAndRotateRefresh(withField(goodRotate, 'now', v))],
  ['verifyAndRotateRefresh', 'input.deviceId', 'binding', (v) => store.verifyAndRotateRefresh(withField(goodRotate, 'deviceId', v))],
  ['verifyAndRotateRefresh', 'input.uaHash', 'binding', (v) => store.verifyAndRotateRefresh(withField(goodRotate, 'uaHash', v))],
  ['verifyAndRotateRefresh', 'input.ipHash', 'binding', (v) => store.verifyAndRotateRefresh(withField(goodRotate, 'ipHash', v))],
  ['tombstoneLineage', 'rid', 'id', (v) => store.tombstoneLineage(...args(v))],
  ['logout', 'rid', 'id', (v) => store.logout(...args(v))],
  ['logoutDevice', 'userId', 'id', (v) => store.logoutDevice(...(v === MISSING ? [] : [v, 'd']))],
  ['logoutDevice', 'deviceId', 'id', (v) => store.logoutDevice(...args('nobody', v))],
  ['logoutAll', 'userId', 'id', (v) => store.logoutAll(...args(v))],
  ['getRid', 'rid', 'id', (v) => store.getRid(...args(v))],
  ['scanRids', 'userId', 'id', (v) => store.scanRids(...args(v))],
  ['gcOrphans', 'opts', 'gcOpts', (v) => store.gcOrphans(...args(v))],
  ['gcOrphans', 'opts.dryRun', 'bool', (v) => store.gcOrphans(withField({ graceSeconds: 0 }, 'dryRun', v))],
  ['gcOrphans', 'opts.graceSeconds', 'grace', (v) => store.gcOrphans(withField({ dryRun: true }, 'graceSeconds', v))],
]

before(seed)

test('every argument of every method: hostile values are refused with the documented TypeError and write nothing', async () => {
  let refused = 0
  for (const [method, argName, ruleName, call] of CASES) {
    const rule = RULES[ruleName]
    for (const [label, value] of Object.entries(VALUES)) {
      if (rule.accept.includes(label)) continue
      const where = `${method} ${argName} = ${label}`
      const beforeDump = await dumpAll()
      let promise
      assert.doesNotThrow(() => {
        promise = call(value)
      }, `${where}: never throws synchronously`)
      assert.ok(promise instanceof Promise, `${where}: returns a Promise`)
      const err = await promise.then(
        () => null,
        (e) => e,
      )
      assert.ok(err, `${where}: rejected`)
      assert.ok(err instanceof TypeError, `${where}: a TypeError (got ${err?.constructor?.name}: ${err?.message})`)
      assert.equal(err.code, 'ERR_INVALID_ARG', where)
      const expected = rule.fieldError?.includes(label)
        ? new RegExp(`^${escapeRegExp(argName)}\\.\\w+ must be .+ \\(received [^()]+\\)$`)
        : new RegExp(`^${escapeRegExp(argName)} must be ${escapeRegExp(rule.text)} \\(received [^()]+\\)$`)
      assert.match(err.message, expected, where)
      assert.ok(err.message.length < 200, `${where}: the value is not echoed`)
      assert.deepEqual(await dumpAll(), beforeDump, `${where}: keyspace unchanged`)
      refused++
    }
  }
  assert.ok(refused > 350, `${refused} refusals checked`)
})

test('accepted edge values behave as documented', async () => {
  // Floats: now is floored, absTtlSeconds rounded up; -0 counts as 0.
  const issued = await store.issueInitial('edge', { now: NOW + 0.9, absTtlSeconds: 59.2, deviceId: '', uaHash: undefined })
  assert.equal(issued.absExp, NOW + 60)
  const h = await store.getRid(issued.rid)
  assert.equal(h.createdAt, String(NOW))
  assert.equal(h.absExpAt, String(NOW + 60))
  assert.deepEqual([h.deviceId, h.uaHash, h.ipHash], ['', '', ''])
  // absTtlSeconds absent or undefined: the store's cfg.absTtlSeconds.
  for (const input of [{ now: NOW }, { now: NOW, absTtlSeconds: undefined }]) {
    assert.equal((await store.issueInitial('edge', input)).absExp, NOW + 3600)
  }
  // Binding values of exactly 1024 bytes are accepted (256 emoji of 4 bytes).
  const big = '😀'.repeat(256)
  const b = await store.issueInitial('edge', { now: NOW, deviceId: big, uaHash: big, ipHash: big })
  assert.equal((await store.getRid(b.rid)).deviceId, big)
  assert.equal((await store.verifyAndRotateRefresh({ rid: b.rid, now: NOW + 0.5, deviceId: big })).userId, 'edge')
  // An id of exactly 1024 bytes is accepted.
  const longUser = 'é'.repeat(512)
  const l = await store.issueInitial(longUser, { now: NOW })
  assert.deepEqual(await store.scanRids(longUser), [l.rid])
  // gcOrphans without options, with null and with {} runs (nothing to clean here).
  for (const opts of [undefined, null, {}, { dryRun: false, graceSeconds: 1.5 }]) {
    const report = await store.gcOrphans(opts)
    assert.equal(report.deletedRidHashes, 0)
    assert.equal(report.removedRids, 0)
  }
  // now = -0 is 0 (>= 0).
  await assert.rejects(store.verifyAndRotateRefresh({ rid: 'none', now: -0 }), { code: 'ERR_NOT_FOUND' })
})

test('a getter that throws or a revoked Proxy rejects the Promise instead of throwing', async () => {
  const beforeDump = await dumpAll()
  const boom = new Error('boom')
  const throwing = {
    get now() {
      throw boom
    },
  }
  const revocable = Proxy.revocable({}, {})
  revocable.revoke()
  const trap = new Proxy(
    {},
    {
      get() {
        throw boom
      },
    },
  )
  const calls = [
    () => store.issueInitial('u', throwing),
    () => store.verifyAndRotateRefresh(throwing),
    () =>
      store.gcOrphans({
        get dryRun() {
          throw boom
        },
      }),
    () => store.issueInitial('u', trap),
    () => store.verifyAndRotateRefresh(revocable.proxy),
    () => store.gcOrphans(trap),
  ]
  for (const [i, call] of calls.entries()) {
    let promise
    assert.doesNotThrow(() => {
      promise = call()
    }, `call ${i} never throws synchronously`)
    await assert.rejects(promise, (e) => e === boom || e instanceof TypeError, `call ${i}`)
  }
  assert.deepEqual(await dumpAll(), beforeDump)
})

test('milliseconds and absurd lifetimes are refused with the unit and the fix; the largest accepted values work', async () => {
  const beforeDump = await dumpAll()
  const ms = Date.now()
  const refusals = [
    [() => store.issueInitial('ms', { now: ms }), 'input.now', 'epoch seconds, not milliseconds'],
    [() => store.issueInitial('ms', { now: ms, absTtlSeconds: 3600 }), 'input.now', 'epoch seconds, not milliseconds'],
    [() => store.verifyAndRotateRefresh({ rid: 'x', now: ms }), 'input.now', 'epoch seconds, not milliseconds'],
    [() => store.issueInitial('ms', { now: NOW, absTtlSeconds: 30 * 24 * 3600 * 1000 }), 'input.absTtlSeconds', 'seconds, not milliseconds'],
    [() => store.issueInitial('ms', { now: 253_402_300_800 }), 'input.now', 'epoch seconds, not milliseconds'],
    [() => store.issueInitial('ms', { now: NOW, absTtlSeconds: 315_576_000.5 }), 'input.absTtlSeconds', 'seconds, not milliseconds'],
    [() => store.issueInitial('huge', { now: 9e15, absTtlSeconds: 9e15 }), 'input.absTtlSeconds', 'seconds, not milliseconds'],
    [() => store.issueInitial('huge', { now: 9_007_199_254_740_991, absTtlSeconds: 1 }), 'input.now', 'epoch seconds, not milliseconds'],
  ]
  for (const [call, argName, rule] of refusals) {
    const err = await call().then(
      () => null,
      (e) => e,
    )
    assert.ok(err instanceof TypeError, `${argName}: ${err?.code} ${err?.message}`)
    assert.equal(err.code, 'ERR_INVALID_ARG')
    assert.match(err.message, new RegExp(`^${escapeRegExp(argName)} must be ${escapeRegExp(rule)}: `))
  }
  const err = await store.issueInitial('ms', { now: ms }).catch((e) => e)
  assert.match(err.message, /below 253402300800 \(the year 10000\); use Math\.floor\(Date\.now\(\) \/ 1000\) \(received number \d{13}\)$/)
  // cfg.absTtlSeconds in milliseconds: createRedisStore throws.
  assert.throws(() => createRedisStore({ url: srv.url, absTtlSeconds: 30 * 24 * 3600 * 1000 }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG',
    message: /^cfg\.absTtlSeconds must be seconds, not milliseconds: at most 315576000 \(10 years\)/,
  })
  assert.deepEqual(await dumpAll(), beforeDump, 'nothing written')
  // The largest accepted values work and are stored exactly.
  const ok = await store.issueInitial('huge', { now: 253_402_300_799.9, absTtlSeconds: 315_576_000 })
  assert.equal(ok.absExp, 253_402_300_799 + 315_576_000)
  assert.equal((await store.getRid(ok.rid)).absExpAt, String(253_402_300_799 + 315_576_000))
  // A grace period is a duration, not a clock: large values are fine.
  assert.equal((await store.gcOrphans({ dryRun: true, graceSeconds: 1e12 })).dryRun, true)
  await store.logoutAll('huge')
})

test('every cfg field: hostile values make createRedisStore throw the documented TypeError, and connect to nothing', async () => {
  const beforeDump = await dumpAll()
  const clientCount = async () => {
    let count = 0
    for (const node of client.isCluster ? client.nodes('all') : [client]) count += (await node.call('CLIENT', 'LIST')).split('\n').filter(Boolean).length
    return count
  }
  const clientsBefore = await clientCount()
  const goodCfg = storeConfig({ url: srv.url, prefix: 'cfgx', absTtlSeconds: 60, commandTimeoutMs: 500, connectTimeoutMs: 500 })
  const CFG = [
    ['cfg', 'an object', [], (v) => (v === MISSING ? createRedisStore() : createRedisStore(v))],
    ['cfg.url', 'a redis://, rediss:// or unix:// URL', [], (v) => createRedisStore(withField(goodCfg, 'url', v))],
    ['cfg.prefix', 'a non-empty string of at most 1024 bytes', ['missing', 'undefined'], (v) => createRedisStore(withField(goodCfg, 'prefix', v))],
    [
      'cfg.absTtlSeconds',
      'a finite number > 0 and at most 315576000 (seconds)',
      ['number', 'float'],
      (v) => createRedisStore(withField(goodCfg, 'absTtlSeconds', v)),
    ],
    [
      'cfg.commandTimeoutMs',
      'a finite number > 0 (milliseconds)',
      ['missing', 'undefined', 'number', 'float'],
      (v) => createRedisStore(withField(goodCfg, 'commandTimeoutMs', v)),
    ],
    [
      'cfg.connectTimeoutMs',
      'a finite number > 0 (milliseconds)',
      ['missing', 'undefined', 'number', 'float'],
      (v) => createRedisStore(withField(goodCfg, 'connectTimeoutMs', v)),
    ],
  ]
  let refused = 0
  for (const [name, text, accept, make] of CFG) {
    for (const [label, value] of Object.entries(VALUES)) {
      const where = `${name} = ${label}`
      if (accept.includes(label)) {
        const s = make(value)
        await s.close()
        continue
      }
      let err
      try {
        make(value).close()
      } catch (e) {
        err = e
      }
      assert.ok(err instanceof TypeError, `${where}: throws a TypeError (got ${err?.constructor?.name}: ${err?.message})`)
      assert.equal(err.code, 'ERR_INVALID_ARG', where)
      const expected =
        name === 'cfg' && ['object', 'String object', 'Date'].includes(label)
          ? /^cfg\.url must be .+ \(received [^()]+\)$/
          : new RegExp(`^${escapeRegExp(name)} must be ${escapeRegExp(text)} \\(received [^()]+\\)$`)
      assert.match(err.message, expected, where)
      assert.ok(err.message.length < 200, `${where}: the value is not echoed`)
      refused++
    }
  }
  for (const url of [
    'http://h',
    'localhost:6379',
    'redis://',
    'rediss://',
    'unix://',
    'redis://h:99999',
    ' redis://h',
    'redis://h/abc',
    'relative/path.sock',
  ]) {
    assert.throws(() => createRedisStore(withField(goodCfg, 'url', url)), { name: 'TypeError', code: 'ERR_INVALID_ARG' }, url)
  }
  assert.ok(refused > 100, `${refused} refusals checked`)
  assert.deepEqual(await dumpAll(), beforeDump)
  const clientsAfter = await clientCount()
  assert.equal(clientsAfter, clientsBefore, 'creating stores opened no connection')
})

// Ids made of every character that means something to a key, a glob or a line protocol.
const WEIRD = [
  ':',
  'a:b',
  'a',
  'a:b:c',
  '*',
  '?',
  '[a]',
  ']',
  '{x}',
  '}{',
  ' ',
  'a b',
  '\n',
  'a\r\nb',
  '\0',
  'a\0b',
  '😀',
  '\\',
  '\\*',
  '^',
  '-',
  'a*',
  '*:*',
  'rids',
  'x:rids',
  'rid:x',
  'device',
  '%s',
  '\'"',
  'é'.repeat(512),
]

test('ids with separators, glob characters, NUL, newlines and emoji: no aliasing, no cross-user effect', async () => {
  const prefix = 'iso'
  const k = keys(prefix)
  const s = createRedisStore(storeConfig({ url: srv.url, prefix, absTtlSeconds: 3600 }))
  after(() => s.close())
  const users = [...WEIRD]
  const deviceOf = (i) => WEIRD[(i * 7 + 3) % WEIRD.length]
  const mine = {} // user -> { active: Set(rid), all: Set(rid) }
  for (const [i, user] of users.entries()) {
    mine[user] = { active: new Set(), all: new Set() }
    for (let k = 0; k < 2; k++) {
      const { rid } = await s.issueInitial(user, { now: NOW, deviceId: deviceOf(i) })
      mine[user].all.add(rid)
      const r = await s.verifyAndRotateRefresh({ rid, now: NOW, deviceId: deviceOf(i) })
      assert.equal(r.userId, user, 'userId round-trips exactly')
      mine[user].all.add(r.newRid.rid)
      mine[user].active.add(r.newRid.rid)
    }
    const { rid } = await s.issueInitial(user, { now: NOW, deviceId: deviceOf(i + 1) })
    mine[user].all.add(rid)
    mine[user].active.add(rid)
  }
  for (const user of users) assert.deepEqual(new Set(await s.scanRids(user)), mine[user].active, `scanRids(${JSON.stringify(user)})`)

  /** Hash, index and device keys, by owner; any key not of `user` must stay the same. */
  const ownedBy = async (user) => {
    const out = {}
    for (const u of users) {
      if (u === user) continue
      for (const rid of mine[u].all) out[`rid ${JSON.stringify(u)} ${rid}`] = await client.hgetall(k.ridKey(rid))
      out[`index ${JSON.stringify(u)}`] = (await client.smembers(k.userKey(u))).sort()
    }
    return out
  }
  const ops = [
    (u, i) => s.logoutDevice(u, deviceOf(i)),
    (u) => s.logout([...mine[u].active][0]),
    (u) => s.tombstoneLineage([...mine[u].all][0]),
    (u) => s.logoutAll(u),
  ]
  for (const [i, user] of users.entries()) {
    const op = ops[i % ops.length]
    const others = await ownedBy(user)
    await op(user, i)
    assert.deepEqual(await ownedBy(user), others, `op ${i % ops.length} on ${JSON.stringify(user)} touched another user`)
  }
  // Each user's own targets ended: logoutAll users have nothing active left.
  for (const [i, user] of users.entries()) {
    if (i % ops.length === 3) assert.deepEqual(await s.scanRids(user), [], `logoutAll(${JSON.stringify(user)})`)
    if (i % ops.length === 0) {
      for (const rid of await s.scanRids(user)) assert.notEqual((await s.getRid(rid)).deviceId, deviceOf(i))
    }
  }
  // A glob-looking rid is just an unknown rid: null, and logout of it writes nothing.
  const beforeDump = await dumpAll()
  for (const rid of ['*', '?', '[a-z]*', '\\*', `${prefix}:rid:*`]) {
    assert.equal(await s.getRid(rid), null)
    await s.logout(rid)
    await s.tombstoneLineage(rid)
    await assert.rejects(s.verifyAndRotateRefresh({ rid, now: NOW }), { code: 'ERR_NOT_FOUND' })
  }
  for (const user of ['*', '?', '[a-z]*']) await s.scanRids(user)
  assert.deepEqual(await dumpAll(), beforeDump)
})

test('device keys that alias under the original layout never let logoutDevice reach another user', async () => {
  const prefix = 'alias'
  const k = keys(prefix)
  const s = createRedisStore(storeConfig({ url: srv.url, prefix, absTtlSeconds: 3600 }))
  after(() => s.close())
  // ('a:b', 'c') and ('a', 'b:c') share the key alias:device:a:b:c (in the original's
  // layout; the cluster layout's device keys differ by the user's tag).
  for (const [victim, attacker] of [
    [
      ['a:b', 'c'],
      ['a', 'b:c'],
    ],
    [
      ['a', 'b:c'],
      ['a:b', 'c'],
    ],
  ]) {
    await clearPrefix(client, prefix)
    const v = await s.issueInitial(victim[0], { now: NOW, deviceId: victim[1] })
    const a = await s.issueInitial(attacker[0], { now: NOW, deviceId: attacker[1] })
    const v2 = await s.issueInitial(victim[0], { now: NOW, deviceId: victim[1] }) // the shared key now names the victim's
    await s.logoutDevice(attacker[0], attacker[1])
    assert.equal((await s.getRid(v.rid)).status, 'active')
    assert.equal((await s.getRid(v2.rid)).status, 'active')
    assert.equal((await s.getRid(a.rid)).status, 'tombstoned')
    assert.deepEqual(new Set(await s.scanRids(victim[0])), new Set([v.rid, v2.rid]))
    assert.equal(await client.get(k.deviceKey(victim[0], victim[1])), k.ridKey(v2.rid))
  }
})

test('gcOrphans on glob-like prefixes cleans its own prefix and nothing else', async () => {
  const prefixes = ['g*', 'g?', 'g[ab]', 'g\\', 'g', 'ga', 'gb', 'g-x', 'g^', 'g]', 'g:*']
  // Braces in a prefix would break the cluster layout's hash tags: refused there.
  if (isCluster) {
    assert.throws(() => createRedisStore(storeConfig({ url: srv.url, prefix: 'g{x}', absTtlSeconds: 3600 })), { name: 'TypeError', code: 'ERR_INVALID_ARG' })
  } else {
    prefixes.push('g{x}')
  }
  const garbage = async (p) => {
    const k = keys(p)
    const s = createRedisStore(storeConfig({ url: srv.url, prefix: p, absTtlSeconds: 3600 }))
    await s.issueInitial('u', { now: NOW, deviceId: 'd' })
    await client.sadd(k.userKey('u'), k.ridKey(k.rid('u', 'gone'))) // member without hash
    await client.hset(k.ridKey(k.rid('u', 'nouser')), 'status', 'active') // hash without userId
    await client.hset(k.ridKey(k.rid('u', 'old')), { userId: 'u', status: 'used', absExpAt: String(NOW - 100), parentRid: '' }) // expired, used
    await s.close()
  }
  for (const p of prefixes) await garbage(p)
  for (const p of prefixes) {
    const s = createRedisStore(storeConfig({ url: srv.url, prefix: p, absTtlSeconds: 3600 }))
    const beforeDump = await dumpAll()
    const dry = await s.gcOrphans({ dryRun: true })
    assert.deepEqual(await dumpAll(), beforeDump, `${p}: dry run writes nothing`)
    const report = await s.gcOrphans()
    await s.close()
    for (const r of [dry, report]) {
      assert.equal(r.scannedUserSets, 1, `${p}: ${JSON.stringify(r)}`)
      assert.equal(r.scannedRids, 3, `${p}: ${JSON.stringify(r)}`)
      assert.equal(r.removedFromSets, 1, p)
      assert.equal(r.deletedRidHashes, 2, p)
      assert.equal(r.removedRids, 2, p)
    }
    const afterDump = await dumpAll()
    const mineHex = (k) => Buffer.from(k, 'hex').toString().startsWith(`${p}:`)
    const changed = Object.keys({ ...beforeDump, ...afterDump }).filter((k) => beforeDump[k] !== afterDump[k])
    for (const k of changed) assert.ok(mineHex(k), `gc of ${p} changed ${Buffer.from(k, 'hex').toString()}`)
    assert.ok(changed.length >= 3, `${p}: its garbage went (${changed.length} keys changed)`)
  }
})
