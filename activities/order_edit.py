"""Canceling a resting order on the exchange and recording how it ended (the dashboard's
cancel and edit). A cancel that comes too late (the order filled, or an earlier attempt
already canceled it) reads the order's final state instead: retries are safe."""

from decimal import Decimal

from pydantic import BaseModel
from temporalio import activity

from activities.errors import as_application_error, business_error
from activities.exchange_orders import OPEN_STATUSES, cancel_or_read
from activities.heartbeat import heartbeating
from activities.orders import apply_fill, copy_exchange_state
from db.events import emit
from db.models import Broker, Order
from db.session import SessionFactory
from exchanges.errors import ExchangeError, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.registry import BrokerNotFound, ConnectorRegistry
from exchanges.types import ExchangeOrder, Market
from trading.catalog import as_market, find_market


class OrderView(BaseModel):
    """What the edit workflows need of an order row (ids and amounts, no secrets)."""

    id: int
    user_id: int
    broker_id: int
    symbol: str
    side: str
    type: str
    status: str
    source: str
    quantity: Decimal | None
    filled_quantity: Decimal
    price: Decimal | None
    average_price: Decimal | None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    position_id: int | None = None

    @classmethod
    def of(cls, order: Order) -> "OrderView":
        return cls(**{name: getattr(order, name) for name in cls.model_fields})


class FinalState(BaseModel):
    order_id: int
    exchange_order: ExchangeOrder


class OrderEditActivities:
    def __init__(self, sessions: SessionFactory, connectors: ConnectorRegistry) -> None:
        self._sessions = sessions
        self._connectors = connectors

    @activity.defn
    async def load_order(self, order_id: int) -> OrderView:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise business_error(f"order {order_id} no longer exists", "OrderGone")
        return OrderView.of(order)

    @activity.defn
    async def cancel_on_exchange(self, order_id: int) -> ExchangeOrder:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise business_error(f"order {order_id} no longer exists", "OrderGone")
        try:
            connector = await self._connectors.for_broker(order.broker_id)
            return await heartbeating(_cancel(connector, order))
        except BrokerNotFound as exc:
            raise business_error(str(exc), "BrokerNotFound") from exc
        except ExchangeError as exc:
            raise as_application_error(exc) from exc

    @activity.defn
    async def record_final_state(self, final: FinalState) -> OrderView:
        """The exchange's answer onto our record and, once the order is done, its fill (a
        partial fill before the cancel) onto the position: exactly once (apply_fill marks
        the order applied, whoever records it first: this, or reconciliation)."""
        async with self._sessions() as session:
            order = await session.get(Order, final.order_id)
            broker = await session.get(Broker, order.broker_id) if order else None
        if order is None or broker is None:
            raise business_error(f"order {final.order_id} no longer exists", "OrderGone")
        market = await self._market(broker, order.symbol)
        async with self._sessions.begin() as session:
            order = await session.get(Order, final.order_id, with_for_update=True)
            assert order is not None
            answer = final.exchange_order
            if order.status in (*OPEN_STATUSES, "pending"):
                copy_exchange_state(order, answer)
            done = order.status not in OPEN_STATUSES
            if done and order.filled_quantity > 0 and order.average_price is not None:
                await apply_fill(session, order, market)
            await emit(session, order.user_id, "order", order.id)
            return OrderView.of(order)

    async def _market(self, broker: Broker, symbol: str) -> Market:
        """The rules the position arithmetic needs: the catalog row even if delisted since
        (a cancel must still record its fill), else the exchange's list."""
        if broker.exchange != "paper":
            async with self._sessions() as session:
                row = await find_market(session, broker.id, symbol)
            if row is not None:
                return as_market(row)
        try:
            markets = await self._connectors.connector(broker).load_markets()
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        market = markets.get(symbol)
        if market is None:
            raise business_error(f"{symbol} is not listed on {broker.exchange}", "UnknownSymbol")
        return market


async def _cancel(connector: ExchangeConnector, order: Order) -> ExchangeOrder:
    answer = await cancel_or_read(connector, order)
    if answer is None:
        raise OrderNotFound(f"order {order.client_order_id} is not on the exchange")
    return answer
