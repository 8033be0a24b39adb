// The session board: a request handler an auth server mounts to let its operators find a
// user, see their sessions and lineages, the keyspace and the store's metrics, read the
// audit trail, and end a session, a device or all of a user's sessions.
//
// Plain server-rendered HTML, no script and no external asset. Every stored string
// (userIds, deviceIds, audit fields) is attacker-controlled and goes through `html`,
// which escapes whatever it is given. No rid ever leaves the server: rows and actions
// carry sessionIds (which name a lineage and work as no token) and deviceIds.
//
// The parts, in board/: handler.mjs (routes, authorization, CSRF, actions), data.mjs (what
// each page reads from the store), pages.mjs (the pages as HTML), html.mjs (escaping, the
// page frame, the security headers), routes.mjs (URLs, cookies, forms).

export { createSessionBoard } from './board/handler.mjs'
