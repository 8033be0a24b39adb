// The lineage tree renderer (cli/tree.mjs) on shapes a live store rarely produces: a
// fork (two children of one session, which rotation never makes), a collected ancestor,
// and colour. Sessions come as inspectLineage gives them: in tree order, each with its
// parent's place in the list. The shapes a store does produce are covered in cli.test.mjs and the demo.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { stripVTControlCharacters } from 'node:util'
import { renderLineage } from '../../cli/tree.mjs'

const T = 1_800_000_000
const session = (rid, parentRid, status, createdAt, extra = {}) => ({
  rid,
  userId: 'u',
  parentRid,
  createdAt,
  expAt: createdAt + 60,
  absExpAt: T + 3600,
  deviceId: '',
  uaHash: '',
  ipHash: '',
  status,
  ...extra,
})

test('a fork is drawn with both branches and called out', () => {
  const lineage = {
    userId: 'u',
    rid: 'b',
    scanned: false,
    sessions: [
      session('a', '', 'used', T),
      session('b', 'a', 'active', T + 10, { parentIndex: 0 }),
      session('c', 'a', 'used', T + 20, { parentIndex: 0 }),
      session('d', 'c', 'active', T + 30, { deviceId: 'pc', parentIndex: 2 }),
    ],
  }
  const text = renderLineage(lineage, { now: T + 40 })
  const nodes = text.split('\n').filter((l) => /[●○✕] [a-d] /.test(l))
  assert.deepEqual(nodes, ['○ a  used', '├─● b  active  ◀ inspected  ◀ active leaf', '└─○ c  used', '  └─● d  active  ◀ active leaf'])
  assert.match(text, /^│ {4}created .* · expires .* \(in 59m 20s\)$/m, 'b’s details keep the fork’s rail')
  assert.match(text, /device pc/)
  assert.match(text, /2 active leaves: this lineage forked/)
  assert.match(text, /The inspected rid is the active session/)
  assert.ok(!text.includes('\x1b['))
})

test('a collected ancestor is reported above the oldest session left', () => {
  const lineage = { userId: 'u', rid: 'y', scanned: true, missingParent: 'x', sessions: [session('y', 'x', 'tombstoned', T)] }
  const text = renderLineage(lineage, { now: T })
  const lines = text.split('\n')
  assert.equal(lines[0], 'Lineage of user u: 1 session (1 tombstoned)')
  assert.match(lines[1], /older sessions gone .* parent x$/)
  assert.equal(lines[2], '✕ y  tombstoned  ◀ inspected')
  assert.match(text, /The inspected rid was ended/)
  assert.match(text, /No session of this lineage is active/)
  assert.match(text, /found by scanning the rid keys/)
})

test('colour marks statuses only when asked for', () => {
  const lineage = { userId: 'u', rid: 'a', scanned: false, sessions: [session('a', '', 'used', T), session('b', 'a', 'active', T + 1, { parentIndex: 0 })] }
  const colored = renderLineage(lineage, { color: true, now: T })
  assert.ok(colored.includes('\x1b[33m○\x1b[39m a'), 'used in yellow')
  assert.ok(colored.includes('\x1b[32m●\x1b[39m b'), 'active in green')
  assert.equal(stripVTControlCharacters(colored), renderLineage(lineage, { now: T }), 'same text without the codes')
})
