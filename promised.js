'use strict'

// How every store method hands out its Promise.
//
// The addon settles a call's Promise from its own queue, after the JavaScript stack that
// made the call is gone, so the error it rejects with has no frames (`err.stack` would be
// only `Error: not_found`). So the Promise handed out is the addon's with one rejection
// handler chained on: when that handler runs, V8 can still see which async functions
// await the chained Promise (the caller's, and theirs), and a stack captured there names
// them ("at async login (app.js:12:3)"). A call that succeeds runs no handler and
// captures nothing; the chained Promise is its only cost (bench/error-stacks.mjs).
//
// Bun's engine (JavaScriptCore) keeps no such async stack, and the addon's errors there
// have no `stack` at all: a stack captured in the handler would name nobody. So on Bun
// the caller's stack is captured when the call is made (its synchronous frames: "at
// login (app.js:12:3)"), and a rejection gets it. That is one stack capture per call,
// successful or not, on Bun only.

/** Whether the engine has no async stack traces to capture in a rejection handler. */
const captureAtCall = typeof process !== 'undefined' && Boolean(process.versions?.bun)

/** Whether `stack` lists at least one frame. */
const hasFrames = (stack) => stack.includes('\n    at ')

/** Gives a frameless error the stack of the code awaiting it, then rejects with it. */
function rejectWithCallerStack(err) {
  if (err instanceof Error && typeof err.stack === 'string' && !hasFrames(err.stack)) {
    Error.captureStackTrace(err, rejectWithCallerStack)
  }
  throw err
}

/**
 * Wraps a method of the addon. The result never throws: whatever is thrown while its
 * arguments are read (a getter that throws, a revoked Proxy) rejects the returned Promise
 * instead, as it would in the original's `async` methods. A rejection whose error has no
 * stack frames gets the caller's async stack; its message, `code` and class are kept.
 */
function promised(method) {
  if (captureAtCall) return promisedWithCallSite(method)
  return (...args) => {
    try {
      return method(...args).then(undefined, rejectWithCallerStack)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}

/** `promised` for an engine without async stacks: the stack of the call itself. */
function promisedWithCallSite(method) {
  const call = (...args) => {
    const site = {}
    Error.captureStackTrace(site, call)
    const withSite = (err) => {
      if (err instanceof Error && !hasFrames(String(err.stack ?? ''))) {
        const frames = String(site.stack)
        err.stack = `${err.name}: ${err.message}${frames.slice(frames.indexOf('\n'))}`
      }
      throw err
    }
    try {
      return method(...args).then(undefined, withSite)
    } catch (err) {
      return Promise.reject(err).then(undefined, withSite)
    }
  }
  return call
}

module.exports = { promised }
