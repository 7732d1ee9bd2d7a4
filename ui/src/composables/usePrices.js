// Live prices of the user's open positions, pushed by the server on the 'prices' topic
// ({broker_id: {symbol: price}}, each broker's own exchange price, sent when one changes). Kept at module level: the server sends only
// changes, so a page mounted later must still see the last prices of this connection.
import { readonly, shallowRef } from 'vue'
import { subscribe } from '../live'

const prices = shallowRef({})

subscribe('prices', (data) => {
  if (!data || typeof data !== 'object') return
  const merged = { ...prices.value }
  for (const [broker, symbols] of Object.entries(data)) {
    merged[broker] = { ...(merged[broker] || {}), ...symbols }
  }
  prices.value = merged
})

/** A readonly ref of {broker_id: {symbol: price string}}. */
export function usePrices() {
  return readonly(prices)
}
