// Runs the example auth server:
//   REDIS_URL=redis://127.0.0.1:6379 PORT=3000 node examples/auth-server/server.mjs
// Two demo users: alice / alice-password, and admin / admin-password (who may open /admin).
// Serve it behind TLS in production: its cookies are Secure (browsers accept them on
// http://localhost only).

import { randomBytes } from 'node:crypto'
import { createRedisStore } from '../../index.mjs'
import { createAuthApp, hashPassword } from './app.mjs'

const store = createRedisStore({
  url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.STORE_PREFIX ?? 'auth',
  absTtlSeconds: 30 * 24 * 3600,
  // A replayed refresh token ends its whole lineage; Redis only ever sees hashed tokens.
  onReuse: 'revoke-lineage',
  tokenStorage: 'sha256',
  audit: { maxLen: 100_000 },
  metrics: true,
})

const users = {
  alice: { password: hashPassword('alice-password') },
  admin: { password: hashPassword('admin-password'), admin: true },
}

const app = createAuthApp({ store, users, signingKey: randomBytes(32) })
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address()
  console.log(`auth server on http://localhost:${port} (board: http://localhost:${port}/admin)`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => store.close()))
}
