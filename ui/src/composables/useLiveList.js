// A server list kept current by the live feed: loads a page, then upserts every pushed
// resource of `topic` by id (newest first). Events that arrive while a load is in flight
// are replayed on top of it; after a reconnection the list is refetched. `merge(before,
// pushed)` may carry fields over from the row a push replaces.
import { onBeforeUnmount, ref, shallowRef, unref, watch } from 'vue'
import { api } from '../api'
import { liveGeneration, subscribe } from '../live'

const PAGE = 100
const MAX_ITEMS = 2000

export function useLiveList({
  path,
  topic,
  params = () => ({}),
  matches = () => true,
  merge = (_before, pushed) => pushed,
}) {
  const items = shallowRef([])
  const total = ref(0)
  const loading = ref(false)
  const loadingMore = ref(false)
  const error = ref(null)
  /** ids that arrived live since the page was loaded (rows flash once). */
  const fresh = ref(new Set())

  let buffer = null // events received during a load
  let token = 0

  function sortDesc(list) {
    return list.sort((a, b) => b.id - a.id)
  }

  function apply(data) {
    if (!data || data.id === undefined) return
    const current = items.value
    const index = current.findIndex((item) => item.id === data.id)
    const keep = matches(data, unref(params()))
    if (index >= 0) {
      const next = current.slice()
      if (keep) next.splice(index, 1, merge(current[index], data))
      else {
        next.splice(index, 1)
        total.value = Math.max(0, total.value - 1)
      }
      items.value = next
    } else if (keep) {
      const next = sortDesc([data, ...current]).slice(0, MAX_ITEMS)
      items.value = next
      total.value += 1
      const marks = new Set(fresh.value)
      marks.add(data.id)
      fresh.value = marks
    }
  }

  function onEvent(data) {
    if (buffer) buffer.push(data)
    else apply(data)
  }

  async function reload() {
    const mine = ++token
    buffer = []
    loading.value = true
    try {
      const body = await api.get(path, { ...unref(params()), limit: PAGE, offset: 0 })
      if (mine !== token) return
      items.value = body.items || []
      total.value = body.total ?? items.value.length
      error.value = null
      fresh.value = new Set()
      const pending = buffer
      buffer = null
      for (const data of pending) apply(data)
    } catch (err) {
      if (mine !== token) return
      error.value = err.message
      buffer = null
    } finally {
      if (mine === token) loading.value = false
    }
  }

  async function loadMore() {
    if (loadingMore.value || items.value.length >= total.value) return
    loadingMore.value = true
    try {
      const body = await api.get(path, {
        ...unref(params()),
        limit: PAGE,
        offset: items.value.length,
      })
      const seen = new Set(items.value.map((item) => item.id))
      const extra = (body.items || []).filter((item) => !seen.has(item.id))
      items.value = sortDesc([...items.value, ...extra])
      total.value = body.total ?? total.value
    } catch (err) {
      error.value = err.message
    } finally {
      loadingMore.value = false
    }
  }

  const unsubscribe = subscribe(topic, onEvent)
  const stopParams = watch(() => JSON.stringify(unref(params())), reload)
  const stopGeneration = watch(liveGeneration, (now, before) => {
    if (before > 0) reload()
  })
  onBeforeUnmount(() => {
    unsubscribe()
    stopParams()
    stopGeneration()
    token += 1
  })

  reload()

  return { items, total, loading, loadingMore, error, fresh, reload, loadMore }
}
