// Choices offered by the broker form, with the words shown for them.
export const EXCHANGES = [
  { value: 'paper', label: 'Paper (simulated)' },
  { value: 'binance', label: 'Binance' },
  { value: 'bitget', label: 'Bitget' },
  { value: 'kraken', label: 'Kraken' },
]

export const TRADING_MODES = [
  { value: 'off', label: 'Off', hint: 'No automatic trading; incoming alerts are rejected.' },
  { value: 'webhooks', label: 'Webhooks', hint: 'TradingView alerts sent to this broker’s URL place orders.' },
  { value: 'strategies', label: 'Strategies', hint: 'Only your activated strategies trade; alerts are rejected.' },
]

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
