// The user's brokers, shared by every page (names in tables, the webhook help box).
// Refetched on the live 'broker' topic and after every reconnection of the feed.
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { api } from '../api'
import { liveGeneration, subscribe } from '../live'

export const useBrokersStore = defineStore('brokers', () => {
  const items = ref([])
  const loaded = ref(false)
  const loading = ref(false)
  const error = ref(null)
  let inflight = null

  const byId = computed(() => new Map(items.value.map((b) => [b.id, b])))

  async function load() {
    if (inflight) return inflight
    loading.value = true
    inflight = api
      .get('/api/brokers')
      .then((body) => {
        items.value = body.items || []
        loaded.value = true
        error.value = null
      })
      .catch((err) => {
        error.value = err.message
      })
      .finally(() => {
        loading.value = false
        inflight = null
      })
    return inflight
  }

  function ensure() {
    return loaded.value ? Promise.resolve() : load()
  }

  function upsert(broker) {
    const index = items.value.findIndex((b) => b.id === broker.id)
    if (index >= 0) items.value.splice(index, 1, broker)
    else items.value.push(broker)
  }

  function remove(id) {
    items.value = items.value.filter((b) => b.id !== id)
  }

  function nameOf(id) {
    return byId.value.get(id)?.name ?? `#${id}`
  }

  function reset() {
    items.value = []
    loaded.value = false
  }

  subscribe('broker', () => {
    if (loaded.value) load()
  })
  watch(liveGeneration, (now, before) => {
    if (before > 0 && loaded.value) load()
  })

  return { items, loaded, loading, error, byId, load, ensure, upsert, remove, nameOf, reset }
})
