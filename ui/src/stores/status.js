// The status bar's view of GET /healthz, polled every 10 s while the app shell is shown.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { liveGeneration } from '../live'

const POLL_MS = 10000

export const useStatusStore = defineStore('status', () => {
  const health = ref(null)
  const apiOk = ref(null) // null until the first answer
  const error = ref(null)
  const checkedAt = ref(null)
  let timer = null
  let users = 0

  async function refresh() {
    try {
      const response = await fetch('/healthz', {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
        cache: 'no-store',
      })
      const body = await response.json().catch(() => null)
      health.value = body
      apiOk.value = response.ok && body?.status === 'ok'
      error.value = response.ok ? null : body?.database?.error || `HTTP ${response.status}`
    } catch (err) {
      health.value = null // what Temporal and the market were doing is unknown now
      apiOk.value = false
      error.value = `cannot reach the server (${err.message || err})`
    }
    checkedAt.value = new Date()
  }

  /** Starts polling (reference-counted so nested shells don't double it). */
  function start() {
    users += 1
    if (users === 1) {
      refresh()
      timer = setInterval(refresh, POLL_MS)
    }
  }

  function stop() {
    users = Math.max(0, users - 1)
    if (users === 0) {
      clearInterval(timer)
      timer = null
    }
  }

  // The live feed coming back usually means the server did: don't wait for the next poll.
  watch(liveGeneration, () => {
    if (users > 0) refresh()
  })

  const temporal = computed(() => health.value?.temporal ?? null)
  const market = computed(() => health.value?.market ?? null)
  const database = computed(() => health.value?.database ?? null)

  return { health, apiOk, error, checkedAt, temporal, market, database, refresh, start, stop }
})
