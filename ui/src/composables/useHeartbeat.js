// The Heartbeat page's data: the market feed's status (GET /api/feed, `feed` pushes) and,
// per timeframe, the last 240 closed candles of one symbol (GET /api/candles). Candles read
// when the page (or symbol) loads are `history`; every candle that arrives afterwards, by
// a `candles` push or by the 15 s fallback poll, is `live`.
import { onBeforeUnmount, reactive, ref, shallowRef, unref, watch } from 'vue'
import { api } from '../api'
import { liveGeneration, subscribe } from '../live'
import { parseTime } from '../format'

export const MAX_CANDLES = 240
const POLL_MS = 15000

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 }

/** '15m' → 900000. */
export function timeframeMs(tf) {
  const m = /^(\d+)([mhd])$/.exec(tf)
  return m ? Number(m[1]) * UNIT_MS[m[2]] : 60_000
}

// exchanges/symbols.py QUOTE_ASSETS, longest first (so FDUSD wins over USD).
const QUOTES = ['FDUSD', 'USDT', 'USDC', 'TUSD', 'BUSD', 'DAI', 'USD', 'EUR', 'GBP', 'TRY', 'BRL', 'BTC', 'ETH', 'BNB']

/** 'btcusdt', 'BINANCE:BTCUSDT', 'btc-usdt' → 'BTC/USDT' (as the server stores it); '' if unreadable. */
export function unifiedSymbol(symbol) {
  let text = String(symbol || '').trim().toUpperCase()
  if (text.includes(':')) text = text.split(':')[1]
  const sep = /[/_-]/.exec(text)
  if (sep) {
    const [base, quote] = [text.slice(0, sep.index), text.slice(sep.index + 1)]
    return /^[A-Z0-9]{1,20}$/.test(base) && /^[A-Z0-9]{1,20}$/.test(quote) ? `${base}/${quote}` : ''
  }
  const quote = QUOTES.find((q) => text.endsWith(q) && text.length > q.length)
  return quote && /^[A-Z0-9]+$/.test(text) ? `${text.slice(0, -quote.length)}/${quote}` : ''
}

/** 'btc/usdt', 'BTCUSDT', 'BINANCE:BTCUSDT' → 'BTCUSDT': how pushes are matched. */
export function compactSymbol(symbol) {
  const text = String(symbol || '').toUpperCase()
  return (text.includes(':') ? text.split(':')[1] : text).replace(/[^A-Z0-9]/g, '')
}

function toCandle(row, kind) {
  const time = parseTime(row.open_time)
  if (!time) return null
  return {
    t: time.getTime(),
    open_time: row.open_time,
    open: row.open,
    high: row.high,
    low: row.low,
    close: row.close,
    volume: row.volume,
    source: row.source,
    kind,
  }
}

/** `rows` merged into `list` (sorted by time, one per open time, at most MAX_CANDLES). */
function merged(list, rows, kind) {
  const seen = new Set(list.map((c) => c.t))
  const added = []
  for (const row of rows) {
    const candle = toCandle(row, kind)
    if (candle && !seen.has(candle.t)) {
      seen.add(candle.t)
      added.push(candle)
    }
  }
  if (!added.length) return list
  return [...list, ...added].sort((a, b) => a.t - b.t).slice(-MAX_CANDLES)
}

export function useHeartbeat(symbolRef, timeframes) {
  const feed = ref(null)
  const feedError = ref('')
  /** {tf: {items, loading, error}} */
  const cards = reactive(Object.fromEntries(timeframes.map((tf) => [tf, { items: [], loading: true, error: '' }])))
  const lastPoll = shallowRef(null)

  let token = 0
  const buffers = new Map() // pushes received while a timeframe's history loads

  async function loadFeed() {
    try {
      feed.value = await api.get('/api/feed')
      feedError.value = ''
    } catch (err) {
      feedError.value = err.status === 404 ? 'The feed status is not available on this server.' : err.message
    }
  }

  async function loadHistory(tf, mine) {
    const card = cards[tf]
    card.loading = true
    buffers.set(tf, [])
    try {
      const body = await api.get('/api/candles', {
        symbol: compactSymbol(unref(symbolRef)),
        timeframe: tf,
        limit: MAX_CANDLES,
      })
      if (mine !== token) return
      let items = merged([], body.items || [], 'history')
      items = merged(items, buffers.get(tf) || [], 'live')
      card.items = items
      card.error = ''
    } catch (err) {
      if (mine === token) card.error = err.message
    } finally {
      if (mine === token) {
        card.loading = false
        buffers.delete(tf)
      }
    }
  }

  function reload() {
    const mine = ++token
    for (const tf of timeframes) {
      cards[tf].items = []
      cards[tf].error = ''
      loadHistory(tf, mine)
    }
  }

  /** Candles stored since the newest one shown, as live ones (a few more than needed). */
  async function pollOne(tf, mine) {
    const card = cards[tf]
    if (card.loading) return
    const last = card.items.length ? card.items[card.items.length - 1].t : null
    const missing = last == null ? MAX_CANDLES : Math.ceil((Date.now() - last) / timeframeMs(tf)) + 2
    try {
      const body = await api.get('/api/candles', {
        symbol: compactSymbol(unref(symbolRef)),
        timeframe: tf,
        limit: Math.max(2, Math.min(MAX_CANDLES, missing)),
      })
      if (mine !== token || card.loading) return
      card.items = merged(card.items, body.items || [], 'live')
      card.error = ''
    } catch (err) {
      if (mine === token) card.error = err.message
    }
  }

  function poll() {
    if (document.hidden) return
    const mine = token
    lastPoll.value = new Date()
    loadFeed()
    for (const tf of timeframes) pollOne(tf, mine)
  }

  function onCandles(data) {
    const rows = Array.isArray(data) ? data : data ? [data] : []
    const wanted = compactSymbol(unref(symbolRef))
    for (const row of rows) {
      if (compactSymbol(row.symbol) !== wanted || !(row.timeframe in cards)) continue
      if (buffers.has(row.timeframe)) buffers.get(row.timeframe).push(row)
      else cards[row.timeframe].items = merged(cards[row.timeframe].items, [row], 'live')
    }
  }

  const offCandles = subscribe('candles', onCandles)
  const offFeed = subscribe('feed', (data) => {
    if (data && typeof data === 'object') {
      feed.value = data
      feedError.value = ''
    }
  })
  const stopSymbol = watch(() => compactSymbol(unref(symbolRef)), reload)
  const stopGeneration = watch(liveGeneration, (now, before) => {
    if (before > 0) poll()
  })
  const timer = setInterval(poll, POLL_MS)
  onBeforeUnmount(() => {
    offCandles()
    offFeed()
    stopSymbol()
    stopGeneration()
    clearInterval(timer)
    token += 1
  })

  loadFeed()
  reload()
  return { feed, feedError, cards, reload, poll }
}
