// What the Cluster and Sentinel harnesses both do with the servers they start: wait for a
// condition, and stop a process.

/**
 * Waits until `check()` is true, polling every 100 ms; `gaveUp()`, when it returns a
 * reason, ends the wait at once (the error then has `gaveUp: true`). `harness` names who
 * waited in the error; the timeout's error gives the last failure of `check`.
 */
export async function waitFor(harness, check, what, deadlineMs = 20_000, gaveUp = () => null) {
  const start = Date.now()
  let last
  for (;;) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    const reason = gaveUp()
    if (reason) throw Object.assign(new Error(`${harness}: ${what}: ${reason}`), { gaveUp: true })
    if (Date.now() - start > deadlineMs) throw new Error(`${harness}: ${what} did not happen in time (${last?.message ?? 'no error'})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Whether a child process is still running. */
export const running = (child) => Boolean(child) && child.exitCode === null && child.signalCode === null

/** Sends `signal` to a running child; for a signal that ends it, waits until it exited. */
export async function stopProcess(child, signal) {
  if (!running(child)) return
  if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
    child.kill(signal)
    return
  }
  const exited = new Promise((r) => child.once('exit', r))
  child.kill(signal)
  await exited
}

/** A data node's flags: on loopback only, persisting nothing, its files in `dir`. */
export const throwawayNodeArgs = (dir) => ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
