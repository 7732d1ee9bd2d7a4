"""Reconciliation: the exchange's view of a broker's orders brought back into ours.

Orders we left open (a resting limit, an order whose fill could not be read back) are
looked up again; fills and cancellations are recorded and fills applied to the position.
Orders on the exchange that we never placed (made on the exchange's own site, or by another
tool) are imported with source `reconcile`, so the dashboard shows them: the open ones, and
the recently closed ones of the symbols the broker trades (opened and filled or canceled
between two passes, they never show as open)."""

from datetime import datetime, timedelta

from sqlalchemy import select, union
from temporalio import activity

from activities.errors import as_application_error
from activities.heartbeat import heartbeating
from activities.orders import apply_fill, copy_exchange_state, open_position
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order, Position
from db.session import SessionFactory
from db.upsert import insert_ignore
from exchanges.errors import ExchangeError, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.registry import BrokerNotFound, ConnectorRegistry
from exchanges.types import ExchangeOrder
from trading.protection import PROTECTIVE_TYPES, has_protection
from workflows.inputs import ReconcileInput, ReconcileResult

OPEN_STATUSES = ("open", "partially_filled")
# Closed orders are read since the previous pass this worker ran for the broker, at most
# this far back (the first pass after a start, or after the schedule was paused).
CLOSED_LOOKBACK = timedelta(hours=1)
# The exchange's clock and timestamps may be a little off ours.
CLOCK_MARGIN = timedelta(minutes=1)
# The symbols a broker trades: those of its open positions and of its recent orders.
RECENT_ORDERS = timedelta(hours=24)


class ReconcileActivities:
    def __init__(self, sessions: SessionFactory, connectors: ConnectorRegistry) -> None:
        self._sessions = sessions
        self._connectors = connectors
        # broker id -> when its last successful pass in this process started. Only narrows
        # the closed-orders window: lost on restart, and another worker's passes are not
        # seen (the window is then wider than needed, never narrower).
        self._last_pass: dict[int, datetime] = {}

    @activity.defn
    async def reconcile_broker(self, request: ReconcileInput) -> ReconcileResult:
        try:
            broker = await self._connectors.load_broker(request.broker_id)
        except BrokerNotFound:
            return ReconcileResult()  # deleted meanwhile; its schedule goes with it
        touched: set[int] = set()
        started = utcnow()
        try:
            connector = self._connectors.connector(broker)
            updated = await heartbeating(self._refresh_open_orders(broker, connector, touched))
            # Open orders first, then closed ones: an order that closes in between is in
            # the closed list of this pass or the next.
            imported = await heartbeating(self._import_foreign_orders(broker, connector))
            imported += await heartbeating(
                self._import_closed_orders(broker, connector, self._closed_since(broker.id))
            )
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        self._last_pass[broker.id] = started
        return ReconcileResult(updated=updated, imported=imported, positions=sorted(touched))

    async def _refresh_open_orders(
        self, broker: Broker, connector: ExchangeConnector, touched: set[int]
    ) -> int:
        """Returns how many orders changed; `touched` gets the positions whose stop-loss /
        take-profit must follow (a protective order filled, a protected position moved)."""
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
            position_id = await self._record(order.id, answer, connector)
            if position_id is not None:
                touched.add(position_id)
            updated += 1
        return updated

    async def _record(
        self, order_id: int, answer: ExchangeOrder, connector: ExchangeConnector
    ) -> int | None:
        """Records the exchange's answer; the id of a guarded position its fill moved."""
        markets = await connector.load_markets()
        async with self._sessions.begin() as session:
            order = await session.get(Order, order_id, with_for_update=True)
            if order is None or order.status not in OPEN_STATUSES:
                return None  # its workflow recorded it meanwhile
            copy_exchange_state(order, answer)
            market = markets.get(order.symbol)
            # Partial fills move the position as they come (apply_fill applies only what
            # it has not applied yet).
            position = None
            if order.filled_quantity > 0 and market is not None:
                position = await apply_fill(session, order, market)
            await emit(session, order.user_id, "order", order.id)
            if order.type in PROTECTIVE_TYPES:
                return order.position_id
            if position is None and order.source != "reconcile":
                # A resting sell that ended unfilled gives the quantity back to protect.
                position = await open_position(session, order.broker_id, order.symbol)
            if position is not None and has_protection(position.stop_loss, position.take_profit):
                return position.id
            return None

    async def _import_foreign_orders(self, broker: Broker, connector: ExchangeConnector) -> int:
        return await self._import_unknown(broker, await connector.fetch_open_orders())

    async def _import_closed_orders(
        self, broker: Broker, connector: ExchangeConnector, since: datetime
    ) -> int:
        """Closed orders are read per symbol, over a window of about one pass. Requests per
        traded symbol: Binance allOrders (+ myTrades for the fees when some filled); Bitget
        history-orders + history-plan-order (+ plan-sub-order per plan that triggered);
        Kraken one ClosedOrders page (not filtered by pair: read once per symbol)."""
        if broker.exchange == "paper":
            return 0  # only Aristobot places orders there, and each look settles them all
        markets = await connector.load_markets()
        closed: list[ExchangeOrder] = []
        for symbol in await self._traded_symbols(broker.id):
            if symbol in markets:  # a delisted pair has nothing new to show
                closed += await connector.fetch_closed_orders(symbol, since=since)
        return await self._import_unknown(broker, closed)

    def _closed_since(self, broker_id: int) -> datetime:
        floor = utcnow() - CLOSED_LOOKBACK
        last = self._last_pass.get(broker_id)
        return floor if last is None else max(floor, last - CLOCK_MARGIN)

    async def _traded_symbols(self, broker_id: int) -> list[str]:
        recent = utcnow() - RECENT_ORDERS
        query = union(
            select(Position.symbol).where(
                Position.broker_id == broker_id, Position.status == "open"
            ),
            select(Order.symbol).where(Order.broker_id == broker_id, Order.created_at >= recent),
        )
        async with self._sessions() as session:
            return sorted(set((await session.execute(query)).scalars()))

    async def _import_unknown(self, broker: Broker, orders: list[ExchangeOrder]) -> int:
        """Imports the orders we have no record of (source `reconcile`)."""
        if not orders:
            return 0
        async with self._sessions() as session:
            known = set(
                await session.scalars(
                    select(Order.exchange_order_id).where(
                        Order.broker_id == broker.id,
                        Order.exchange_order_id.in_([o.exchange_order_id for o in orders]),
                    )
                )
            )
        imported = 0
        for foreign in (o for o in orders if o.exchange_order_id not in known):
            async with self._sessions.begin() as session:
                # Ours without an exchange id yet (placement not recorded) share our
                # client id: ignored here.
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
