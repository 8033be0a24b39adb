// One command to one server on loopback, answered as redis-cli prints it when its output
// is not a terminal: a string as it is, a number in digits, nil as an empty line, an array
// one element a line. The cluster and Sentinel harnesses and their tests use it, so that
// no redis-cli needs to be installed (the wheels that give the servers do not all carry one).

import { readFileSync } from 'node:fs'
import Redis from 'ioredis'

/** redis-cli's text for a reply. */
export function replyText(reply) {
  if (reply === null || reply === undefined) return ''
  if (Array.isArray(reply)) return reply.map(replyText).join('\n')
  return String(reply)
}

/**
 * Sends `args` to the server on 127.0.0.1:`port` and resolves to the reply's text; an error
 * reply rejects. `password` authenticates the default user; `tls` ({ ca, cert?, key? }, PEM
 * file paths) connects with TLS.
 */
export async function cliCommand(port, args, { password, tls, timeoutMs = 5000 } = {}) {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    password,
    tls: tls && {
      ca: readFileSync(tls.ca),
      ...(tls.cert ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {}),
    },
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  })
  client.on('error', () => {}) // the failing call reports it
  try {
    await client.connect()
    return replyText(await client.call(...args)).trim()
  } finally {
    client.disconnect()
  }
}
