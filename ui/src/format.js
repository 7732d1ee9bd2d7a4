// Display helpers. Decimals arrive as strings and are only ever handled as strings here:
// no parseFloat on money, so nothing is rounded away by binary floating point.

const DASH = '—'

/** '1E+2' → '100', '-1.5e-3' → '-0.0015'; plain decimals pass through. */
export function toPlain(value) {
  const text = String(value).trim()
  const m = /^([+-]?)(\d*)(?:\.(\d*))?[eE]([+-]?\d+)$/.exec(text)
  if (!m) return text
  const [, sign, int, frac = ''] = m
  const exp = parseInt(m[4], 10)
  const digits = int + frac
  const point = int.length + exp
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length)
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}

/** Splits a decimal string into {neg, int, frac} with no leading/trailing zeros to spare. */
function parts(value) {
  let text = toPlain(value)
  let neg = false
  if (text.startsWith('-') || text.startsWith('+')) {
    neg = text.startsWith('-')
    text = text.slice(1)
  }
  if (!/^\d*\.?\d*$/.test(text) || text === '' || text === '.') return null
  let [int, frac = ''] = text.split('.')
  int = int.replace(/^0+(?=\d)/, '') || '0'
  frac = frac.replace(/0+$/, '')
  if (int === '0' && frac === '') neg = false
  return { neg, int, frac }
}

/** Half-up rounding of the fractional part to `dp` digits, on the digit string. */
function roundParts(p, dp) {
  if (p.frac.length <= dp) return p
  const up = p.frac[dp] >= '5'
  let digits = (p.int + p.frac.slice(0, dp)).split('')
  if (up) {
    let i = digits.length - 1
    while (i >= 0 && digits[i] === '9') digits[i--] = '0'
    if (i < 0) digits.unshift('1')
    else digits[i] = String(Number(digits[i]) + 1)
  }
  digits = digits.join('')
  const int = digits.slice(0, digits.length - dp).replace(/^0+(?=\d)/, '') || '0'
  const frac = digits.slice(digits.length - dp).replace(/0+$/, '')
  const neg = p.neg && !(int === '0' && frac === '')
  return { neg, int, frac }
}

function group(int) {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/**
 * '10000.00000000' → '10,000'; '0.05289000' → '0.05289'.
 * opts.dp rounds (half-up) to at most that many decimals; opts.sign adds '+' to positives.
 */
export function fmtDec(value, opts = {}) {
  if (value === null || value === undefined || value === '') return DASH
  let p = parts(value)
  if (!p) return String(value)
  if (opts.dp !== undefined) p = roundParts(p, opts.dp)
  const body = group(p.int) + (p.frac ? `.${p.frac}` : '')
  if (p.neg) return `-${body}`
  const zero = p.int === '0' && p.frac === ''
  return opts.sign && !zero ? `+${body}` : body
}

/** The exact value, for tooltips: plain notation, trailing zeros trimmed, no grouping. */
export function fullDec(value) {
  if (value === null || value === undefined || value === '') return ''
  const p = parts(value)
  if (!p) return String(value)
  return (p.neg ? '-' : '') + p.int + (p.frac ? `.${p.frac}` : '')
}

/** -1, 0 or 1, read off the string. */
export function signOf(value) {
  if (value === null || value === undefined || value === '') return 0
  const p = parts(value)
  if (!p || (p.int === '0' && p.frac === '')) return 0
  return p.neg ? -1 : 1
}

/** Parses the API's ISO time; a value without a zone is UTC (the server stores UTC). */
export function parseTime(iso) {
  if (!iso) return null
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`
  const date = new Date(text)
  return Number.isNaN(date.getTime()) ? null : date
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})

/** Local time; today's times without the date. */
export function fmtTime(iso, { full = false } = {}) {
  const date = parseTime(iso)
  if (!date) return iso ? String(iso) : DASH
  const today = new Date()
  const sameDay =
    date.getFullYear() === today.getFullYear() &&
    date.getMonth() === today.getMonth() &&
    date.getDate() === today.getDate()
  return !full && sameDay ? timeFormat.format(date) : dateTimeFormat.format(date)
}

/** 'partially_filled' → 'partially filled'. */
export function humanize(value) {
  return value ? String(value).replace(/_/g, ' ') : DASH
}
