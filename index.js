'use strict'

// The public module. The native class does the work; this file only hands out a plain
// object of functions, so that a method taken off the store (`const { logout } = store`)
// keeps working, as it does with the original package.

const { NativeStore } = require('./js-binding.js')

/** @param {import('./index').Cfg} cfg */
function createRedisStore(cfg) {
  const native = new NativeStore(cfg)
  return {
    issueInitial: (userId, input) => native.issueInitial(userId, input),
    verifyAndRotateRefresh: (input) => native.verifyAndRotateRefresh(input),
    tombstoneLineage: (rid) => native.tombstoneLineage(rid),
    logout: (rid) => native.logout(rid),
    logoutDevice: (userId, deviceId) => native.logoutDevice(userId, deviceId),
    logoutAll: (userId) => native.logoutAll(userId),
    getRid: (rid) => native.getRid(rid),
    scanRids: (userId) => native.scanRids(userId),
    gcOrphans: (opts) => native.gcOrphans(opts),
    close: async () => native.close(),
    // Read-only operator views (used by the `redis-session-store` CLI).
    listSessions: (userId) => native.listSessions(userId),
    inspectLineage: (rid) => native.inspectLineage(rid),
    keyspaceStats: () => native.keyspaceStats(),
    gcOrphansWithProgress: (opts, onProgress) =>
      native.gcOrphansWithProgress(
        opts,
        // A throw from the callback would be fatal on the addon's thread: report it instead.
        typeof onProgress === 'function'
          ? (report) => {
              try {
                onProgress(report)
              } catch (err) {
                process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'GcProgressWarning')
              }
            }
          : onProgress,
      ),
  }
}

module.exports = { createRedisStore }
