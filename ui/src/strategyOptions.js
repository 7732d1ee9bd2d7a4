// Shared by the Strategies, strategy editor and Trading bot pages.

// market/candle_store.py Timeframe: what the feed streams and a strategy can run on.
export const TIMEFRAMES = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d']
export const DEFAULT_TIMEFRAME = '1h'

/** 'line 12: message' (or the message alone when the problem has no line). */
export function problemText(problem) {
  return problem.line ? `line ${problem.line}: ${problem.message}` : problem.message
}

/** Where an active (or last activated) strategy trades: 'Paper · BTC/USDT · 1h'. */
export function placeText(strategy, brokerName) {
  if (!strategy.broker_id && !strategy.symbol) return ''
  return [strategy.broker_id ? brokerName(strategy.broker_id) : null, strategy.symbol, strategy.timeframe]
    .filter(Boolean)
    .join(' · ')
}

/** The server's problems, whatever it sent: a list of {line, message}. */
export function problemsOf(value) {
  if (!Array.isArray(value)) return []
  return value
    .filter((p) => p && (p.message || typeof p === 'string'))
    .map((p) => (typeof p === 'string' ? { line: null, message: p } : { line: p.line ?? null, message: String(p.message) }))
}
