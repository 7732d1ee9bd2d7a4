import { createRouter, createWebHistory } from 'vue-router'
import { useAuthStore } from './stores/auth'
import AppLayout from './components/AppLayout.vue'
import LoginView from './views/LoginView.vue'

const routes = [
  { path: '/login', name: 'login', component: LoginView, meta: { public: true, title: 'Log in' } },
  {
    path: '/',
    component: AppLayout,
    children: [
      { path: '', redirect: '/webhooks' },
      {
        path: 'brokers',
        name: 'brokers',
        component: () => import('./views/BrokersView.vue'),
        meta: { title: 'Brokers' },
      },
      {
        path: 'webhooks',
        name: 'webhooks',
        component: () => import('./views/WebhooksView.vue'),
        meta: { title: 'Webhooks' },
      },
      {
        path: 'orders',
        name: 'orders',
        component: () => import('./views/OrdersView.vue'),
        meta: { title: 'Orders' },
      },
      {
        path: 'positions',
        name: 'positions',
        component: () => import('./views/PositionsView.vue'),
        meta: { title: 'Positions' },
      },
      {
        path: ':pathMatch(.*)*',
        name: 'not-found',
        component: () => import('./views/NotFoundView.vue'),
        meta: { title: 'Not found' },
      },
    ],
  },
]

export const router = createRouter({
  history: createWebHistory(),
  routes,
})

/** Only same-app paths are followed after login (no open redirects). */
export function safeRedirect(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//')
    ? value
    : '/webhooks'
}

router.beforeEach(async (to) => {
  const auth = useAuthStore()
  let user = null
  try {
    user = await auth.ensure()
  } catch {
    // server unreachable: the login page will say so when used
    user = auth.user
  }
  if (to.meta.public) {
    if (to.name === 'login' && user) return safeRedirect(to.query.redirect)
    return true
  }
  if (!user) return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · Aristobot` : 'Aristobot'
})

export default router
