'use strict'

// The native binding, resolved in one place: a binary named by
// NAPI_RS_NATIVE_LIBRARY_PATH (napi-rs's convention, for a build of one's own), then by
// this machine's platform name (as napi-rs names the binary packages under npm/) the
// binary built in this directory (a clone's `npm run build`), then the platform's
// prebuilt package. index.js turns a
// failure into the message a user reads; the benchmarks and the prepare step require
// this file for the bare class.

const BINARY = 'redis-session-store-native'

/** This machine's napi-rs platform name; on Linux the C library decides gnu or musl. */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    // The diagnostic report carries the glibc version; without excludeNetwork it also
    // resolves every open socket's peer, which can stall start-up on a slow resolver.
    const options = process.report
    const excluded = options?.excludeNetwork
    if (options) options.excludeNetwork = true
    try {
      return `linux-${arch}-${options?.getReport().header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
    } finally {
      if (options) options.excludeNetwork = excluded
    }
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function load() {
  const platform = platformName()
  const loadErrors = []
  const named = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  for (const candidate of [named, `./${BINARY}.${platform}.node`, `${BINARY}-${platform}`].filter(Boolean)) {
    try {
      return require(candidate)
    } catch (err) {
      loadErrors.push(err)
    }
  }
  const error = new Error(`Cannot find native binding for ${platform}`)
  error.platform = platform
  error.loadErrors = loadErrors
  throw error
}

module.exports = load()
