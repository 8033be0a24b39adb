// Loads the reference implementation, @devcoons/redis-session-store 0.1.0, for the
// compatibility tests. Its published dist/ is broken, so its TypeScript source is loaded
// through tsx, with the ioredis@5 this project has as a devDependency.
//
// The original has no close(): it creates an ioredis client inside createRedisStore and
// keeps it to itself, and that open socket keeps the Node process alive. Right after
// constructing the client the original calls client.defineCommand(...) once; this helper
// wraps ioredis' defineCommand for the duration of that one call to learn which client
// belongs to the new store, and hands back a close() that quits it. No test needs
// --test-force-exit or process.exit.

import { createRequire } from 'node:module'
import { tsImport } from 'tsx/esm/api'

const require = createRequire(import.meta.url)

/** The original's src/store.ts, as a file URL. */
export const ORIGINAL_STORE_TS = new URL('../../node_modules/@devcoons/redis-session-store/src/store.ts', import.meta.url).href

let loaded

async function load() {
  loaded ??= (async () => {
    const mod = await tsImport(ORIGINAL_STORE_TS, import.meta.url)
    const create = mod.createRedisStore ?? mod.default?.createRedisStore
    if (typeof create !== 'function') throw new Error('the original exports no createRedisStore')
    // The ioredis the original resolves: the same file as ours, so the same class object.
    const Redis = require(require.resolve('ioredis', { paths: [new URL('../../node_modules/@devcoons/redis-session-store/src/', import.meta.url).pathname] }))
    const RedisClass = Redis.default ?? Redis
    return { create, RedisClass }
  })()
  return loaded
}

/** The original's createRedisStore, unwrapped (its client cannot be closed). */
export async function loadOriginalCreateRedisStore() {
  return (await load()).create
}

/**
 * Creates a store of the original with `cfg` and returns it with an added `close()`
 * that quits its ioredis client, and `client`, that client.
 */
export async function createOriginalStore(cfg) {
  const { create, RedisClass } = await load()
  const proto = RedisClass.prototype
  const own = Object.hasOwn(proto, 'defineCommand')
  const defineCommand = proto.defineCommand
  let client
  proto.defineCommand = function (...args) {
    client ??= this
    return defineCommand.apply(this, args)
  }
  let store
  try {
    store = create(cfg)
  } finally {
    if (own) proto.defineCommand = defineCommand
    else delete proto.defineCommand
  }
  if (!client) throw new Error('could not find the ioredis client of the original store')
  return Object.assign(Object.create(null), store, {
    client,
    async close() {
      if (client.status === 'end') return
      await client.quit().catch(() => client.disconnect())
    },
  })
}
