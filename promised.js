'use strict'

// How every store method hands out its Promise.
//
// The addon settles a call's Promise from its own queue, after the JavaScript stack that
// made the call is gone, so the error it rejects with has no frames (`err.stack` would be
// only `Error: not_found`). A rejection therefore passes through an `async` function that
// awaits the addon's Promise: when that function resumes with the error, V8 knows which
// async functions await it (the caller's, and theirs), and a stack captured there names
// them ("at async login (app.js:12:3)"). A call that succeeds captures nothing.

/** Whether `stack` lists at least one frame. */
const hasFrames = (stack) => stack.includes('\n    at ')

/**
 * Wraps a method of the addon. The result never throws: whatever is thrown while its
 * arguments are read (a getter that throws, a revoked Proxy) rejects the returned Promise
 * instead, as it would in the original's `async` methods. A rejection whose error has no
 * stack frames gets the caller's async stack; its message, `code` and class are kept.
 */
function promised(method) {
  return async function storeCall(...args) {
    try {
      return await method(...args)
    } catch (err) {
      if (err instanceof Error && typeof err.stack === 'string' && !hasFrames(err.stack)) {
        Error.captureStackTrace(err, storeCall)
      }
      throw err
    }
  }
}

module.exports = { promised }
