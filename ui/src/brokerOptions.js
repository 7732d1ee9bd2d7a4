// Choices offered by the broker form, with the words shown for them, and the form's checks
// (the same limits the server enforces, so most mistakes are caught before sending).
export const EXCHANGES = [
  { value: 'paper', label: 'Paper (simulated)' },
  { value: 'binance', label: 'Binance' },
  { value: 'bitget', label: 'Bitget' },
  { value: 'kraken', label: 'Kraken' },
]

/** What the form says about each native exchange's endpoint (its default comes from
 * the server: stores/exchanges.js). */
export const ENDPOINTS = {
  binance: {
    hint: 'Spot testnet: https://testnet.binance.vision (keys made on testnet.binance.vision).',
    placeholder: 'https://testnet.binance.vision',
  },
  bitget: {
    hint: 'Leave empty for Bitget; set it only for a compatible endpoint or a proxy.',
    placeholder: 'https://api.bitget.com',
  },
  kraken: {
    hint: 'Leave empty for Kraken; set it only for a compatible endpoint or a proxy.',
    placeholder: 'https://api.kraken.com',
  },
}

export const TRADING_MODES = [
  { value: 'off', label: 'Off', hint: 'No automatic trading; incoming alerts are rejected.' },
  { value: 'webhooks', label: 'Webhooks', hint: 'TradingView alerts sent to this broker’s URL place orders.' },
  { value: 'strategies', label: 'Strategies', hint: 'Only your activated strategies trade; alerts are rejected.' },
]

// api/brokers_service.py: BrokerCreate / BrokerUpdate / Credentials.
export const LIMITS = {
  name: 100,
  baseUrl: 255,
  apiKey: 512,
  apiSecret: 512,
  passphrase: 256,
  rate: '0.1', // fee_rate and slippage: 0 ≤ x ≤ 0.1
}

export function exchangeLabel(value) {
  return EXCHANGES.find((e) => e.value === value)?.label.replace(' (simulated)', '') ?? value
}

export function modeLabel(value) {
  return TRADING_MODES.find((m) => m.value === value)?.label ?? value
}

/** A non-negative decimal typed by the user, kept as a string. */
export function isDecimal(text) {
  return /^\d+(\.\d+)?$/.test(String(text).trim())
}

/** isDecimal and at most 0.1 (compared on the digits: no floating point). */
export function isRate(text) {
  const value = String(text).trim()
  if (!isDecimal(value)) return false
  const [int, frac = ''] = value.split('.')
  if (/^0*$/.test(int)) return frac.slice(0, 1) < '1' || /^10*$/.test(frac)
  return false
}

/** An http(s) URL with a host. */
export function isHttpUrl(text) {
  try {
    const url = new URL(String(text).trim())
    return (url.protocol === 'http:' || url.protocol === 'https:') && !!url.hostname
  } catch {
    return false
  }
}

// The server's field names and phrases, in the form's words.
const FIELD_WORDS = [
  [/\bcredentials\.api_key\b/g, 'the API key'],
  [/\bcredentials\.api_secret\b/g, 'the API secret'],
  [/\bcredentials\.passphrase\b/g, 'the API passphrase'],
  [/\bapi_secret\b/g, 'the API secret'],
  [/\bbase_url\b/g, 'Base URL'],
  [/\bfee_rate\b/g, 'Fee rate'],
  [/\btrading_mode\b/g, 'Trading mode'],
  [/^credentials: /g, ''],
  [/^name: /g, 'Name: '],
  [/^slippage: /g, 'Slippage: '],
  [/^balances\.(\w+): /g, 'Balance of $1: '],
  [/^balances: /g, ''],
]

/** A server refusal (422/409/...) of the broker form as one readable sentence. */
export function brokerFormError(err) {
  const parts = String(err?.message || err || 'the server refused the broker').split('; ')
  const readable = parts.map((part) => {
    let text = part
    for (const [pattern, words] of FIELD_WORDS) text = text.replace(pattern, words)
    for (const e of EXCHANGES) text = text.replace(new RegExp(`^${e.value}\\b`), exchangeLabel(e.value))
    // "Fee rate: Input should be …" → "Fee rate: input should be …"
    text = text.replace(/: ([A-Z])(?=[a-z])/, (_, c) => `: ${c.toLowerCase()}`)
    return text.charAt(0).toUpperCase() + text.slice(1)
  })
  const sentence = readable.join('; ')
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`
}
