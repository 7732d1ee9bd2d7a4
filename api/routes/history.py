"""/api/orders, /api/positions, /api/webhooks: the user's records, newest first."""

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from api.deps import CurrentUser, RuntimeDep, SessionDep, not_found
from api.schemas import OrderDetail, OrderOut, Page, PositionOut, WebhookOut
from db.models import Order, Position, Webhook
from workers.runtime import Runtime

router = APIRouter(prefix="/api", tags=["history"])

Limit = Query(default=100, ge=1, le=1000)
Offset = Query(default=0, ge=0)


async def _page(
    session: AsyncSession, query: Select[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(await session.scalars(query.limit(limit).offset(offset)))
    return rows, int(total or 0)


@router.get("/orders", response_model=Page[OrderOut])
async def list_orders(
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    broker_id: int | None = None,
    symbol: str | None = None,
    status: str | None = None,
    source: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> Page[OrderOut]:
    query = select(Order).where(Order.user_id == user.id)
    if broker_id is not None:
        query = query.where(Order.broker_id == broker_id)
    if symbol:
        query = query.where(Order.symbol == symbol.upper())
    if status:
        query = query.where(Order.status == status)
    if source:
        query = query.where(Order.source == source)
    rows, total = await _page(session, query.order_by(Order.id.desc()), limit, offset)
    return Page(
        items=[OrderOut.of(o, runtime.settings) for o in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/orders/{order_id}", response_model=OrderDetail)
async def get_order(
    order_id: int, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> OrderDetail:
    order = (
        await session.scalars(select(Order).where(Order.id == order_id, Order.user_id == user.id))
    ).first()
    if order is None:
        raise not_found("order")
    return OrderDetail.of(order, runtime.settings)


async def position_out(runtime: Runtime, position: Position) -> PositionOut:
    price: Decimal | None = None
    if position.status == "open":
        try:
            price = await runtime.prices.price(position.symbol)
        except Exception:  # a missing price must not hide the position
            price = None
    return PositionOut.of(position, price)


@router.get("/positions", response_model=Page[PositionOut])
async def list_positions(
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    status: Literal["open", "closed"] | None = None,
    broker_id: int | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> Page[PositionOut]:
    query = select(Position).where(Position.user_id == user.id)
    if status:
        query = query.where(Position.status == status)
    if broker_id is not None:
        query = query.where(Position.broker_id == broker_id)
    rows, total = await _page(session, query.order_by(Position.id.desc()), limit, offset)
    return Page(
        items=[await position_out(runtime, p) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/positions/{position_id}", response_model=PositionOut)
async def get_position(
    position_id: int, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> PositionOut:
    position = (
        await session.scalars(
            select(Position).where(Position.id == position_id, Position.user_id == user.id)
        )
    ).first()
    if position is None:
        raise not_found("position")
    return await position_out(runtime, position)


@router.get("/webhooks", response_model=Page[WebhookOut])
async def list_webhooks(
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
    broker_id: int | None = None,
    status: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
) -> Page[WebhookOut]:
    query = select(Webhook).where(Webhook.user_id == user.id)
    if broker_id is not None:
        query = query.where(Webhook.broker_id == broker_id)
    if status:
        query = query.where(Webhook.status == status)
    rows, total = await _page(session, query.order_by(Webhook.id.desc()), limit, offset)
    return Page(
        items=[WebhookOut.of(w, runtime.settings) for w in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: int, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> WebhookOut:
    webhook = (
        await session.scalars(
            select(Webhook).where(Webhook.id == webhook_id, Webhook.user_id == user.id)
        )
    ).first()
    if webhook is None:
        raise not_found("webhook")
    return WebhookOut.of(webhook, runtime.settings)
