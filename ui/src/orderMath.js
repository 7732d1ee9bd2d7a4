// Exact decimal arithmetic on strings for the order form's calculator (quantity ↔ quote
// amount, lot step, percent of a balance). Fixed point on BigInt with 18 decimals, as the
// server's columns: no binary floating point ever touches an amount.
import { toPlain } from './format'

const SCALE = 18n
const ONE = 10n ** SCALE

/** '0.0012' → 1200000000000000n; null when not a plain non-negative decimal. */
function units(value) {
  if (value === null || value === undefined) return null
  const text = toPlain(String(value).trim())
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text)
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return null
  const frac = (m[2] || '').slice(0, Number(SCALE)).padEnd(Number(SCALE), '0')
  return BigInt(m[1] || '0') * ONE + BigInt(frac)
}

function text(value) {
  const int = value / ONE
  const frac = (value % ONE).toString().padStart(Number(SCALE), '0').replace(/0+$/, '')
  return frac ? `${int}.${frac}` : `${int}`
}

/** Whether the text is a decimal greater than 0. */
export function positive(value) {
  const v = units(value)
  return v !== null && v > 0n
}

export function compare(a, b) {
  const x = units(a) ?? 0n
  const y = units(b) ?? 0n
  return x === y ? 0 : x < y ? -1 : 1
}

export function mul(a, b) {
  const x = units(a)
  const y = units(b)
  return x === null || y === null ? '' : text((x * y) / ONE)
}

/** a / b, cut (not rounded) at 18 decimals; '' when b is 0. */
export function div(a, b) {
  const x = units(a)
  const y = units(b)
  return x === null || !y ? '' : text((x * ONE) / y)
}

/** Down to a multiple of `step` (lot size or tick), as the exchange and the server do. */
export function floorTo(value, step) {
  const v = units(value)
  const s = units(step)
  if (v === null) return ''
  return text(s ? (v / s) * s : v)
}

/** Up to a multiple of `step`. */
export function ceilTo(value, step) {
  const v = units(value)
  const s = units(step)
  if (v === null) return ''
  if (!s) return text(v)
  const down = (v / s) * s
  return text(down === v ? v : down + s)
}

/** `percent` % of `value`. */
export function percentOf(value, percent) {
  return div(mul(value, percent), '100')
}

/** At most `dp` decimals, cut: for showing a computed quote amount in an input. */
export function cut(value, dp) {
  return floorTo(value, dp > 0 ? `0.${'0'.repeat(dp - 1)}1` : '1')
}

export function add(a, b) {
  const x = units(a)
  const y = units(b)
  return x === null || y === null ? '' : text(x + y)
}

/** How many decimals a step has: '0.01' → 2, '1' → 0. */
export function decimalsOf(step) {
  const frac = toPlain(String(step ?? '')).split('.')[1] || ''
  return frac.replace(/0+$/, '').length
}
