import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { api, onUnauthorized } from './api'
import { onLiveAuthLost, onLiveNeverOpened } from './live'
import { useAuthStore } from './stores/auth'
import { useBrokersStore } from './stores/brokers'
import './styles/tokens.css'
import './styles/base.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
app.use(router)

// Any 401 (expired or revoked session): forget the user, go to /login and come back after.
function sessionLost() {
  const auth = useAuthStore()
  if (!auth.user) return
  auth.lost()
  useBrokersStore().reset()
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    router.replace({ name: 'login', query: { redirect: current.fullPath } })
  }
}
onUnauthorized(sessionLost)
onLiveAuthLost(sessionLost)
// A refused WebSocket handshake does not show its close code: ask the API who we are.
onLiveNeverOpened(() => {
  api.get('/api/auth/me').catch(() => {})
})

app.mount('#app')
