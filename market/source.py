"""The price source every process uses, per ARISTOBOT_MARKET:

- `binance`: Binance public REST; errors propagate (activities retry them).
- `simulated`: the deterministic offline walk.
- `auto`: Binance while it answers; when it does not, the simulated walk with a visible
  warning, trying Binance again every minute."""

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from loguru import logger

from config.settings import MarketMode, Settings
from exchanges.errors import ExchangeError, NetworkError, UnknownSymbol
from exchanges.types import Candle
from market.binance_public import BinancePublic
from market.simulated import simulated_candles, simulated_price, simulated_range

RETRY_BINANCE_AFTER = 60.0
# Binance's kline intervals (market/candle_store.TIMEFRAMES) in seconds.
INTERVAL_SECONDS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}


class PriceSource:
    def __init__(
        self, configured: MarketMode, binance_rest_url: str, cache_seconds: float = 1.0
    ) -> None:
        self.configured = configured
        self._cache_seconds = cache_seconds
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=3.0))
        self._binance = BinancePublic(binance_rest_url, self._client)
        self._use_binance = configured != "simulated"
        self._next_probe = 0.0
        self._warning: str | None = None
        self._last_ok: datetime | None = None
        self._cache: dict[str, tuple[float, Decimal]] = {}
        self._lock = asyncio.Lock()

    @property
    def mode(self) -> str:
        return "binance" if self._use_binance else "simulated"

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "configured": self.configured,
            "warning": self._warning,
            "last_ok": self._last_ok.isoformat() if self._last_ok else None,
        }

    async def probe(self) -> None:
        """`auto`: find out at start-up whether Binance answers, so the reported mode is
        true before the first price is needed."""
        if self.configured != "auto":
            return
        try:
            await self._binance.ping()
            self._last_ok = datetime.now(UTC)
        except ExchangeError as error:
            self._fall_back(error)

    async def close(self) -> None:
        await self._client.aclose()

    async def _binance_available(self) -> bool:
        if self.configured == "simulated":
            return False
        if self.configured == "binance" or self._use_binance:
            return True
        if time.monotonic() < self._next_probe:
            return False
        async with self._lock:
            if time.monotonic() < self._next_probe:
                return self._use_binance
            try:
                await self._binance.ping()
            except ExchangeError:
                self._next_probe = time.monotonic() + RETRY_BINANCE_AFTER
                return False
            logger.info("market data: Binance reachable again, leaving the simulated market")
            self._use_binance, self._warning = True, None
            return True

    def _fall_back(self, error: ExchangeError) -> None:
        self._use_binance = False
        self._next_probe = time.monotonic() + RETRY_BINANCE_AFTER
        self._warning = f"Binance market data unavailable ({error.message}); prices are simulated"
        logger.warning("market data: {}", self._warning)

    async def price(self, symbol: str) -> Decimal:
        cached = self._cache.get(symbol)
        if cached and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        if await self._binance_available():
            try:
                value = await self._binance.price(symbol)
                self._last_ok = datetime.now(UTC)
            except UnknownSymbol:
                raise
            except (NetworkError, ExchangeError) as error:
                if self.configured == "binance":
                    raise
                self._fall_back(error)
                value = simulated_price(symbol, datetime.now(UTC))
        else:
            value = simulated_price(symbol, datetime.now(UTC))
        self._cache[symbol] = (time.monotonic(), value)
        return value

    async def prices(self, symbols: list[str]) -> dict[str, Decimal]:
        if not symbols:
            return {}
        if await self._binance_available():
            try:
                try:
                    values = await self._binance.prices(symbols)
                except UnknownSymbol:
                    # One unknown symbol fails Binance's whole batch: ask one by one and
                    # leave out those Binance does not list.
                    values = await self._known_prices(symbols)
                self._last_ok = datetime.now(UTC)
                now = time.monotonic()
                self._cache.update({s: (now, p) for s, p in values.items()})
                return values
            except ExchangeError as error:
                if self.configured == "binance":
                    raise
                self._fall_back(error)
        at = datetime.now(UTC)
        return {s: simulated_price(s, at) for s in symbols}

    async def _known_prices(self, symbols: list[str]) -> dict[str, Decimal]:
        values: dict[str, Decimal] = {}
        for symbol in symbols:
            with contextlib.suppress(UnknownSymbol):
                values[symbol] = await self._binance.price(symbol)
        return values

    async def range_since(self, symbol: str, since: datetime) -> tuple[Decimal, Decimal]:
        """Low and high since `since`, to decide whether a resting limit order was crossed."""
        if await self._binance_available():
            try:
                return await self._binance.range_since(symbol, since)
            except ExchangeError as error:
                if self.configured == "binance":
                    raise
                self._fall_back(error)
        return simulated_range(symbol, since, datetime.now(UTC))

    async def candles(
        self, symbol: str, interval: str, since: datetime | None, limit: int
    ) -> list[Candle]:
        if await self._binance_available():
            try:
                return await self._binance.candles(symbol, interval, since, limit)
            except UnknownSymbol:
                raise
            except ExchangeError as error:
                if self.configured == "binance":
                    raise
                self._fall_back(error)
        seconds = INTERVAL_SECONDS[interval]
        return simulated_candles(symbol, seconds, since, limit, datetime.now(UTC))


def create_price_source(settings: Settings) -> PriceSource:
    return PriceSource(settings.market, settings.binance_rest_url, settings.price_cache_seconds)
