"""The exchange side of a position's stop-loss / take-profit, for its guard workflow: read
the protective orders back (recording any fill), cancel them, place new ones exactly once,
and save what the position is protected by."""

from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.errors import as_application_error, business_error
from activities.exchange_orders import cancel_or_read, lookup
from activities.heartbeat import heartbeating
from activities.orders import apply_fill, client_order_id, copy_exchange_state
from activities.trading import place_exactly_once
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order, Position
from db.session import SessionFactory
from db.upsert import insert_ignore
from exchanges.errors import ExchangeError, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.registry import ConnectorRegistry
from exchanges.types import ExchangeOrder, Market, OcoRequest, OrderRequest
from trading.protection import PROTECTIVE_TYPES, Leg, LiveLeg

LIVE = ("pending", "open", "partially_filled")


class ProtectionState(BaseModel):
    position_id: int
    symbol: str
    base: str
    open: bool
    # The position's quantity not promised to a resting sell, rounded down to the lot:
    # what protective orders cover.
    quantity: Decimal
    min_quantity: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    protection: str
    live: list[LiveLeg]
    price: Decimal | None
    price_tick: Decimal
    oco: bool
    # Protective orders recorded so far: where a new guard run numbers its client ids.
    placed_before: int


class CancelLegs(BaseModel):
    position_id: int
    order_ids: list[int]


class PlaceLegs(BaseModel):
    position_id: int
    seq: int
    legs: list[Leg]
    quantity: Decimal
    oco: bool


class SaveProtection(BaseModel):
    position_id: int
    # The prices the guard's batch started from: saved only if nobody changed them since.
    read_stop_loss: Decimal | None
    read_take_profit: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    protection: str  # none | protected | unprotected | pending
    error: str | None = None


class FlagProtection(BaseModel):
    position_id: int
    protection: str
    error: str


class ProtectionActivities:
    def __init__(
        self, sessions: SessionFactory, connectors: ConnectorRegistry, client_id_salt: bytes
    ) -> None:
        self._sessions = sessions
        self._connectors = connectors
        self._salt = client_id_salt

    @activity.defn
    async def refresh_protection(self, position_id: int) -> ProtectionState:
        """The exchange's view of the position's protective orders, fills applied."""
        position, legs = await self._load(position_id)
        try:
            connector = await self._connectors.for_broker(position.broker_id)
            market = await self._market(connector, position.symbol)
            for order in legs:
                answer = await heartbeating(lookup(connector, order))
                if answer is None and order.status == "pending":
                    # A placement that never reached the exchange (its retries ran out):
                    # it must not count as live protection. The guard places one at a time,
                    # so none is in flight while it refreshes.
                    answer = _never_placed(order)
                if answer is not None:
                    await self._record(order.id, answer, market)
            price = None
            if position.status == "open":
                price = (await heartbeating(connector.fetch_ticker(position.symbol))).price
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        position, legs = await self._load(position_id)
        async with self._sessions() as session:
            committed = await _resting_sells(session, position)
            placed_before = len(
                list(
                    await session.scalars(
                        select(Order.id).where(
                            Order.position_id == position_id,
                            Order.type.in_(PROTECTIVE_TYPES),
                        )
                    )
                )
            )
        return ProtectionState(
            position_id=position.id,
            symbol=position.symbol,
            base=market.base,
            open=position.status == "open",
            quantity=market.round_quantity(max(position.quantity - committed, Decimal(0))),
            min_quantity=max(market.min_qty, market.amount_step),
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            protection=position.protection,
            live=[
                LiveLeg(
                    order_id=o.id, type=o.type, stop_price=o.stop_price or 0, quantity=o.quantity
                )
                for o in legs
            ],
            price=price,
            price_tick=market.price_tick,
            oco=connector.capabilities.oco,
            placed_before=placed_before,
        )

    @activity.defn
    async def cancel_protection(self, request: CancelLegs) -> None:
        """Cancels the orders; one that filled meanwhile is recorded and applied instead."""
        position, legs = await self._load(request.position_id)
        try:
            connector = await self._connectors.for_broker(position.broker_id)
            market = await self._market(connector, position.symbol)
            for order in (o for o in legs if o.id in request.order_ids):
                answer = await heartbeating(_cancel(connector, order))
                if answer is not None:
                    await self._record(order.id, answer, market)
        except ExchangeError as exc:
            raise as_application_error(exc) from exc

    @activity.defn
    async def place_protection(self, request: PlaceLegs) -> None:
        """Records then places the legs (one OCO where the exchange has it). A refusal marks
        the recorded legs rejected and fails with the exchange's reason."""
        info = activity.info()
        assert info.workflow_id is not None
        ids = {
            leg.type: client_order_id(self._salt, info.workflow_id, f"p{request.seq}-{leg.type}")
            for leg in request.legs
        }
        list_id = client_order_id(self._salt, info.workflow_id, f"p{request.seq}")
        if request.oco:  # Binance names an OCO's legs after the list
            ids = {t: f"{list_id}-{'sl' if t == 'stop_loss' else 'tp'}" for t in ids}
        position = await self._record_legs(request, ids)
        try:
            connector = await self._connectors.for_broker(position.broker_id)
            market = await self._market(connector, position.symbol)
            retry = info.attempt > 1
            if request.oco:
                answers = await heartbeating(
                    _place_oco(connector, position.symbol, request, list_id, retry)
                )
            else:
                answers = []
                for leg in request.legs:
                    order = OrderRequest(
                        symbol=position.symbol,
                        side="sell",
                        type=leg.type,
                        client_order_id=ids[leg.type],
                        quantity=request.quantity,
                        stop_price=leg.stop_price,
                    )
                    answers.append(
                        await heartbeating(place_exactly_once(connector, order, retry=retry))
                    )
        except ExchangeError as exc:
            error = as_application_error(exc)
            if error.non_retryable:
                await self._reject(list(ids.values()), position.broker_id, exc.message)
            raise error from exc
        for answer in answers:
            order_id = await self._order_id(position.broker_id, answer.client_order_id)
            if order_id is not None:
                await self._record(order_id, answer, market)

    @activity.defn
    async def save_protection(self, save: SaveProtection) -> bool:
        """False when the wanted prices changed since the guard read them (a buy carrying
        a stop-loss filled meanwhile): nothing is written, the guard looks again."""
        async with self._sessions.begin() as session:
            position = await session.get(Position, save.position_id, with_for_update=True)
            if position is None:
                return True
            if (position.stop_loss, position.take_profit) != (
                save.read_stop_loss,
                save.read_take_profit,
            ):
                return False
            position.stop_loss, position.take_profit = save.stop_loss, save.take_profit
            position.protection = save.protection if position.status == "open" else "none"
            position.protection_error = save.error
            await emit(session, position.user_id, "position", position.id)
            return True

    @activity.defn
    async def flag_protection(self, flag: FlagProtection) -> None:
        async with self._sessions.begin() as session:
            position = await session.get(Position, flag.position_id, with_for_update=True)
            if position is not None and position.status == "open":
                position.protection, position.protection_error = flag.protection, flag.error
                await emit(session, position.user_id, "position", position.id)

    # -- helpers -------------------------------------------------------------------------

    async def _load(self, position_id: int) -> tuple[Position, list[Order]]:
        async with self._sessions() as session:
            position = await session.get(Position, position_id)
            if position is None:
                raise business_error(f"position {position_id} no longer exists", "PositionGone")
            legs = list(
                await session.scalars(
                    select(Order)
                    .where(
                        Order.position_id == position_id,
                        Order.type.in_(PROTECTIVE_TYPES),
                        Order.status.in_(LIVE),
                    )
                    .order_by(Order.id)
                )
            )
            return position, legs

    @staticmethod
    async def _market(connector: ExchangeConnector, symbol: str) -> Market:
        market = (await connector.load_markets()).get(symbol)
        if market is None:
            raise business_error(f"{symbol} is no longer listed", "UnknownSymbol")
        return market

    async def _record(self, order_id: int, answer: ExchangeOrder, market: Market) -> None:
        async with self._sessions.begin() as session:
            order = await session.get(Order, order_id, with_for_update=True)
            if order is None or order.status not in LIVE:
                return
            stop_price = order.stop_price
            copy_exchange_state(order, answer)
            order.stop_price = stop_price
            if order.filled_quantity > 0:
                await apply_fill(session, order, market)
            await emit(session, order.user_id, "order", order.id)

    async def _record_legs(self, request: PlaceLegs, ids: dict[str, str]) -> Position:
        async with self._sessions.begin() as session:
            position = await session.get(Position, request.position_id)
            if position is None or await session.get(Broker, position.broker_id) is None:
                raise business_error("the position or its broker was deleted", "PositionGone")
            source = await _source(session, position.id)
            info = activity.info()
            now = utcnow()
            for leg in request.legs:
                values = {
                    "user_id": position.user_id,
                    "broker_id": position.broker_id,
                    "position_id": position.id,
                    "symbol": position.symbol,
                    "side": "sell",
                    "type": leg.type,
                    "status": "pending",
                    "quantity": request.quantity,
                    "stop_price": leg.stop_price,
                    "filled_quantity": Decimal(0),
                    "fee": Decimal(0),
                    "source": source,
                    "client_order_id": ids[leg.type],
                    "workflow_id": info.workflow_id,
                    # Its fill closes the position through apply_fill, not a new position.
                    "position_applied": False,
                    "created_at": now,
                    "updated_at": now,
                }
                await insert_ignore(session, Order, values, ["broker_id", "client_order_id"])
            await session.flush()
            for client_id in ids.values():
                order_id = await _id_of(session, position.broker_id, client_id)
                if order_id is not None:
                    await emit(session, position.user_id, "order", order_id)
            return position

    async def _reject(self, client_ids: list[str], broker_id: int, message: str) -> None:
        async with self._sessions.begin() as session:
            for client_id in client_ids:
                order_id = await _id_of(session, broker_id, client_id)
                order = await session.get(Order, order_id) if order_id else None
                if order is not None and order.status == "pending":
                    order.status, order.error = "rejected", message
                    await emit(session, order.user_id, "order", order.id)

    async def _order_id(self, broker_id: int, client_id: str | None) -> int | None:
        if client_id is None:
            return None
        async with self._sessions() as session:
            return await _id_of(session, broker_id, client_id)


async def _id_of(session: AsyncSession, broker_id: int, client_id: str) -> int | None:
    order_id: int | None = await session.scalar(
        select(Order.id).where(Order.broker_id == broker_id, Order.client_order_id == client_id)
    )
    return order_id


async def _resting_sells(session: AsyncSession, position: Position) -> Decimal:
    """What open sell orders (a resting limit) already hold of the position's quantity."""
    rows = await session.execute(
        select(Order.quantity, Order.filled_quantity).where(
            Order.broker_id == position.broker_id,
            Order.symbol == position.symbol,
            Order.side == "sell",
            Order.type.not_in(PROTECTIVE_TYPES),
            Order.status.in_(("open", "partially_filled")),
        )
    )
    return sum(((quantity or Decimal(0)) - filled for quantity, filled in rows), Decimal(0))


async def _source(session: AsyncSession, position_id: int) -> str:
    """Protective orders are shown with the source of the order that opened the position."""
    source = await session.scalar(
        select(Order.source)
        .where(Order.position_id == position_id, Order.type.not_in(PROTECTIVE_TYPES))
        .order_by(Order.id)
        .limit(1)
    )
    return source or "manual"


async def _cancel(connector: ExchangeConnector, order: Order) -> ExchangeOrder:
    return await cancel_or_read(connector, order) or _never_placed(order)


def _never_placed(order: Order) -> ExchangeOrder:
    return ExchangeOrder(
        exchange_order_id=order.exchange_order_id or "",
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side="sell",
        type=order.type,
        status="canceled",
        quantity=order.quantity,
    )


async def _place_oco(
    connector: ExchangeConnector, symbol: str, request: PlaceLegs, list_id: str, retry: bool
) -> list[ExchangeOrder]:
    prices = {leg.type: leg.stop_price for leg in request.legs}
    if retry:  # the list may have landed before a timeout: adopt it
        try:
            return [
                await connector.fetch_order(symbol, client_order_id=f"{list_id}-{suffix}")
                for suffix in ("sl", "tp")
            ]
        except OrderNotFound:
            pass
    return await connector.create_oco(
        OcoRequest(
            symbol=symbol,
            side="sell",
            quantity=request.quantity,
            client_order_id=list_id,
            take_profit_price=prices["take_profit"],
            stop_price=prices["stop_loss"],
        )
    )
