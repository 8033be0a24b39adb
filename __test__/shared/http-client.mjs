// A browser-like HTTP client for the tests of HTTP apps: real requests (fetch), a cookie
// jar that keeps what Set-Cookie says (path, expiry, deletion) and sends it back where it
// belongs, no redirect followed.

/** One parsed Set-Cookie line: { name, value, path, expired, attributes: Set of lowercased flags and pairs }. */
export function parseSetCookie(line) {
  const [pair, ...rest] = line.split(';').map((p) => p.trim())
  const eq = pair.indexOf('=')
  const attributes = new Map(
    rest.map((a) => {
      const i = a.indexOf('=')
      return i < 0 ? [a.toLowerCase(), true] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)]
    }),
  )
  const maxAge = attributes.has('max-age') ? Number(attributes.get('max-age')) : null
  const expires = attributes.has('expires') ? Date.parse(attributes.get('expires')) : null
  const expired = (maxAge !== null && maxAge <= 0) || (maxAge === null && expires !== null && expires <= Date.now())
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), path: attributes.get('path') || '/', expired, attributes }
}

/**
 * `origin` (e.g. `http://127.0.0.1:3000`) and headers sent with every request. Returns
 * { request(path, { method, form, json, headers }), jar, lastCookies }.
 */
export function httpClient(origin, defaultHeaders = {}) {
  /** name -> { value, path } */
  const jar = new Map()
  const client = {
    jar,
    /** The parsed Set-Cookie lines of the last response. */
    lastCookies: [],
    async request(path, { method = 'GET', form, json, headers = {} } = {}) {
      const pathname = new URL(path, origin).pathname
      const cookie = [...jar]
        .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
        .map(([name, c]) => `${name}=${c.value}`)
        .join('; ')
      const res = await fetch(new URL(path, origin), {
        method,
        redirect: 'manual',
        headers: {
          ...defaultHeaders,
          ...(cookie ? { cookie } : {}),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(json ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: form ? new URLSearchParams(form).toString() : json ? JSON.stringify(json) : undefined,
      })
      client.lastCookies = res.headers.getSetCookie().map(parseSetCookie)
      for (const c of client.lastCookies) {
        if (c.expired) jar.delete(c.name)
        else jar.set(c.name, { value: c.value, path: c.path })
      }
      const body = await res.text()
      return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body) }
    },
  }
  return client
}
