"""Binance public market data over REST (no key needed): last prices and 1m klines."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from exchanges.errors import ExchangeUnavailable, NetworkError, UnknownSymbol
from exchanges.symbols import exchange_symbol
from exchanges.types import Candle

# 30 pages of 1000 one-minute klines: about three weeks of history.
MAX_KLINE_PAGES = 30


class BinancePublic:
    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self._base = base_url.rstrip("/")
        self._client = client

    async def _get(self, path: str, params: dict[str, str | int]) -> object:
        try:
            response = await self._client.get(self._base + path, params=params)
        except httpx.HTTPError as exc:
            raise NetworkError(f"Binance market data unreachable: {exc!r}") from exc
        if response.status_code == 400:
            body = response.json()
            if body.get("code") == -1121:
                raise UnknownSymbol(f"Binance does not know symbol {params.get('symbol')}")
        if response.status_code >= 400:
            raise ExchangeUnavailable(
                f"Binance market data answered HTTP {response.status_code}: {response.text[:200]}"
            )
        return response.json()

    async def ping(self) -> None:
        await self._get("/api/v3/ping", {})

    async def price(self, symbol: str) -> Decimal:
        body = await self._get("/api/v3/ticker/price", {"symbol": exchange_symbol(symbol)})
        assert isinstance(body, dict)
        return Decimal(body["price"])

    async def prices(self, symbols: list[str]) -> dict[str, Decimal]:
        wanted = {exchange_symbol(s): s for s in symbols}
        body = await self._get(
            "/api/v3/ticker/price", {"symbols": json.dumps(sorted(wanted), separators=(",", ":"))}
        )
        assert isinstance(body, list)
        return {wanted[row["symbol"]]: Decimal(row["price"]) for row in body}

    async def candles(
        self, symbol: str, interval: str, since: datetime | None, limit: int
    ) -> list[Candle]:
        params: dict[str, str | int] = {
            "symbol": exchange_symbol(symbol),
            "interval": interval,
            "limit": min(limit, 1000),
        }
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        rows = await self._get("/api/v3/klines", params)
        assert isinstance(rows, list)
        now_ms = time.time() * 1000
        return [kline_candle(row, now_ms) for row in rows]

    async def range_since(self, symbol: str, since: datetime) -> tuple[Decimal, Decimal]:
        """Low and high of the 1-minute klines since `since` (paged, 1000 per request)."""
        low: Decimal | None = None
        high: Decimal | None = None
        start = int(since.timestamp() * 1000)
        for _ in range(MAX_KLINE_PAGES):
            rows = await self._get(
                "/api/v3/klines",
                {
                    "symbol": exchange_symbol(symbol),
                    "interval": "1m",
                    "startTime": start,
                    "limit": 1000,
                },
            )
            assert isinstance(rows, list)
            for row in rows:
                row_low, row_high = Decimal(row[3]), Decimal(row[2])
                low = row_low if low is None else min(low, row_low)
                high = row_high if high is None else max(high, row_high)
            if len(rows) < 1000:
                break
            start = int(rows[-1][0]) + 60_000
        if low is None or high is None:
            price = await self.price(symbol)
            return price, price
        return low, high


def kline_candle(row: list[object], now_ms: float) -> Candle:
    """One row of /api/v3/klines: [openTime, o, h, l, c, v, closeTime, ...]."""
    return Candle(
        open_time=datetime.fromtimestamp(int(str(row[0])) / 1000, UTC),
        open=Decimal(str(row[1])),
        high=Decimal(str(row[2])),
        low=Decimal(str(row[3])),
        close=Decimal(str(row[4])),
        volume=Decimal(str(row[5])),
        closed=int(str(row[6])) < now_ms,
    )
