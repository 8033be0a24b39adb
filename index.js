'use strict'

// The public module. The native class does the work; this file only hands out a plain
// object of functions, so that a method taken off the store (`const { logout } = store`)
// keeps working, as it does with the original package.

const { NativeStore } = loadNative()
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
    migrateFrom: promised((source) => native.migrateFrom(source)),
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

/** This machine's napi-rs platform name, as the binary packages are named. */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report && process.report.getReport()
    return `linux-${arch}-${report && report.header && report.header.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/**
 * The addon, through napi-rs's generated loader. When no binary for this platform can
 * be found, the loader's report (every path it tried, and advice about an npm bug that
 * rarely applies) is replaced by one short error saying what is missing and how to get it.
 */
function loadNative() {
  try {
    return require('./js-binding.js')
  } catch (err) {
    throw bindingError(err)
  }
}

function bindingError(err) {
  // Platforms a prebuilt binary package is made for (the directories under npm/).
  const prebuilt = ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-x64-gnu', 'linux-x64-musl', 'win32-x64-msvc']
  if (!(err instanceof Error) || !err.message.startsWith('Cannot find native binding')) return err
  const reasons = []
  for (let e = err.cause; e instanceof Error && reasons.length < 100; e = e.cause) reasons.push(e.message.split('\n')[0])
  const failed = reasons.find((m) => !m.startsWith('Cannot find module') && !m.startsWith('Unsupported '))
  const name = platformName()
  const pkg = `redis-session-store-native-${name}`
  const fromSource =
    'build it from source: install Rust (https://rustup.rs), then install this package from a clone or a git URL, which builds the addon (or run `npm run build` in a clone)'
  let message
  let code
  if (failed) {
    code = 'ERR_NATIVE_BINDING_LOAD'
    message = `redis-session-store-native: the native binary for ${name} was found but failed to load: ${failed}\nReinstall it, or ${fromSource}.`
  } else if (prebuilt.includes(name)) {
    code = 'ERR_NATIVE_BINDING_MISSING'
    message =
      `redis-session-store-native: no native binary for ${name} (the package ${pkg} is not installed). Two ways to fix it:\n` +
      `  1. install the prebuilt binary: npm install ${pkg} (installs that omit optional dependencies leave it out)\n` +
      `  2. ${fromSource}`
  } else {
    code = 'ERR_NATIVE_BINDING_MISSING'
    message = `redis-session-store-native: no prebuilt binary is made for ${name}; ${fromSource}.`
  }
  const error = new Error(message)
  error.code = code
  // The loader's full report, for whoever needs it, kept out of the printed error.
  Object.defineProperty(error, 'loadErrors', { value: reasons, enumerable: false })
  return error
}
