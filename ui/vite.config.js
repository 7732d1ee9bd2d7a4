import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The FastAPI backend (`aristobot dev`) listens on :8000; the dev server proxies to it so
// the session cookie stays same-origin. Override with ARISTOBOT_API=http://host:port.
const target = process.env.ARISTOBOT_API || 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [vue()],
  server: {
    port: 5173,
    proxy: {
      '/api': { target, ws: true },
      // Only the TradingView intake (/webhooks/tradingview/<token>): /webhooks itself is a
      // dashboard page and must stay with the dev server.
      '^/webhooks/': { target },
      '/healthz': { target },
      '/docs': { target },
      '/openapi.json': { target },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
})
