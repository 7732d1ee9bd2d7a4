"""FastAPI: REST routes, TradingView endpoint, WebSocket push, the built dashboard."""
