"""Reconciliation: the exchange's view of a broker's orders brought back into ours.

Orders we left open (a resting limit, an order whose fill could not be read back) are
looked up again; fills and cancellations are recorded and fills applied to the position.
Orders open on the exchange that we never placed (made on the exchange's own site, or by
another tool) are imported with source `reconcile`, so the dashboard shows them."""

from sqlalchemy import select
from temporalio import activity

from activities.errors import as_application_error
from activities.heartbeat import heartbeating
from activities.orders import apply_fill, copy_exchange_state
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order
from db.session import SessionFactory
from db.upsert import insert_ignore
from exchanges.errors import ExchangeError, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.registry import BrokerNotFound, ConnectorRegistry
from exchanges.types import ExchangeOrder
from workflows.inputs import ReconcileInput, ReconcileResult

OPEN_STATUSES = ("open", "partially_filled")


class ReconcileActivities:
    def __init__(self, sessions: SessionFactory, connectors: ConnectorRegistry) -> None:
        self._sessions = sessions
        self._connectors = connectors

    @activity.defn
    async def reconcile_broker(self, request: ReconcileInput) -> ReconcileResult:
        try:
            broker = await self._connectors.load_broker(request.broker_id)
        except BrokerNotFound:
            return ReconcileResult()  # deleted meanwhile; its schedule goes with it
        try:
            connector = self._connectors.connector(broker)
            updated = await heartbeating(self._refresh_open_orders(broker, connector))
            imported = await heartbeating(self._import_foreign_orders(broker, connector))
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        return ReconcileResult(updated=updated, imported=imported)

    async def _refresh_open_orders(self, broker: Broker, connector: ExchangeConnector) -> int:
        async with self._sessions() as session:
            tracked = list(
                await session.scalars(
                    select(Order).where(
                        Order.broker_id == broker.id,
                        Order.status.in_(OPEN_STATUSES),
                        Order.exchange_order_id.is_not(None),
                    )
                )
            )
        updated = 0
        for order in tracked:
            assert order.exchange_order_id is not None
            try:
                answer = await connector.fetch_order(
                    order.symbol, exchange_order_id=order.exchange_order_id
                )
            except OrderNotFound:
                continue  # not visible yet (or purged by the exchange): looked at again later
            if (answer.status, answer.filled_quantity) == (order.status, order.filled_quantity):
                continue
            await self._record(order.id, answer, connector)
            updated += 1
        return updated

    async def _record(
        self, order_id: int, answer: ExchangeOrder, connector: ExchangeConnector
    ) -> None:
        markets = await connector.load_markets()
        async with self._sessions.begin() as session:
            order = await session.get(Order, order_id, with_for_update=True)
            if order is None or order.status not in OPEN_STATUSES:
                return  # its workflow recorded it meanwhile
            copy_exchange_state(order, answer)
            market = markets.get(order.symbol)
            # Partial fills are applied once the order is done (filled, or canceled after a
            # partial fill), so the position sees each order's fill exactly once.
            done = order.status not in OPEN_STATUSES
            if done and order.filled_quantity > 0 and market is not None:
                await apply_fill(session, order, market)
            await emit(session, order.user_id, "order", order.id)

    async def _import_foreign_orders(self, broker: Broker, connector: ExchangeConnector) -> int:
        open_orders = await connector.fetch_open_orders()
        if not open_orders:
            return 0
        async with self._sessions() as session:
            known = set(
                await session.scalars(
                    select(Order.exchange_order_id).where(
                        Order.broker_id == broker.id,
                        Order.exchange_order_id.in_([o.exchange_order_id for o in open_orders]),
                    )
                )
            )
        imported = 0
        for foreign in (o for o in open_orders if o.exchange_order_id not in known):
            async with self._sessions.begin() as session:
                if await insert_ignore(
                    session,
                    Order,
                    _imported_row(broker, foreign),
                    ["broker_id", "client_order_id"],
                ):
                    order_id = await session.scalar(
                        select(Order.id).where(
                            Order.broker_id == broker.id,
                            Order.exchange_order_id == foreign.exchange_order_id,
                        )
                    )
                    assert order_id is not None
                    await emit(session, broker.user_id, "order", order_id)
                    imported += 1
        return imported


def _imported_row(broker: Broker, foreign: ExchangeOrder) -> dict[str, object]:
    now = utcnow()
    return {
        "user_id": broker.user_id,
        "broker_id": broker.id,
        "symbol": foreign.symbol,
        "side": foreign.side,
        "type": foreign.type,
        "status": foreign.status,
        "quantity": foreign.quantity,
        "filled_quantity": foreign.filled_quantity,
        "price": foreign.price,
        "average_price": foreign.average_price,
        "fee": foreign.fee,
        "fee_asset": foreign.fee_asset,
        "source": "reconcile",
        # Placed outside Aristobot: its own client id when it has one, else the exchange's.
        "client_order_id": foreign.client_order_id or f"ext-{foreign.exchange_order_id}",
        "exchange_order_id": foreign.exchange_order_id,
        "raw": foreign.raw,
        "position_applied": True,  # not ours: never moves a position of ours
        "created_at": foreign.created_at or now,
        "updated_at": now,
    }
