'use strict'

// The public module. The native class does the work; this file only hands out a plain
// object of functions, so that a method taken off the store (`const { logout } = store`)
// keeps working, as it does with the original package.

const { NativeStore } = require('./js-binding.js')
const { promised } = require('./promised.js')

/** @param {import('./index').Cfg} cfg */
function createRedisStore(cfg) {
  const native = new NativeStore(cfg)
  return {
    issueInitial: promised((userId, input) => native.issueInitial(userId, input)),
    verifyAndRotateRefresh: promised((input) => native.verifyAndRotateRefresh(input)),
    tombstoneLineage: promised((rid) => native.tombstoneLineage(rid)),
    logout: promised((rid) => native.logout(rid)),
    logoutDevice: promised((userId, deviceId) => native.logoutDevice(userId, deviceId)),
    logoutAll: promised((userId) => native.logoutAll(userId)),
    getRid: promised((rid) => native.getRid(rid)),
    scanRids: promised((userId) => native.scanRids(userId)),
    gcOrphans: promised((opts) => native.gcOrphans(opts)),
    close: async () => native.close(),
    // Read-only operator views (used by the `redis-session-store` CLI).
    listSessions: promised((userId) => native.listSessions(userId)),
    inspectLineage: promised((rid) => native.inspectLineage(rid)),
    keyspaceStats: promised(() => native.keyspaceStats()),
    prefixHasKeys: promised(() => native.prefixHasKeys()),
    gcOrphansWithProgress: promised((opts, onProgress) =>
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
    ),
  }
}

module.exports = { createRedisStore }
