"""Exchange-facing activities: the broker's trading context, balances, prices, placement."""

import asyncio
from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from activities.errors import as_application_error, business_error
from activities.heartbeat import heartbeating
from db.base import utcnow
from db.models import Broker
from db.session import SessionFactory
from exchanges.errors import DuplicateOrder, ExchangeError, ExchangeUnavailable, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.registry import BrokerNotFound, ConnectorRegistry
from exchanges.symbols import split_symbol
from exchanges.types import Balance, Capabilities, ExchangeOrder, Market, OrderRequest
from trading.catalog import as_market, catalog_size, find_market, store_markets


class TradingContextRequest(BaseModel):
    broker_id: int
    symbol: str


class TradingContext(BaseModel):
    broker_id: int
    broker_name: str
    exchange: str
    trading_mode: str
    market: Market
    capabilities: Capabilities


class SnapshotRequest(BaseModel):
    broker_id: int
    symbol: str
    with_price: bool


class MarketSnapshot(BaseModel):
    balances: dict[str, Balance]
    price: Decimal | None


class PlaceOrderRequest(BaseModel):
    broker_id: int
    order: OrderRequest


class TradingActivities:
    def __init__(self, sessions: SessionFactory, connectors: ConnectorRegistry) -> None:
        self._sessions = sessions
        self._connectors = connectors

    @activity.defn
    async def load_trading_context(self, request: TradingContextRequest) -> TradingContext:
        try:
            broker = await self._connectors.load_broker(request.broker_id)
        except BrokerNotFound as exc:
            raise business_error(str(exc), "BrokerNotFound") from exc
        try:
            connector = self._connectors.connector(broker)
            market = await self._market(broker, connector, request.symbol)
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        return TradingContext(
            broker_id=broker.id,
            broker_name=broker.name,
            exchange=broker.exchange,
            trading_mode=broker.trading_mode,
            market=market,
            capabilities=connector.capabilities,
        )

    async def _market(self, broker: Broker, connector: ExchangeConnector, symbol: str) -> Market:
        """From the broker's symbol catalog; the first order of a never-synced broker fills
        the catalog from the exchange. The paper exchange's list is built in."""
        if broker.exchange == "paper":
            market = (await connector.load_markets()).get(symbol)
        else:
            async with self._sessions() as session:
                row = await find_market(session, broker.id, symbol)
                known = await catalog_size(session, broker.id) if row is None else 1
            if row is not None and not row.active:
                # Delisted at the last sync; a halt may have ended since: ask the exchange.
                listed = (await heartbeating(connector.load_markets())).get(symbol)
                if listed is None:
                    raise business_error(
                        f"{symbol} is no longer listed on {broker.exchange} (symbol sync of"
                        f" {row.synced_at:%Y-%m-%d %H:%M} UTC)",
                        "UnknownSymbol",
                    )
                async with self._sessions.begin() as session:
                    await store_markets(session, broker.id, [listed], utcnow())
                return listed
            if row is not None:
                return as_market(row)
            market = None
            if known == 0:
                markets = await heartbeating(connector.load_markets())
                async with self._sessions.begin() as session:
                    await store_markets(session, broker.id, list(markets.values()), utcnow())
                market = markets.get(symbol)
        if market is None:
            raise business_error(
                f"{symbol} is not traded on {broker.exchange} (broker '{broker.name}'): check"
                " the symbol, or sync the broker's symbols if it was listed recently",
                "UnknownSymbol",
            )
        return market

    @activity.defn
    async def fetch_market_snapshot(self, request: SnapshotRequest) -> MarketSnapshot:
        """The symbol's base and quote balances (only those: workflow history is readable in
        the Temporal Web UI) and, for market orders, the last price, fetched concurrently."""
        try:
            connector = await self._connectors.for_broker(request.broker_id)
            price = None
            if request.with_price:
                balances, ticker = await heartbeating(
                    asyncio.gather(
                        connector.fetch_balances(), connector.fetch_ticker(request.symbol)
                    )
                )
                price = ticker.price
            else:
                balances = await heartbeating(connector.fetch_balances())
            wanted = split_symbol(request.symbol)
            return MarketSnapshot(
                balances={a: b for a, b in balances.items() if a in wanted}, price=price
            )
        except ExchangeError as exc:
            raise as_application_error(exc) from exc

    @activity.defn
    async def place_order(self, request: PlaceOrderRequest) -> ExchangeOrder:
        return await heartbeating(self._place_once(request))

    async def _place_once(self, request: PlaceOrderRequest) -> ExchangeOrder:
        try:
            connector = await self._connectors.for_broker(request.broker_id)
            return await place_exactly_once(
                connector, request.order, retry=activity.info().attempt > 1
            )
        except ExchangeError as exc:
            raise as_application_error(exc) from exc


async def place_exactly_once(
    connector: ExchangeConnector, order: OrderRequest, *, retry: bool
) -> ExchangeOrder:
    """Places the order at most once: the client order id is deterministic, and a retry
    (the previous attempt may have landed before a timeout or crash) adopts the order the
    exchange already has instead of placing a second one."""
    if retry:
        try:
            return await connector.fetch_order(order.symbol, client_order_id=order.client_order_id)
        except OrderNotFound:
            activity.logger.info("order %s not on the exchange: placing it", order.client_order_id)
    try:
        return await connector.create_order(order)
    except DuplicateOrder:
        try:
            return await connector.fetch_order(order.symbol, client_order_id=order.client_order_id)
        except OrderNotFound as exc:
            # The exchange has the id but the lookup missed it: never place again blindly,
            # look again on the next attempt.
            raise ExchangeUnavailable(
                f"order {order.client_order_id} exists on the exchange but was not found yet"
            ) from exc
