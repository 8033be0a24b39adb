// MONITOR parsing for the tests that check, on a cluster, that every key a script
// touches was declared to it and lies in one slot (cluster.test.mjs, hardening.test.mjs).

import { keySlot, sleep } from './helpers.mjs'

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'])
/** Commands run inside scripts whose every argument is a key. */
const ALL_KEYS = new Set(['DEL', 'EXISTS', 'UNLINK', 'TOUCH'])

/**
 * Groups one node's MONITOR lines ({ args, source }) into script calls: { keys, calls }.
 * Redis 7 shows a script's own commands (source 'lua') just before its EVAL/EVALSHA/FCALL line,
 * Redis 6 just after it (`luaFirst` says which). Script commands that cannot be matched
 * with a script line become a call with `keys: null`.
 */
export function scriptCalls(lines, luaFirst) {
  const out = []
  let pending = []
  let current = null
  for (const { args, source } of lines) {
    const name = String(args[0]).toLowerCase()
    if (source === 'lua') {
      if (luaFirst) pending.push(args)
      else if (current) current.calls.push(args)
      else out.push({ keys: null, calls: [args] })
      continue
    }
    if (luaFirst && pending.length) {
      if (!SCRIPT_COMMANDS.has(name)) out.push({ keys: null, calls: pending })
    }
    if (SCRIPT_COMMANDS.has(name)) {
      const numkeys = Number(args[2])
      const call = {
        script: name.startsWith('eval') && !name.startsWith('evalsha') ? `eval:${args[1]}` : args[1],
        keys: args.slice(3, 3 + numkeys),
        calls: luaFirst ? pending : [],
      }
      out.push(call)
      current = luaFirst ? null : call
    } else {
      current = null
    }
    pending = []
  }
  if (pending.length) out.push({ keys: null, calls: pending })
  return out
}

/** What a script call did that it may not: touch an undeclared key, or declare keys of
 * more than one slot. */
export function violations(calls) {
  const out = []
  for (const { keys: declared, calls: commands } of calls) {
    if (declared === null) {
      out.push(`script commands without their script: ${JSON.stringify(commands)}`)
      continue
    }
    const slots = new Set(declared.map(keySlot))
    if (slots.size > 1) out.push(`keys of ${slots.size} slots declared: ${JSON.stringify(declared)}`)
    const known = new Set(declared)
    for (const args of commands) {
      const name = String(args[0]).toUpperCase()
      if (name === 'TIME') continue
      const touched = ALL_KEYS.has(name) ? args.slice(1) : args.slice(1, 2)
      if (touched.length === 0) out.push(`${name} without a key`)
      for (const key of touched) if (!known.has(key)) out.push(`${name} ${key}: not among the declared ${JSON.stringify(declared)}`)
    }
  }
  return out
}

/**
 * Whether this server's MONITOR shows a script's own commands before its script line
 * (it changed between Redis versions), found with a probe script on `node` (an ioredis
 * client of one node) while the caller's monitor of that node collects `lines`
 * ({ args, source }).
 */
export async function luaShownFirst(node, lines) {
  const marker = `probe-${process.pid}-${Date.now()}`
  await node.eval("return redis.call('ECHO', ARGV[1])", 0, marker)
  const at = (match) => lines.findIndex(match)
  const isScript = (l) => String(l.args[0]).toLowerCase() === 'eval' && l.args[3] === marker
  const isLua = (l) => l.source === 'lua' && l.args[1] === marker
  for (let i = 0; i < 100 && (at(isScript) === -1 || at(isLua) === -1); i++) await sleep(20)
  if (at(isScript) === -1 || at(isLua) === -1) throw new Error('the probe script was not seen by the monitor')
  return at(isLua) < at(isScript)
}
