import { createRouter, createWebHistory } from 'vue-router'
import { useAuthStore } from './stores/auth'
import AppLayout from './components/AppLayout.vue'
import LoginView from './views/LoginView.vue'
import BrokersView from './views/BrokersView.vue'
import WebhooksView from './views/WebhooksView.vue'
import OrdersView from './views/OrdersView.vue'
import PositionsView from './views/PositionsView.vue'
import TradingView from './views/TradingView.vue'
import StrategiesView from './views/StrategiesView.vue'
import BotView from './views/BotView.vue'
import HeartbeatView from './views/HeartbeatView.vue'

// The strategy editor carries CodeMirror: loaded when first opened, not with the app.
const StrategyEditorView = () => import('./views/StrategyEditorView.vue')
import NotFoundView from './views/NotFoundView.vue'

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
        component: BrokersView,
        meta: { title: 'Brokers' },
      },
      {
        path: 'webhooks',
        name: 'webhooks',
        component: WebhooksView,
        meta: { title: 'Webhooks' },
      },
      {
        path: 'orders',
        name: 'orders',
        component: OrdersView,
        meta: { title: 'Orders' },
      },
      {
        path: 'trading',
        name: 'trading',
        component: TradingView,
        meta: { title: 'Trading' },
      },
      {
        path: 'positions',
        name: 'positions',
        component: PositionsView,
        meta: { title: 'Positions' },
      },
      {
        // Nested, so the side navigation's "Strategies" stays highlighted in the editor.
        path: 'strategies',
        children: [
          {
            path: '',
            name: 'strategies',
            component: StrategiesView,
            meta: { title: 'Strategies' },
          },
          {
            path: 'new',
            name: 'strategy-new',
            component: StrategyEditorView,
            meta: { title: 'New strategy' },
          },
          {
            path: ':id(\\d+)',
            name: 'strategy',
            component: StrategyEditorView,
            meta: { title: 'Strategy' },
          },
        ],
      },
      {
        path: 'bot',
        name: 'bot',
        component: BotView,
        meta: { title: 'Trading bot' },
      },
      {
        path: 'heartbeat',
        name: 'heartbeat',
        component: HeartbeatView,
        meta: { title: 'Heartbeat' },
      },
      {
        path: ':pathMatch(.*)*',
        name: 'not-found',
        component: NotFoundView,
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
