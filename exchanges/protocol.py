"""The unified interface every exchange connector implements.

Symbols are unified (`BTC/USDT`), amounts are Decimal, times are aware UTC datetimes.
Every method raises only `exchanges.errors.ExchangeError` subclasses."""

from datetime import datetime
from typing import Protocol

from exchanges.types import (
    Balance,
    Candle,
    Capabilities,
    ExchangeOrder,
    Market,
    OcoRequest,
    OrderRequest,
    Ticker,
    Trade,
)


class ExchangeConnector(Protocol):
    capabilities: Capabilities

    async def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        """Every tradable spot market, keyed by unified symbol; cached a few minutes per
        endpoint unless `reload`."""
        ...

    async def fetch_balances(self) -> dict[str, Balance]:
        """Non-zero balances, keyed by unified asset name (BTC, not XXBT)."""
        ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        """One request where the exchange allows it; unknown symbols are left out."""
        ...

    async def fetch_candles(
        self, symbol: str, interval: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        """Oldest first. `interval` is one of 1m 5m 15m 1h 4h 1d. The last candle may be
        unclosed (`closed=False`)."""
        ...

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        """Raises DuplicateOrder when the client order id is already used."""
        ...

    async def create_oco(self, request: OcoRequest) -> list[ExchangeOrder]:
        """Raises NotSupported unless capabilities.oco."""
        ...

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder: ...

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        """Raises OrderNotFound when the exchange has no such order."""
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]: ...

    async def fetch_closed_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        """Filled, canceled or rejected orders, oldest first."""
        ...

    async def fetch_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[Trade]:
        """The account's fills, oldest first."""
        ...

    async def test_connection(self) -> str:
        """Checks the credentials with a signed read; returns a one-line summary."""
        ...
