// Who is logged in. `ensure()` asks the server once (GET /api/auth/me) and caches the answer.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '../api'
import { connect, disconnect } from '../live'

export const useAuthStore = defineStore('auth', () => {
  const user = ref(null)
  const checked = ref(false)
  let pending = null

  const loggedIn = computed(() => user.value !== null)

  function setUser(value) {
    user.value = value
    checked.value = true
    if (value) connect()
    else disconnect()
  }

  async function ensure() {
    if (checked.value) return user.value
    if (!pending) {
      pending = api
        .get('/api/auth/me', undefined, { auth: false })
        .then((me) => setUser(me))
        .catch((err) => {
          if (err.status === 401) setUser(null)
          else throw err
        })
        .finally(() => {
          pending = null
        })
    }
    await pending
    return user.value
  }

  async function login(username, password) {
    const me = await api.post('/api/auth/login', { username, password }, { auth: false })
    setUser(me)
    return me
  }

  async function logout() {
    try {
      await api.post('/api/auth/logout', undefined, { auth: false })
    } finally {
      setUser(null)
    }
  }

  /** The session ended under us (a 401 somewhere): forget the user without a request. */
  function lost() {
    setUser(null)
  }

  return { user, checked, loggedIn, ensure, login, logout, lost }
})
