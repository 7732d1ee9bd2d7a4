// What each exchange needs and can do, from GET /api/exchanges (the server's own defaults,
// so the forms never carry a second copy of the official URLs).
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '../api'

export const useExchangesStore = defineStore('exchanges', () => {
  const items = ref([])
  let inflight = null

  const byId = computed(() => new Map(items.value.map((e) => [e.id, e])))

  function ensure() {
    if (items.value.length) return Promise.resolve()
    inflight ??= api
      .get('/api/exchanges')
      .then((body) => {
        items.value = body.items || []
      })
      .finally(() => {
        inflight = null
      })
    return inflight
  }

  function defaultUrl(exchange) {
    return byId.value.get(exchange)?.default_base_url ?? ''
  }

  return { items, byId, ensure, defaultUrl }
})
