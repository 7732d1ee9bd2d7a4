// Unrealized P&L of a position at a live price, computed exactly on decimal strings (BigInt
// digits and a scale): money never goes through binary floating point.
import { toPlain } from './format'

function parse(value) {
  if (value === null || value === undefined || value === '') return null
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(toPlain(value))
  if (!m || (!m[2] && !m[3])) return null
  const frac = m[3] || ''
  const n = BigInt((m[2] || '0') + frac)
  return { n: m[1] === '-' ? -n : n, s: frac.length }
}

function text({ n, s }) {
  const neg = n < 0n
  const digits = (neg ? -n : n).toString().padStart(s + 1, '0')
  const body = s ? `${digits.slice(0, -s)}.${digits.slice(-s)}` : digits
  return neg ? `-${body}` : body
}

const pow10 = (k) => 10n ** BigInt(k)

function sub(a, b) {
  const s = Math.max(a.s, b.s)
  return { n: a.n * pow10(s - a.s) - b.n * pow10(s - b.s), s }
}

/** a / b rounded half away from zero to `s` decimals. */
function div(a, b, s) {
  const q = (a.n * pow10(b.s + s + 1)) / (b.n * pow10(a.s))
  return { n: (q + (q < 0n ? -5n : 5n)) / 10n, s }
}

/** quantity × price − cost basis, as a decimal string (null without a price). */
export function unrealizedAt(position, price) {
  const qty = parse(position.quantity)
  const px = parse(price)
  const cost = parse(position.cost_basis)
  if (!qty || !px || !cost) return null
  return text(sub({ n: qty.n * px.n, s: qty.s + px.s }, cost))
}

/** P&L as a percent of the cost basis, 2 decimals (null when there is no cost). */
export function pnlPercent(pnl, costBasis) {
  const value = parse(pnl)
  const cost = parse(costBasis)
  if (!value || !cost || cost.n <= 0n) return null
  return text(div({ n: value.n * 100n, s: value.s }, cost, 2))
}

/** The row's figures at the live price, else at the last price the row carries (computed
 * here: a pushed row may carry a price kept from before but no P&L for its new quantity). */
export function livePosition(position, livePrice) {
  const price = livePrice ?? position.current_price
  const unrealized =
    position.status === 'open' && price != null ? unrealizedAt(position, price) : position.unrealized_pnl
  return { price, unrealized, percent: pnlPercent(unrealized, position.cost_basis) }
}
