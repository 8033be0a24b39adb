// Types of redis-session-store-native/board: the session board an auth server mounts.

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SessionStore } from './index'

export interface SessionBoardOptions {
  /** A store from `createRedisStore`: the board reads and ends sessions through it. */
  store: SessionStore &
    Required<Pick<SessionStore, 'listSessions' | 'inspectSession' | 'keyspaceStats' | 'logoutSession' | 'logoutAllCounted' | 'logoutDeviceCounted'>>
  /**
   * Called with each request before anything is read. Resolve to a falsy value to refuse
   * it (403, no data); to `true` to let it in; or to a string naming the operator, to which
   * the form tokens of the actions are then bound. A throw or rejection refuses too.
   */
  authorize: (req: IncomingMessage) => boolean | string | null | undefined | Promise<boolean | string | null | undefined>
  /** Shows no action and refuses every POST. Default false. */
  readOnly?: boolean
}

/**
 * A request handler for `http.createServer`, Express (`app.use('/admin', board)`) and
 * Fastify (through the raw request and response). `next`, when given, is called for a
 * path under the mount that the board does not serve.
 */
export type SessionBoardHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

/** Throws a `TypeError` without `authorize` (the board never runs open) or without a store. */
export function createSessionBoard(options: SessionBoardOptions): SessionBoardHandler
