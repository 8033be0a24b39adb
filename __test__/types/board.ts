// The board's types: a store from createRedisStore is accepted, the handler fits
// node:http's request listener, and authorize may answer with a boolean, an operator's
// name, or a Promise of either.

import { createServer } from 'node:http'
import { createRedisStore } from '../../index'
import { createSessionBoard, type SessionBoardHandler } from '../../board'

const store = createRedisStore({ url: 'redis://127.0.0.1:6379', absTtlSeconds: 60 })
const sync: SessionBoardHandler = createSessionBoard({ store, authorize: (req) => req.headers['x-operator'] === 'ops' })
const named = createSessionBoard({ store, authorize: async () => 'ops-1', readOnly: true })
createServer(sync)
createServer((req, res) => named(req, res, () => res.end()))
// @ts-expect-error: the board never runs without authorize
createSessionBoard({ store })
