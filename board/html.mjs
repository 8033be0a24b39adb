// The board's HTML: the `html` template tag that escapes every value it is given, the page
// frame with its one inline stylesheet, and the security headers every response carries.

import { createHash } from 'node:crypto'

/** Markup that `html` inserts as it is. Only `html` makes one. */
class Markup {
  constructor(text) {
    this.text = text
  }
  toString() {
    return this.text
  }
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
// Control, zero-width and bidirectional characters would let a crafted userId look like
// another one: they are shown as visible escapes.
const INVISIBLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu

function escapeText(value) {
  return String(value)
    .replace(INVISIBLE, (ch) => `\\u{${ch.codePointAt(0).toString(16)}}`)
    .replace(/[&<>"']/g, (ch) => ENTITIES[ch])
}

function render(value) {
  if (value instanceof Markup) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeText(value)
}

/** A template tag: every interpolated value is escaped unless it is Markup itself. */
export function html(strings, ...values) {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new Markup(out)
}

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--panel:#fff;--ink:#1b1f24;--muted:#5b6470;--line:#d9dde3;--accent:#1f6feb;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--chip:#eef1f4}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--panel:#161b22;--ink:#e6edf3;--muted:#8d96a0;--line:#30363d;--accent:#4493f8;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--chip:#21262d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--panel);padding:.5rem 1rem}
.skip:focus{left:.5rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.75rem 1.25rem;background:var(--panel);border-bottom:1px solid var(--line)}
header .brand{font-weight:650;text-decoration:none;color:var(--ink)}
header form{display:flex;gap:.5rem;flex:1;min-width:14rem;max-width:32rem}
main{max-width:72rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.4rem;margin:.25rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:0 0 .75rem}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:1rem 1.25rem;margin-bottom:1.25rem}
.grid{display:grid;gap:1.25rem;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));margin-bottom:1.25rem}
.grid section{margin:0}
input[type=search]{flex:1;min-width:0;padding:.45rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--ink);font:inherit}
button{font:inherit;padding:.4rem .8rem;border-radius:6px;border:1px solid var(--line);background:var(--chip);color:var(--ink);cursor:pointer}
button.danger{border-color:var(--bad);color:var(--bad);background:transparent}
button.danger:hover{background:var(--bad);color:#fff}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}
.nowrap{white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;overflow-wrap:anywhere}
.chip{display:inline-block;padding:0 .5rem;border-radius:999px;background:var(--chip);font-size:.8rem;font-weight:600}
.s-active{color:var(--ok)}.s-used{color:var(--warn)}.s-tombstoned,.s-expired{color:var(--bad)}
.actions{display:flex;flex-wrap:wrap;gap:.4rem}
.actions form{margin:0}
.bar{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.75rem;margin-bottom:.75rem}
.bar h2{margin:0}
.note{padding:.6rem .9rem;border-radius:6px;border:1px solid var(--line);background:var(--chip);margin-bottom:1rem}
.note.bad{border-color:var(--bad)}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.1rem;border-left:2px solid var(--line)}
ul.tree{padding-left:.6rem}
ul.tree li{margin:.3rem 0;padding-left:.2rem}
.lineage{margin:.5rem 0 1rem}
.lineage summary{cursor:pointer}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums}
@media (max-width:44rem){
main{padding:.75rem}
table.stack thead{display:none}
table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
table.stack td{display:flex;gap:1rem;border:0;padding:.2rem 0}
table.stack td::before{content:attr(data-label);flex:0 0 7.5rem;color:var(--muted);font-size:.85rem}
}
`
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64')
/** No script, no frame, no foreign form target; the one stylesheet is inline and pinned by its hash. */
const CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`

export const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

/** A whole page: the header with the user search (unless `mount` is null) around `body`. */
export function page({ title, mount, body }) {
  const home = mount === null ? null : `${mount}/`
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Session board</title><style>${new Markup(STYLE)}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><a class="brand" href="${home ?? '#main'}">Session board</a>
${
  home === null
    ? ''
    : html`<form method="get" action="${mount}/users" role="search"><label for="find" class="skip">User id</label>
<input id="find" type="search" name="userId" placeholder="Find a user by id" required autocomplete="off" spellcheck="false"><button type="submit">Find</button></form>`
}
</header>
<main id="main">${body}</main></body></html>`
}

/** Sends a page with the security headers. */
export function send(res, status, markup) {
  res.statusCode = status
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.end(markup.text)
}
