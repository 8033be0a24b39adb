// Output helpers of the CLI: colour (only on a TTY), times, durations, sizes, tables.

import { stripVTControlCharacters } from 'node:util'

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
}

/**
 * Whether a stream gets colour: a TTY without NO_COLOR, or FORCE_COLOR set (not "0").
 * @param {{ isTTY?: boolean }} stream
 */
export function wantsColor(stream, env = process.env) {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  return Boolean(stream.isTTY) && env.TERM !== 'dumb'
}

/** A palette: `c.red('x')` is coloured when `enabled`, the plain text otherwise. */
export function palette(enabled) {
  const c = {}
  for (const [name, [open, close]] of Object.entries(CODES)) {
    c[name] = enabled ? (text) => `\x1b[${open}m${text}\x1b[${close}m` : (text) => String(text)
  }
  return c
}

/** The visible width of a string (ANSI codes do not count). */
export function width(text) {
  return stripVTControlCharacters(String(text)).length
}

const pad = (text, n) => text + ' '.repeat(Math.max(0, n - width(text)))
const padStart = (text, n) => ' '.repeat(Math.max(0, n - width(text))) + text

/**
 * A plain-text table. `columns`: [{ title, align?: 'right' }]; `rows`: arrays of strings.
 */
export function table(columns, rows, c = palette(false)) {
  const widths = columns.map((col, i) => Math.max(width(col.title), ...rows.map((r) => width(r[i] ?? ''))))
  const line = (cells) =>
    cells
      .map((cell, i) => (columns[i].align === 'right' ? padStart(cell, widths[i]) : i === cells.length - 1 ? cell : pad(cell, widths[i])))
      .join('  ')
      .trimEnd()
  return [c.bold(line(columns.map((col) => col.title))), ...rows.map(line)].join('\n')
}

/** Epoch seconds as `2026-11-29 15:23:33Z`; 0 or missing as `-`. */
export function time(seconds) {
  if (!seconds) return '-'
  return new Date(seconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
}

/** A span of seconds in its largest unit and the next one when not zero: `3d 4h`, `2h`, `12m 5s`, `0s`. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds))
  const units = [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  const i = units.findIndex(([, size]) => s >= size)
  if (i < 0) return '0s'
  const [unit, size] = units[i]
  const parts = [`${Math.floor(s / size)}${unit}`]
  if (i + 1 < units.length) {
    const [next, nextSize] = units[i + 1]
    const rest = Math.floor((s % size) / nextSize)
    if (rest > 0) parts.push(`${rest}${next}`)
  }
  return parts.join(' ')
}

/** `in 3d 4h` or `5m ago`, relative to `now`. */
export function relative(seconds, now) {
  if (!seconds) return '-'
  return seconds >= now ? `in ${duration(seconds - now)}` : `${duration(now - seconds)} ago`
}

/** Bytes as `512 B`, `3.2 KiB`, `1.5 MiB`. */
export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`
}

/** An integer with thousands separators: `12,345`. */
export function count(n) {
  return Math.round(n).toLocaleString('en-US')
}

/** The colour of a session status. */
export function statusColor(status, c) {
  if (status === 'active') return c.green
  if (status === 'used') return c.yellow
  if (status === 'tombstoned') return c.red
  return c.magenta
}
