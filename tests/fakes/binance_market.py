"""A fake of Binance's public market-data REST API (spot v3): ping, time, ticker/price
(single and batched), klines. Same paths, response shapes and error codes as the real
API; prices are set by the test and every change is kept so klines report true highs/lows.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}

DEFAULT_PRICES = {
    "BTCUSDT": "50000.00",
    "ETHUSDT": "2500.00",
    "SOLUSDT": "150.00",
    "BNBUSDT": "600.00",
    "XRPUSDT": "0.5000",
    "DOGEUSDT": "0.10000",
    "BTCUSDC": "50000.00",
}


@dataclass
class MarketState:
    prices: dict[str, Decimal] = field(
        default_factory=lambda: {s: Decimal(p) for s, p in DEFAULT_PRICES.items()}
    )
    # (time ms, symbol, price): the tape klines are built from.
    tape: list[tuple[int, str, Decimal]] = field(default_factory=list)
    ticker_delay: float = 0.0
    ticker_requests: int = 0
    ticker_requested: asyncio.Event = field(default_factory=asyncio.Event)
    # Kline rows set by the test per (symbol, interval), as /api/v3/klines answers them
    # (tests/fakes/binance_stream.kline_row): served instead of the tape's 1m klines.
    klines: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)
    # The next this-many /api/v3/klines requests answer 503, as Binance does when overloaded.
    kline_failures: int = 0
    kline_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tape = [(0, symbol, price) for symbol, price in self.prices.items()]

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        value = Decimal(price)
        self.prices[symbol] = value
        self.tape.append((int(time.time() * 1000), symbol, value))


def create_app(state: MarketState) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v3/ping")
    async def ping() -> dict[str, str]:
        return {}

    @app.get("/api/v3/time")
    async def server_time() -> dict[str, int]:
        return {"serverTime": int(time.time() * 1000)}

    @app.get("/api/v3/ticker/price")
    async def ticker_price(symbol: str | None = None, symbols: str | None = None):
        state.ticker_requests += 1
        state.ticker_requested.set()
        if state.ticker_delay:
            await asyncio.sleep(state.ticker_delay)
        if symbol is not None:
            if symbol not in state.prices:
                return JSONResponse(INVALID_SYMBOL, status_code=400)
            return {"symbol": symbol, "price": str(state.prices[symbol])}
        names = json.loads(symbols) if symbols else sorted(state.prices)
        if any(n not in state.prices for n in names):
            return JSONResponse(INVALID_SYMBOL, status_code=400)
        return [{"symbol": n, "price": str(state.prices[n])} for n in names]

    @app.get("/api/v3/klines")
    async def klines(
        symbol: str,
        interval: str,
        startTime: int | None = None,
        endTime: int | None = None,
        limit: int = Query(default=500, le=1000),
    ):
        state.kline_requests.append(
            {"symbol": symbol, "interval": interval, "startTime": startTime, "limit": limit}
        )
        if state.kline_failures > 0:
            state.kline_failures -= 1
            return JSONResponse(
                {"code": -1001, "msg": "Internal error; unable to process your request."},
                status_code=503,
            )
        explicit = state.klines.get((symbol, interval))
        if explicit is not None:
            return _window(explicit, startTime, endTime, limit)
        if symbol not in state.prices:
            return JSONResponse(INVALID_SYMBOL, status_code=400)
        if interval != "1m":
            return JSONResponse({"code": -1120, "msg": "Invalid interval."}, status_code=400)
        now = int(time.time() * 1000)
        start = (startTime if startTime is not None else now - limit * 60_000) // 60_000 * 60_000
        rows = []
        last = _price_before(state, symbol, start)
        for open_ms in range(start, now + 1, 60_000):
            ticks = [p for t, s, p in state.tape if s == symbol and open_ms <= t < open_ms + 60_000]
            values = [last, *ticks]
            o, c = values[0], values[-1]
            h, lo = max(values), min(values)
            last = c
            rows.append(
                [
                    open_ms,
                    str(o),
                    str(h),
                    str(lo),
                    str(c),
                    "1.0",
                    open_ms + 59_999,
                    "0",
                    len(ticks),
                    "0",
                    "0",
                    "0",
                ]
            )
        return rows[:limit]

    return app


def _window(
    rows: list[list[Any]], start: int | None, end: int | None, limit: int
) -> list[list[Any]]:
    """Binance's rule: from `startTime` the first `limit` rows, else the last `limit`."""
    chosen = [
        r
        for r in sorted(rows, key=lambda r: int(r[0]))
        if (start is None or r[0] >= start) and (end is None or r[0] <= end)
    ]
    return chosen[:limit] if start is not None else chosen[-limit:]


def _price_before(state: MarketState, symbol: str, ms: int) -> Decimal:
    earlier = [p for t, s, p in state.tape if s == symbol and t < ms]
    return earlier[-1] if earlier else state.prices[symbol]
