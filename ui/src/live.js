// The dashboard's one live feed: a WebSocket to /api/ws on this host that reconnects with
// backoff. Views subscribe to a topic ('webhook', 'order', 'position', 'broker', 'symbol_sync',
// 'hello').
import { readonly, ref } from 'vue'

const MIN_DELAY = 500
const MAX_DELAY = 15000

/** 'idle' (not started) | 'connecting' | 'open' | 'reconnecting' */
const state = ref('idle')
/** Bumped on every successful (re)connection: lists refetch what they may have missed. */
const generation = ref(0)
const lastError = ref(null)

const handlers = new Map()
let socket = null
let timer = null
let attempt = 0
let wanted = false
let onAuthLost = null
let onNeverOpened = null

export const liveState = readonly(state)
export const liveGeneration = readonly(generation)
export const liveError = readonly(lastError)

/** Called when the server closes with 4401 (session gone). */
export function onLiveAuthLost(handler) {
  onAuthLost = handler
}

/** Called after repeated failures to even open (a refused handshake hides the 4401). */
export function onLiveNeverOpened(handler) {
  onNeverOpened = handler
}

export function subscribe(topic, handler) {
  if (!handlers.has(topic)) handlers.set(topic, new Set())
  handlers.get(topic).add(handler)
  return () => handlers.get(topic)?.delete(handler)
}

function dispatch(message) {
  for (const key of [message.topic, '*']) {
    for (const handler of handlers.get(key) || []) {
      try {
        handler(message.data, message.topic)
      } catch (err) {
        console.error('live handler failed', err)
      }
    }
  }
}

function url() {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${proto}//${window.location.host}/api/ws`
}

function scheduleReconnect() {
  clearTimeout(timer)
  if (!wanted) return
  state.value = 'reconnecting'
  const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** attempt)
  const delay = base / 2 + Math.random() * (base / 2)
  attempt += 1
  timer = setTimeout(open, delay)
}

function open() {
  clearTimeout(timer)
  timer = null
  if (!wanted) return
  if (state.value !== 'reconnecting') state.value = 'connecting'
  let opened = false
  let ws
  try {
    ws = new WebSocket(url())
  } catch (err) {
    lastError.value = String(err)
    scheduleReconnect()
    return
  }
  socket = ws
  ws.onopen = () => {
    if (socket !== ws) return
    opened = true
    attempt = 0
    lastError.value = null
    state.value = 'open'
    generation.value += 1
  }
  ws.onmessage = (event) => {
    if (socket !== ws) return
    let message
    try {
      message = JSON.parse(event.data)
    } catch {
      return
    }
    if (message && typeof message.topic === 'string') dispatch(message)
  }
  ws.onclose = (event) => {
    if (socket !== ws) return
    socket = null
    if (event.code === 4401) {
      wanted = false
      state.value = 'idle'
      lastError.value = 'not logged in'
      if (onAuthLost) onAuthLost()
      return
    }
    lastError.value = event.reason || `closed (${event.code})`
    if (!opened && attempt >= 1 && onNeverOpened) onNeverOpened()
    scheduleReconnect()
  }
  ws.onerror = () => {
    // onclose follows and decides what to do
  }
}

/** Starts the feed (idempotent). */
export function connect() {
  wanted = true
  if (socket || timer) return
  attempt = 0
  open()
}

/** Stops the feed and forgets the connection (logout). */
export function disconnect() {
  wanted = false
  clearTimeout(timer)
  timer = null
  const ws = socket
  socket = null
  if (ws) ws.close(1000, 'bye')
  state.value = 'idle'
}

/** Reconnects now instead of waiting for the backoff (the status dot's click). */
export function reconnectNow() {
  if (!wanted || state.value === 'open') return
  clearTimeout(timer)
  timer = null
  open()
}
