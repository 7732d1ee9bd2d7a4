// The user's strategies (GET /api/strategies → {items, active, max_active}) kept current:
// read again when the live feed says a strategy changed (`strategy` pushes carry its id) or
// a strategy order moved (its P&L, position and order count), after a reconnection, and
// every 10 s as a fallback.
import { onBeforeUnmount, ref, shallowRef, watch } from 'vue'
import { api } from '../api'
import { liveGeneration, subscribe } from '../live'

const FALLBACK_MS = 10000
const BURST_MS = 250

export function useStrategies() {
  const items = shallowRef([])
  const active = ref(0)
  const maxActive = ref(null)
  const loaded = ref(false)
  const error = ref(null)

  let token = 0
  async function reload() {
    const mine = ++token
    try {
      const body = await api.get('/api/strategies')
      if (mine !== token) return
      items.value = body.items || []
      active.value = body.active ?? items.value.filter((s) => s.status === 'active').length
      maxActive.value = body.max_active ?? null
      loaded.value = true
      error.value = null
    } catch (err) {
      if (mine === token) error.value = err.message
    }
  }

  /** A strategy the page changed itself: shown at once, the counts follow with a reload. */
  function replace(strategy) {
    if (!strategy || strategy.id === undefined) return
    items.value = items.value.map((s) => (s.id === strategy.id ? strategy : s))
    soon()
  }

  let burst = null
  function soon() {
    clearTimeout(burst)
    burst = setTimeout(reload, BURST_MS)
  }

  const offStrategy = subscribe('strategy', soon)
  const offOrder = subscribe('order', (order) => {
    if (!order || order.source === 'strategy') soon()
  })
  const stopGeneration = watch(liveGeneration, (now, before) => {
    if (before > 0) reload()
  })
  const timer = setInterval(() => {
    if (!document.hidden) reload()
  }, FALLBACK_MS)
  onBeforeUnmount(() => {
    offStrategy()
    offOrder()
    stopGeneration()
    clearInterval(timer)
    clearTimeout(burst)
    token += 1
  })

  reload()
  return { items, active, maxActive, loaded, error, reload, replace }
}
