"""Order records and position updates in our database (idempotent under retries)."""

import hashlib
import hmac
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.errors import business_error
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order, Position
from db.session import SessionFactory
from db.upsert import insert_ignore
from exchanges.types import ExchangeOrder, Market
from trading.positions import Fill, PositionState, apply_buy, apply_sell


def client_order_id(salt: bytes, workflow_id: str, step: str) -> str:
    """Deterministic per (workflow, step), valid on every exchange (`^[a-zA-Z0-9-_]{1,36}$`,
    short enough for Kraken), and salted per installation so two installs sharing one exchange
    account never adopt each other's orders."""
    digest = hmac.new(salt, f"{workflow_id}/{step}".encode(), hashlib.sha256).hexdigest()
    return "ab" + digest[:20]


class NewOrder(BaseModel):
    user_id: int
    broker_id: int
    symbol: str
    side: str
    type: str
    source: str
    step: str
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    # Protection to place once a buy fills.
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    webhook_id: int | None = None
    strategy_id: int | None = None


class RecordedOrder(BaseModel):
    order_id: int
    client_order_id: str


class PlacedOrder(BaseModel):
    """The exchange's answer for a recorded order, and what its fill means for the position."""

    order_id: int
    exchange_order: ExchangeOrder
    market: Market
    webhook_id: int | None = None


class OrderFailure(BaseModel):
    order_id: int
    status: str  # rejected (the exchange or a rule said no) or error
    message: str


class PositionSummary(BaseModel):
    position_id: int | None
    status: str | None
    quantity: Decimal
    realized_pnl: Decimal


class OrderActivities:
    def __init__(self, sessions: SessionFactory, client_id_salt: bytes) -> None:
        self._sessions = sessions
        self._salt = client_id_salt

    @activity.defn
    async def record_new_order(self, new: NewOrder) -> RecordedOrder:
        """Writes the order as `pending` before it is sent, so a crash leaves a trace."""
        info = activity.info()
        assert info.workflow_id is not None
        cid = client_order_id(self._salt, info.workflow_id, new.step)
        async with self._sessions.begin() as session:
            if await session.get(Broker, new.broker_id) is None:
                raise business_error("the broker was deleted", "BrokerNotFound")
            values = new.model_dump(exclude={"step"})
            values.update(
                client_order_id=cid,
                workflow_id=info.workflow_id,
                status="pending",
                filled_quantity=Decimal(0),
                fee=Decimal(0),
                position_applied=False,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            await insert_ignore(session, Order, values, ["broker_id", "client_order_id"])
            order = (
                await session.scalars(
                    select(Order).where(
                        Order.broker_id == new.broker_id, Order.client_order_id == cid
                    )
                )
            ).one()
            await emit(session, order.user_id, "order", order.id)
            return RecordedOrder(order_id=order.id, client_order_id=cid)

    @activity.defn
    async def record_placed_order(self, placed: PlacedOrder) -> PositionSummary | None:
        """Stores the exchange's answer and, when it filled, applies the fill to the position
        — one transaction, exactly once per order (a retry finds it already applied)."""
        async with self._sessions.begin() as session:
            order = await _order(session, placed.order_id)
            copy_exchange_state(order, placed.exchange_order)
            position = None
            if order.filled_quantity > 0:
                position = await apply_fill(
                    session, order, placed.market, webhook_id=placed.webhook_id
                )
            await emit(session, order.user_id, "order", order.id)
            return _summary(position) if order.filled_quantity > 0 else None

    @activity.defn
    async def record_order_failure(self, failure: OrderFailure) -> None:
        async with self._sessions.begin() as session:
            order = await _order(session, failure.order_id)
            if order.status in ("pending", "open"):
                order.status = failure.status
            order.error = failure.message
            await emit(session, order.user_id, "order", order.id)


def copy_exchange_state(order: Order, answer: ExchangeOrder) -> None:
    """The exchange's view of the order onto our record."""
    order.exchange_order_id = answer.exchange_order_id
    order.status = answer.status
    order.quantity = answer.quantity or order.quantity
    order.filled_quantity = answer.filled_quantity
    order.average_price = answer.average_price
    order.price = answer.price or order.price
    order.fee, order.fee_asset = answer.fee, answer.fee_asset
    order.raw = answer.raw
    order.error = None


async def apply_fill(
    session: AsyncSession,
    order: Order,
    market: Market,
    *,
    webhook_id: int | None = None,
) -> Position | None:
    """Opens/increases (buy) or reduces/closes (sell) the position with the part of the
    order's fill not applied yet: each fill exactly once, partial fills as they come. A buy
    carrying a stop-loss / take-profit sets them as the position's wanted protection."""
    position = await _open_position(session, order)
    if order.position_applied:
        return position
    done = order.status not in ("pending", "open", "partially_filled")
    quantity = order.filled_quantity - order.applied_quantity
    if quantity <= 0:
        order.position_applied = done
        return position
    if order.average_price is None:
        return position  # a fill without its price yet: applied once the price is read
    cost = order.filled_quantity * order.average_price
    fill = Fill(
        side=order.side,
        quantity=quantity,
        price=(cost - order.applied_cost) / quantity,
        fee=order.fee - order.applied_fee,
        fee_asset=order.fee_asset,
        quote=market.quote,
    )
    if order.side == "buy":
        if position is None:
            position = Position(
                user_id=order.user_id,
                broker_id=order.broker_id,
                symbol=order.symbol,
                side="long",
                status="open",
                opened_webhook_id=webhook_id,
                opened_strategy_id=order.strategy_id,
                opened_at=utcnow(),
                **PositionState().model_dump(),
            )
            session.add(position)
        _store(position, apply_buy(_state(position), fill, market.base))
        if order.stop_loss is not None:
            position.stop_loss = order.stop_loss
        if order.take_profit is not None:
            position.take_profit = order.take_profit
    elif position is not None:
        state, _realized = apply_sell(_state(position), fill, market.base)
        _store(position, state)
        if position.status == "open" and state.quantity < max(market.min_qty, market.amount_step):
            position.status, position.closed_at = "closed", utcnow()
    await session.flush()
    order.position_id = position.id if position is not None else None
    order.applied_quantity, order.applied_cost = order.filled_quantity, cost
    order.applied_fee, order.position_applied = order.fee, done
    if position is not None:
        await emit(session, order.user_id, "position", position.id)
    return position


async def _open_position(session: AsyncSession, order: Order) -> Position | None:
    """The position the order's fills went to; the rest of a buy that fills after that
    position closed goes to the open one (or opens one). A sell never moves to another."""
    if order.position_id is not None:
        position = await session.get(Position, order.position_id, with_for_update=True)
        if position is not None and (position.status == "open" or order.side == "sell"):
            return position
    return await open_position(session, order.broker_id, order.symbol, lock=True)


async def open_position(
    session: AsyncSession, broker_id: int | None, symbol: str | None, *, lock: bool = False
) -> Position | None:
    """The broker's open position on the symbol (at most one)."""
    query = select(Position).where(
        Position.broker_id == broker_id,
        Position.symbol == symbol,
        Position.status == "open",
    )
    position: Position | None = (
        await session.scalars(query.with_for_update() if lock else query)
    ).first()
    return position


async def _order(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id, with_for_update=True)
    if order is None:
        raise business_error(f"order {order_id} no longer exists (broker deleted)", "OrderGone")
    return order


def _state(position: Position) -> PositionState:
    return PositionState(
        quantity=position.quantity,
        entry_price=position.entry_price,
        cost_basis=position.cost_basis,
        realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid,
        bought_quantity=position.bought_quantity,
    )


def _store(position: Position, state: PositionState) -> None:
    for field, value in state.model_dump().items():
        setattr(position, field, value)


def _summary(position: Position | None) -> PositionSummary:
    if position is None:
        return PositionSummary(
            position_id=None, status=None, quantity=Decimal(0), realized_pnl=Decimal(0)
        )
    return PositionSummary(
        position_id=position.id,
        status=position.status,
        quantity=position.quantity,
        realized_pnl=position.realized_pnl,
    )
