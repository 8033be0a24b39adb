// What the board reads from the store for each page, and the three ways it ends sessions.

import { HttpError } from './routes.mjs'

const AUDIT_ROWS = 50
const RECENT_ROWS = 20

/** For the home page: the keyspace, the store's metrics (null when off), the newest audit entries. */
export async function homeData(store) {
  const [stats, recent] = await Promise.all([store.keyspaceStats(), readAudit(store, { count: RECENT_ROWS })])
  const metrics = typeof store.metrics === 'function' ? store.metrics() : null
  return { stats, recent, metrics }
}

/** For a user's page: their active sessions, the lineage of each (null for one that ended meanwhile), their audit entries. */
export async function userData(store, userId) {
  const [sessions, audit] = await Promise.all([store.listSessions(userId), readAudit(store, { userId, count: AUDIT_ROWS })])
  const lineages = await Promise.all(sessions.map((s) => store.inspectSession(userId, s.sessionId)))
  return { sessions, lineages, audit }
}

/** Ends what an action names; resolves to how many active sessions it ended. */
export async function act(store, action, userId, form) {
  if (action === 'end-all') return store.logoutAllCounted(userId)
  if (action === 'end-device') {
    if (typeof form.deviceId !== 'string' || form.deviceId === '') throw new HttpError(400, 'No device was named: nothing was changed.')
    return store.logoutDeviceCounted(userId, form.deviceId)
  }
  if (typeof form.sessionId !== 'string' || form.sessionId === '') throw new HttpError(400, 'No session was named: nothing was changed.')
  return (await store.logoutSession(userId, form.sessionId)) ? 1 : 0
}

/** The audit stream's newest entries, or null when the store cannot read them here. */
async function readAudit(store, opts) {
  if (typeof store.readAudit !== 'function') return null
  try {
    return await store.readAudit(opts)
  } catch {
    return null
  }
}
