"""The unified interface every exchange connector implements."""

from typing import Protocol

from exchanges.types import Balance, Capabilities, ExchangeOrder, Market, OrderRequest, Ticker


class ExchangeConnector(Protocol):
    capabilities: Capabilities

    async def load_markets(self) -> dict[str, Market]: ...

    async def fetch_balances(self) -> dict[str, Balance]: ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def create_order(self, request: OrderRequest) -> ExchangeOrder: ...

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

    async def test_connection(self) -> None: ...
