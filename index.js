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
  }
}

module.exports = { createRedisStore }
