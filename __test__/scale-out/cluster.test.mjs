// The store on a real Redis Cluster of this file's own (3 primaries, 3 replicas): every
// key a script touches is declared in KEYS and all of them share one slot; rids carry a
// user's tag, not the userId; slots holding live sessions move between primaries while
// rotations and logouts run; a replica takes over by CLUSTER FAILOVER and after its
// primary is killed. Each scenario checks afterwards that no session was lost or doubled.

import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Redis from 'ioredis'
import { createRedisStore } from '../../index.mjs'
import { startCluster } from '../../scripts/redis-cluster.mjs'
import { keys, keySlot, userTag, uniquePrefix, nowSeconds, readKeys, pairs, failOnUnhandledRejections, sleep } from '../shared/helpers.mjs'
import { luaShownFirst, scriptCalls, violations } from '../shared/monitor.mjs'

failOnUnhandledRejections()

const UUID_V4 = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
/** The errors a call may surface while the cluster changes under it. */
const TRANSIENT = new Set(['ERR_REDIS_UNAVAILABLE', 'ERR_REDIS_TIMEOUT'])

const cluster = await startCluster()
after(() => cluster.stop())
const client = new Redis.Cluster([cluster.url])
client.on('error', () => {})
after(() => client.quit())
await new Promise((resolve, reject) => client.once('ready', resolve).once('error', reject))

const direct = new Map()
/** A plain connection to one node (for CLUSTER and MONITOR commands), closed at the end. */
function nodeClient(port) {
  if (!direct.has(port))
    direct.set(
      port,
      new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 }).on('error', () => {}),
    )
  return direct.get(port)
}
after(() => {
  for (const c of direct.values()) c.disconnect()
})

const stores = []
function newStore(prefix, extra = {}) {
  const store = createRedisStore({ url: cluster.url, cluster: true, prefix, absTtlSeconds: 3600, ...extra })
  stores.push(store)
  return store
}
after(() => Promise.all(stores.map((s) => s.close())))

/** CLUSTER NODES as seen by `port`: [{ id, port, flags, master, slots: [[from, to]] }]. */
async function clusterNodes(port) {
  const text = await nodeClient(port).cluster('NODES')
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.split(' ')
      return {
        id,
        port: Number(addr.split('@')[0].split(':')[1]),
        flags: flags.split(','),
        master,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => s.split('-').map(Number))
          .map(([a, b]) => [a, b ?? a]),
      }
    })
}

/** The port of the primary serving `slot`, as `port` sees it. */
async function ownerOf(slot, port) {
  const nodes = await clusterNodes(port)
  return nodes.find((n) => n.flags.includes('master') && n.slots.some(([a, b]) => slot >= a && slot <= b))?.port
}

async function alivePort() {
  return (await cluster.primaryPorts())[0]
}

test('keySlot agrees with CLUSTER KEYSLOT', async () => {
  const samples = ['', 'a', 'foo', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{}', '}{x}', 'é😀', 'auth:rid:{0123456789abcdef}.x']
  for (const key of samples) assert.equal(keySlot(key), await nodeClient(cluster.nodes[0].port).cluster('KEYSLOT', key), key)
})

test('the MONITOR check flags an undeclared key and keys of two slots, and passes a clean call', () => {
  const line = (source, ...args) => ({ source, args })
  for (const luaFirst of [true, false]) {
    const order = (script, lua) => (luaFirst ? [...lua, script] : [script, ...lua])
    const clean = order(line('127.0.0.1:1', 'evalsha', 'abc', '2', 'p:{t}a', 'p:{t}b', 'arg'), [
      line('lua', 'HGETALL', 'p:{t}a'),
      line('lua', 'TIME'),
      line('lua', 'DEL', 'p:{t}a', 'p:{t}b'),
    ])
    assert.deepEqual(violations(scriptCalls(clean, luaFirst)), [])
    const undeclared = order(line('127.0.0.1:1', 'evalsha', 'abc', '1', 'p:{t}a', 'arg'), [line('lua', 'HSET', 'p:{t}b', 'f', 'v')])
    assert.deepEqual(violations(scriptCalls(undeclared, luaFirst)), ['HSET p:{t}b: not among the declared ["p:{t}a"]'])
    const twoSlots = order(line('127.0.0.1:1', 'eval', 'return 1', '2', 'p:{t}a', 'p:{u}a'), [])
    assert.equal(violations(scriptCalls(twoSlots, luaFirst)).length, 1)
    const multi = order(line('127.0.0.1:1', 'evalsha', 'abc', '1', 'p:{t}a'), [line('lua', 'EXISTS', 'p:{t}a', 'p:{t}c')])
    assert.equal(violations(scriptCalls(multi, luaFirst)).length, 1)
  }
  assert.equal(violations(scriptCalls([line('lua', 'GET', 'x'), line('127.0.0.1:1', 'get', 'y')], true)).length, 1)
})

test('every key a script touches is declared in its KEYS, and they share one slot', async () => {
  const prefix = uniquePrefix('mon')
  const k = keys(prefix, { cluster: true })
  const store = newStore(prefix)
  const version = (await nodeClient(cluster.nodes[0].port).info('server')).match(/redis_version:([\d.]+)/)[1]
  const ports = await cluster.primaryPorts()
  const seen = new Map(ports.map((p) => [p, []]))
  const monitors = []
  for (const port of ports) {
    const monitor = await nodeClient(port).monitor()
    monitor.on('monitor', (_time, args, source) => seen.get(port).push({ args, source }))
    monitors.push(monitor)
  }
  await sleep(100)
  const luaFirst = await luaShownFirst(nodeClient(ports[0]), seen.get(ports[0]))

  // Every method and view, with the paths that need a second round of keys: ending a
  // session bound to a device, a lineage of several generations, a device with two
  // sessions, an index of more sessions than one logoutAll batch holds.
  const now = nowSeconds()
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'a:b', '{x}']
  const heads = {}
  for (const user of users) {
    let { rid } = await store.issueInitial(user, { now, deviceId: 'phone', uaHash: 'ua' })
    for (let i = 0; i < 3; i++) rid = (await store.verifyAndRotateRefresh({ rid, now, deviceId: 'phone', uaHash: 'ua' })).newRid.rid
    heads[user] = rid
    await store.issueInitial(user, { now, deviceId: 'phone' })
    await store.issueInitial(user, { now })
    const unbound = await store.issueInitial(user, { now })
    await store.verifyAndRotateRefresh({ rid: unbound.rid, now })
  }
  await assert.rejects(store.verifyAndRotateRefresh({ rid: heads.alice, now, deviceId: 'other' }), { code: 'ERR_BINDING' })
  await store.logout(heads.alice)
  await store.logout(heads.alice)
  await store.tombstoneLineage(heads.bob)
  const carolRoot = (await store.inspectLineage(heads.carol)).sessions[0].rid
  await store.tombstoneLineage(carolRoot)
  await store.logoutDevice('dave', 'phone')
  await store.logoutDevice('nobody', 'phone')
  for (let i = 0; i < 300; i++) await store.issueInitial('erin', { now, deviceId: `d${i % 3}` })
  await store.logoutAll('erin')
  await store.logoutAll('a:b')
  for (const user of users) {
    await store.scanRids(user)
    await store.listSessions(user)
  }
  await store.inspectLineage(heads.bob)
  await store.keyspaceStats()
  await client.sadd(k.userKey('{x}'), k.ridKey(k.rid('{x}', 'gone')))
  await client.hset(k.ridKey(k.rid('{x}', 'old')), { userId: '{x}', parentRid: '', status: 'used', absExpAt: String(now - 100) })
  await client.hset(k.ridKey(k.rid('{x}', 'lost')), { userId: '{x}', parentRid: '', status: 'active', absExpAt: String(now + 100) })
  await client.hset(k.ridKey(k.rid('{x}', 'nouser')), { status: 'active' })
  const dry = await store.gcOrphans({ dryRun: true })
  const report = await store.gcOrphans()
  assert.deepEqual([dry.removedFromSets, dry.deletedRidHashes, dry.addedToSets], [1, 2, 1])
  assert.deepEqual([report.removedFromSets, report.deletedRidHashes, report.addedToSets], [1, 2, 1])
  await store.gcOrphansWithProgress({ dryRun: true }, () => {})

  // Everything the monitors will show has happened once each node echoes a marker.
  const marker = `end-${prefix}`
  for (const port of ports) await nodeClient(port).echo(marker)
  const deadline = Date.now() + 5000
  while ([...seen.values()].some((lines) => !lines.some((l) => l.args[1] === marker))) {
    assert.ok(Date.now() < deadline, 'every monitor saw the marker')
    await sleep(20)
  }
  for (const m of monitors) m.disconnect()

  const calls = []
  for (const lines of seen.values()) calls.push(...scriptCalls(lines, luaFirst))
  const mine = calls.filter((c) => c.keys === null || c.keys.some((key) => key.startsWith(`${prefix}:`)))
  assert.deepEqual(violations(mine), [])
  const scripts = new Set(mine.map((c) => c.script))
  assert.ok(scripts.size >= 10, `the workload ran every script (${scripts.size} distinct)`)
  const commands = mine.reduce((n, c) => n + c.calls.length, 0)
  assert.ok(commands > 1000, `script commands checked: ${commands}`)
  console.log(
    `# monitor: ${mine.length} script calls, ${scripts.size} scripts, ${commands} commands inside them, redis ${version} (script commands shown ${luaFirst ? 'before' : 'after'} the EVAL line)`,
  )
})

test("rids carry the user's tag, not the userId, and scanRids' rids rotate", async () => {
  const prefix = uniquePrefix('rids')
  const k = keys(prefix, { cluster: true })
  const store = newStore(prefix)
  const now = nowSeconds()
  const user = 'alice@example.com'
  const issued = []
  for (const deviceId of ['phone', 'laptop', '']) issued.push((await store.issueInitial(user, { now, deviceId })).rid)
  for (const rid of issued) {
    assert.match(rid, new RegExp(`^${userTag(user)}\\.${UUID_V4}$`))
    assert.ok(!rid.includes('alice') && !rid.includes('example'), rid)
    const h = await store.getRid(rid)
    assert.deepEqual(Object.keys(h), ['userId', 'parentRid', 'createdAt', 'expAt', 'absExpAt', 'deviceId', 'uaHash', 'ipHash', 'status'])
    assert.equal(h.userId, user)
    assert.equal(keySlot(k.ridKey(rid)), keySlot(k.userKey(user)))
  }
  const listed = await store.scanRids(user)
  assert.deepEqual([...listed].sort(), [...issued].sort())
  const children = []
  for (const rid of listed) {
    const h = await store.getRid(rid)
    const r = await store.verifyAndRotateRefresh({ rid, now, deviceId: h.deviceId })
    assert.equal(r.userId, user)
    assert.match(r.newRid.rid, new RegExp(`^${userTag(user)}\\.${UUID_V4}$`))
    assert.equal((await store.getRid(r.newRid.rid)).parentRid, rid, 'parentRid holds the bare parent rid')
    children.push(r.newRid.rid)
  }
  assert.deepEqual((await store.scanRids(user)).sort(), [...children].sort())
  assert.equal(await client.get(k.deviceKey(user, 'phone')), k.ridKey(children[listed.indexOf(issued[0])]))
  // A rid without a tag, or with a tag and an unknown rest, is an unknown rid.
  for (const rid of ['550e8400-e29b-41d4-a716-446655440000', 'x', `${userTag(user)}.nope`, `${userTag(user)}.`]) {
    await assert.rejects(store.verifyAndRotateRefresh({ rid, now }), { code: 'ERR_NOT_FOUND', message: 'not_found' }, rid)
    assert.equal(await store.getRid(rid), null)
    await store.logout(rid)
    await store.tombstoneLineage(rid)
  }
  assert.deepEqual(
    (await readKeys(client, prefix)).filter(({ key }) => !key.includes(userTag(user))),
    [],
    'unknown rids wrote nothing',
  )
})

// ---------------------------------------------------------------------------------------
// Lineages driven by rotations while the cluster changes.

/** A settled call: { ok, at, ms, code, message } with `at` relative to `t0`. */
async function timed(t0, fn) {
  const start = performance.now()
  try {
    const value = await fn()
    return { ok: true, value, at: start - t0.value, ms: performance.now() - start }
  } catch (e) {
    return { ok: false, code: e.code, message: e.message, at: start - t0.value, ms: performance.now() - start }
  }
}

/** One user's single lineage, rotated again and again; remembers every rid it was given. */
class Driver {
  constructor(store, user, t0) {
    Object.assign(this, { store, user, t0, rids: [], results: [], ended: null, lostReplies: 0, notFound: 0 })
  }

  get rid() {
    return this.rids.at(-1)
  }

  async issue() {
    this.rids.push((await this.store.issueInitial(this.user, { now: nowSeconds(), deviceId: 'd' })).rid)
  }

  /** One rotation; after a failure, the store's own view of the active session. */
  async rotate() {
    const r = await timed(this.t0, () => this.store.verifyAndRotateRefresh({ rid: this.rid, now: nowSeconds(), deviceId: 'd' }))
    this.results.push(r)
    if (r.ok) this.rids.push(r.value.newRid.rid)
    else await this.resync()
    return r
  }

  /** After a failed rotation: was it applied (its reply lost)? scanRids tells. */
  async resync() {
    const since = performance.now()
    for (;;) {
      const r = await timed(this.t0, () => this.store.scanRids(this.user))
      this.results.push(r)
      if (!r.ok) {
        // The store recovers by itself: a user it cannot serve for a minute is a failure.
        assert.ok(performance.now() - since < 60_000, `${this.user}: scanRids still fails after a minute: ${r.code} ${r.message}`)
        await sleep(50)
        continue
      }
      if (r.value.length === 1 && r.value[0] !== this.rid) {
        // Applied though the call failed (a reply lost), or a rotation lost with a
        // primary that died before its replica had it (the replica's active rid is older).
        const at = this.rids.indexOf(r.value[0])
        if (at === -1) {
          this.rids.push(r.value[0])
          this.lostReplies++
        } else {
          this.rids.length = at + 1
          this.notFound++
        }
      }
      return
    }
  }

  /** Ends the lineage with `how` ('logout', 'logoutDevice' or 'logoutAll'), retried until it returns. */
  async end(how) {
    for (;;) {
      const rid = this.rid
      const call =
        how === 'logout'
          ? () => this.store.logout(rid)
          : how === 'logoutDevice'
            ? () => this.store.logoutDevice(this.user, 'd')
            : () => this.store.logoutAll(this.user)
      const r = await timed(this.t0, call)
      this.results.push(r)
      if (r.ok) {
        this.ended = { how, rid }
        return
      }
      await sleep(50)
    }
  }
}

/** Checks every driver's lineage in Redis: one chain from one root, no rid with two
 * children, every rid the driver was given present in order, exactly one active session
 * (the driver's) unless it was ended, and then none active and the ended rid tombstoned. */
async function checkLineages(prefix, drivers) {
  const k = keys(prefix, { cluster: true })
  const byUser = new Map()
  // A client of its own: the shared one's map of the primaries predates failovers.
  const reader = new Redis.Cluster([{ host: '127.0.0.1', port: await alivePort() }])
  reader.on('error', () => {})
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the reading client did not connect within 10 s')), 10_000)
    reader
      .once('ready', () => {
        clearTimeout(timer)
        resolve()
      })
      .once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
  }).catch((err) => {
    reader.disconnect()
    throw err
  })
  const found = await readKeys(reader, prefix).finally(() => reader.quit())
  for (const { key, type, content } of found) {
    const rid = k.ridOfKey(key)
    if (rid === null || type !== 'hash') continue
    const h = Object.fromEntries(pairs(content))
    if (!byUser.has(h.userId)) byUser.set(h.userId, new Map())
    byUser.get(h.userId).set(rid, h)
  }
  for (const d of drivers) {
    const mine = byUser.get(d.user) ?? new Map()
    const children = new Map()
    const roots = []
    for (const [rid, h] of mine) {
      if (h.parentRid === '') roots.push(rid)
      else {
        assert.ok(!children.has(h.parentRid), `${d.user}: ${h.parentRid} has two children`)
        children.set(h.parentRid, rid)
      }
    }
    assert.equal(roots.length, 1, `${d.user}: one lineage`)
    const chain = [roots[0]]
    while (children.has(chain.at(-1))) chain.push(children.get(chain.at(-1)))
    assert.equal(chain.length, mine.size, `${d.user}: every session is in the chain`)
    assert.deepEqual(chain.slice(0, d.rids.length), d.rids, `${d.user}: every rid handed out is there, in order`)
    const active = chain.filter((rid) => mine.get(rid).status === 'active')
    if (d.ended) {
      assert.deepEqual(active, [], `${d.user}: nothing active after ${d.ended.how}`)
      assert.equal(mine.get(d.ended.rid).status, 'tombstoned', `${d.user}: ${d.ended.how} tombstoned the session`)
      assert.deepEqual(await d.store.scanRids(d.user), [])
    } else {
      assert.deepEqual(active, [d.rid], `${d.user}: exactly the driver's session is active`)
      assert.equal(chain.length, d.rids.length, `${d.user}: no session the driver was not given`)
      assert.deepEqual(await d.store.scanRids(d.user), [d.rid])
      for (const rid of chain.slice(0, -1)) assert.equal(mine.get(rid).status, 'used')
    }
  }
}

/** Every failed call of the drivers: { code: count }, and the first and last failure time. */
function failures(drivers) {
  const failed = drivers.flatMap((d) => d.results.filter((r) => !r.ok))
  const codes = {}
  for (const r of failed) codes[r.code] = (codes[r.code] ?? 0) + 1
  const calls = drivers.reduce((n, d) => n + d.results.length, 0)
  const maxMs = Math.max(0, ...drivers.flatMap((d) => d.results.map((r) => r.ms)))
  return {
    calls,
    failed: failed.length,
    codes,
    firstMs: failed.length ? Math.min(...failed.map((r) => r.at)) : null,
    lastMs: failed.length ? Math.max(...failed.map((r) => r.at + r.ms)) : null,
    maxCallMs: Math.round(maxMs),
    messages: [...new Set(failed.map((r) => r.message))].slice(0, 5),
  }
}

/** Runs `drivers` rotating until `stop.done`; driver i ends its lineage at a random point
 * when `endings[i]` names how. */
function drive(drivers, stop, endings = []) {
  return drivers.map(async (d, i) => {
    const endAfter = 5 + Math.floor(Math.random() * 40)
    for (let n = 0; !stop.done; n++) {
      if (endings[i] && n === endAfter) return d.end(endings[i])
      await d.rotate()
      await sleep(10)
    }
    if (endings[i]) await d.end(endings[i])
  })
}

test('slots holding live sessions move to another primary while rotations and logouts run', async () => {
  const prefix = uniquePrefix('move')
  const k = keys(prefix, { cluster: true })
  const store = newStore(prefix, { commandTimeoutMs: 5000 })
  const t0 = { value: performance.now() }
  const [src, dst] = (await cluster.primaryPorts()).slice(0, 2)
  const nodes = await clusterNodes(src)
  const idOf = (port) => nodes.find((n) => n.port === port).id
  // Users whose keys live on `src` move; as many elsewhere stay as a control group.
  const moving = []
  const staying = []
  for (let i = 0; moving.length < 40 || staying.length < 20; i++) {
    const user = `m${i}`
    const owner = await ownerOf(keySlot(k.userKey(user)), src)
    if (owner === src && moving.length < 40) moving.push(user)
    else if (owner !== src && staying.length < 20) staying.push(user)
  }
  const drivers = [...moving, ...staying].map((user) => new Driver(store, user, t0))
  for (const d of drivers) await d.issue()
  const endings = drivers.map((_, i) => ['logout', 'logoutDevice', 'logoutAll', null, null][i % 5])
  const stop = { done: false }
  const load = drive(drivers, stop, endings)

  // Move each user's slot by hand, the way redis-cli --cluster reshard does, with pauses
  // so that calls meet a slot in every state (migrating, keys half moved, handed over).
  await sleep(200)
  const slots = [...new Set(moving.map((user) => keySlot(k.userKey(user))))]
  const others = nodes.filter((n) => n.flags.includes('master') && n.port !== src && n.port !== dst).map((n) => n.port)
  let movedKeys = 0
  const moveStart = performance.now() - t0.value
  for (const slot of slots) {
    await nodeClient(dst).cluster('SETSLOT', slot, 'IMPORTING', idOf(src))
    await nodeClient(src).cluster('SETSLOT', slot, 'MIGRATING', idOf(dst))
    await sleep(15)
    for (;;) {
      const batch = await nodeClient(src).cluster('GETKEYSINSLOT', slot, 5)
      if (batch.length === 0) break
      await nodeClient(src).migrate('127.0.0.1', dst, '', 0, 5000, 'KEYS', ...batch)
      movedKeys += batch.length
      await sleep(5)
    }
    await sleep(15)
    for (const port of [dst, src, ...others]) await nodeClient(port).cluster('SETSLOT', slot, 'NODE', idOf(dst))
  }
  const moveEnd = performance.now() - t0.value
  await sleep(500)
  stop.done = true
  await Promise.all(load)

  for (const slot of slots) assert.equal(await ownerOf(slot, src), dst, `slot ${slot} is served by the new primary`)
  assert.ok(movedKeys >= moving.length * 2, `${movedKeys} keys moved`)
  await checkLineages(prefix, drivers)
  const f = failures(drivers)
  const rotations = drivers.reduce((n, d) => n + d.rids.length - 1, 0)
  console.log(
    `# migration: ${slots.length} slots, ${movedKeys} keys moved in ${Math.round(moveEnd - moveStart)} ms; ${rotations} rotations, ${f.calls} calls, ${f.failed} failed ${JSON.stringify(f.codes)}, slowest call ${f.maxCallMs} ms; ${f.messages.join(' | ')}`,
  )
  for (const code of Object.keys(f.codes)) assert.ok(TRANSIENT.has(code), `only transient errors surfaced: ${JSON.stringify(f)}`)
  assert.equal(
    drivers.reduce((n, d) => n + d.notFound, 0),
    0,
    'no rotation was lost',
  )
  assert.ok(rotations > drivers.length * 5, `${rotations} rotations ran`)
  assert.ok(drivers.filter((d) => d.ended).length >= 30, 'lineages were logged out during the move')
})

/** Drivers for 60 users spread over every primary, and what happens around `event`. */
async function failoverScenario(name, event, { allowLoss = false } = {}) {
  const prefix = uniquePrefix(name)
  const store = newStore(prefix, { commandTimeoutMs: 5000 })
  const t0 = { value: performance.now() }
  const drivers = Array.from({ length: 60 }, (_, i) => new Driver(store, `${name}${i}`, t0))
  for (const d of drivers) await d.issue()
  const stop = { done: false }
  const load = drive(drivers, stop)
  await sleep(300)
  t0.value = performance.now()
  let info
  let settled
  try {
    info = await event()
    settled = performance.now() - t0.value
    // Keep the load on until no call has failed for two seconds.
    for (;;) {
      await sleep(250)
      const f = failures(drivers)
      const now = performance.now() - t0.value
      if (now > settled + 2000 && (f.lastMs === null || now - f.lastMs > 2000)) break
      assert.ok(now < 60_000, `calls still fail a minute after the event: ${JSON.stringify(f)}`)
    }
  } finally {
    // Stopped on a failed assertion too, so the test fails instead of driving forever.
    stop.done = true
    await Promise.all(load)
  }
  const f = failures(drivers)
  const lost = drivers.reduce((n, d) => n + d.notFound, 0)
  console.log(
    `# ${name}: new primary after ${Math.round(settled)} ms; ${f.calls} calls, ${f.failed} failed ${JSON.stringify(f.codes)} from ${f.firstMs === null ? '-' : Math.round(f.firstMs)} to ${f.lastMs === null ? '-' : Math.round(f.lastMs)} ms after the event, slowest call ${f.maxCallMs} ms; rotations lost with the old primary: ${lost}, replies lost: ${drivers.reduce((n, d) => n + d.lostReplies, 0)}; ${JSON.stringify(info)}; ${f.messages.join(' | ')}`,
  )
  for (const code of Object.keys(f.codes)) {
    assert.ok(TRANSIENT.has(code) || (allowLoss && code === 'ERR_NOT_FOUND'), `only transient errors surfaced: ${JSON.stringify(f)}`)
  }
  if (!allowLoss) assert.equal(lost, 0, 'no rotation was lost')
  // Then every lineage rotates again on the same store.
  for (const d of drivers) assert.equal((await d.rotate()).ok, true, `${d.user} rotates after the failover`)
  await checkLineages(prefix, drivers)
  return f
}

/** The replica of the primary at `port` (as `port` sees the cluster). */
async function replicaOf(port) {
  const nodes = await clusterNodes(port)
  const id = nodes.find((n) => n.port === port).id
  return nodes.find((n) => n.master === id && !n.flags.includes('fail'))?.port
}

async function waitForPrimary(port, deadlineMs = 30_000) {
  const start = Date.now()
  for (;;) {
    try {
      const me = (await clusterNodes(port)).find((n) => n.flags.includes('myself'))
      if (me.flags.includes('master') && me.slots.length) return
    } catch {
      // not reachable yet
    }
    assert.ok(Date.now() - start < deadlineMs, `${port} became a primary`)
    await sleep(50)
  }
}

/** Until the replica at `port` has finished its sync with its primary. */
async function waitForSync(port, deadlineMs = 30_000) {
  const start = Date.now()
  while (!(await nodeClient(port).info('replication')).includes('master_link_status:up')) {
    assert.ok(Date.now() - start < deadlineMs, `${port} synced with its primary`)
    await sleep(50)
  }
}

/** INFO errorstats of a node as { ERRORNAME: count }. */
async function errorStats(port) {
  const text = await nodeClient(port).info('errorstats')
  return Object.fromEntries([...text.matchAll(/errorstat_(\w+):count=(\d+)/g)].map(([, name, n]) => [name, Number(n)]))
}

test('CLUSTER FAILOVER on a replica during load: calls succeed again on the same store', async () => {
  const primary = (await cluster.primaryPorts())[0]
  const replica = await replicaOf(primary)
  assert.ok(replica, 'the primary has a replica')
  const before = await errorStats(primary)
  await failoverScenario('failover', async () => {
    await nodeClient(replica).cluster('FAILOVER')
    await waitForPrimary(replica)
    return { primary, replica }
  })
  const afterStats = await errorStats(primary)
  const answered = Object.fromEntries(
    Object.entries(afterStats)
      .map(([n, c]) => [n, c - (before[n] ?? 0)])
      .filter(([, c]) => c > 0),
  )
  console.log(`# failover: the demoted primary answered ${JSON.stringify(answered)}`)
})

test('a primary killed (SIGKILL) during load: calls fail at most until its replica takes over', async () => {
  const ports = await cluster.primaryPorts()
  let victim
  let replica
  for (const p of ports) {
    replica = await replicaOf(p)
    if (replica) {
      victim = p
      break
    }
  }
  assert.ok(victim, 'a primary with a replica')
  const node = cluster.nodes.find((n) => n.port === victim)
  await failoverScenario(
    'killed',
    async () => {
      await waitForSync(replica)
      await node.kill('SIGKILL')
      await waitForPrimary(replica)
      return { killed: victim, replica }
    },
    { allowLoss: true },
  )
  assert.ok((await cluster.primaryPorts()).includes(replica))
  assert.ok(await alivePort())
})
