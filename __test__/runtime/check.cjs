// The package loaded with `require` under one runtime: the same store, a rotation and a
// replay refused with its code. Prints `ok - …` / `not ok - …`, `# pass N`, `# fail N`.
'use strict'

const assert = require('node:assert/strict')
const { createRedisStore } = require('redis-session-store-native')

async function main() {
  const store = createRedisStore({ url: process.env.REDIS_URL, prefix: `rt-cjs-${process.pid}`, absTtlSeconds: 600 })
  const now = Math.floor(Date.now() / 1000)
  let failed = 0
  try {
    const { rid } = await store.issueInitial('carol', { now, absTtlSeconds: 600 })
    const { newRid } = await store.verifyAndRotateRefresh({ rid, now })
    const err = await store.verifyAndRotateRefresh({ rid, now }).then(
      () => assert.fail('the replay was accepted'),
      (e) => e,
    )
    assert.equal(err.code, 'ERR_REPLAY')
    assert.deepEqual(await store.scanRids('carol'), [newRid.rid])
    console.log('ok - require: issue, rotate, replay refused')
  } catch (err) {
    failed = 1
    console.log(`not ok - require: issue, rotate, replay refused\n  # ${err.stack}`)
  } finally {
    await store.close()
  }
  console.log(`# pass ${1 - failed}\n# fail ${failed}`)
  process.exitCode = failed
}

main()
