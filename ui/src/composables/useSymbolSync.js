// A broker's latest symbol sync (GET/POST /api/brokers/{id}/symbols/sync), kept current by
// the live feed's 'symbol_sync' pushes. While a sync runs and no push came in the last
// second (feed down, or a quiet stretch), GET .../symbols/sync is polled once a second.
import { computed, onBeforeUnmount, ref, shallowRef, watch } from 'vue'
import { api } from '../api'
import { liveGeneration, liveState, subscribe } from '../live'

const POLL_MS = 1000
const FINISHED = new Set(['done', 'error'])

/** Whether `next` may replace `current`: never an older sync, never back to running. */
function isNewer(next, current) {
  if (!current) return true
  if (next.id !== current.id) return next.id > current.id
  if (FINISHED.has(current.status)) return FINISHED.has(next.status)
  return FINISHED.has(next.status) || next.stored >= current.stored
}

export function useSymbolSync(brokerId, { onFinished = () => {} } = {}) {
  const sync = shallowRef(null)
  const loaded = ref(false)
  const starting = ref(false)
  const error = ref('')
  const running = computed(() => sync.value?.status === 'running')

  let lastPush = 0
  let timer = null
  let fetching = false
  let alive = true

  function apply(next) {
    if (!alive || !next || next.broker_id !== brokerId || !isNewer(next, sync.value)) return
    const was = sync.value
    sync.value = next
    const justFinished = FINISHED.has(next.status) && (!was || was.id !== next.id || !FINISHED.has(was.status))
    if (justFinished && was) onFinished(next)
  }

  async function load() {
    if (fetching) return
    fetching = true
    try {
      apply(await api.get(`/api/brokers/${brokerId}/symbols/sync`))
      error.value = ''
    } catch (err) {
      if (err.status !== 404) error.value = `Could not read the sync status: ${err.message}`
    } finally {
      fetching = false
      loaded.value = true
    }
  }

  async function start() {
    if (starting.value || running.value) return
    starting.value = true
    error.value = ''
    try {
      apply(await api.post(`/api/brokers/${brokerId}/symbols/sync`))
    } catch (err) {
      error.value =
        err.status === 503
          ? `The sync cannot start now: ${err.message}`
          : err.message
      if (err.status === 409) load() // one is running already: follow it
    } finally {
      starting.value = false
    }
  }

  function tick() {
    if (liveState.value !== 'open' || Date.now() - lastPush >= POLL_MS) load()
  }

  const stopRunning = watch(
    running,
    (now) => {
      clearInterval(timer)
      timer = now ? setInterval(tick, POLL_MS) : null
    },
    { immediate: true },
  )
  const unsubscribe = subscribe('symbol_sync', (data) => {
    if (data?.broker_id !== brokerId) return
    lastPush = Date.now()
    apply(data)
  })
  const stopGeneration = watch(liveGeneration, (now, before) => {
    if (before > 0) load()
  })
  onBeforeUnmount(() => {
    alive = false
    clearInterval(timer)
    unsubscribe()
    stopRunning()
    stopGeneration()
  })

  load()

  return { sync, loaded, starting, running, error, start, load }
}
