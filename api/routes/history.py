"""/api/orders, /api/positions, /api/webhooks: the user's records, newest first."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from api.deps import CurrentUser, RuntimeDep, SessionDep, owned
from api.marks import mark_prices
from api.routes.brokers import owned_broker
from api.schemas import OrderDetail, OrderOut, Page, PositionOut, WebhookOut, WebhookStats
from db.base import utcnow
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
    strategy_id: int | None = None,
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
    if strategy_id is not None:
        query = query.where(Order.strategy_id == strategy_id)
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
    order = await owned(session, Order, order_id, user)
    return OrderDetail.of(order, runtime.settings)


async def positions_out(runtime: Runtime, positions: list[Position]) -> list[PositionOut]:
    """Open positions marked at their broker's exchange price (batched per broker)."""
    marks = await mark_prices(
        runtime, {(p.broker_id, p.symbol) for p in positions if p.status == "open"}
    )
    return [
        PositionOut.of(p, marks.get((p.broker_id, p.symbol)) if p.status == "open" else None)
        for p in positions
    ]


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
        items=await positions_out(runtime, rows),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/positions/{position_id}", response_model=PositionOut)
async def get_position(
    position_id: int, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> PositionOut:
    position = await owned(session, Position, position_id, user)
    [out] = await positions_out(runtime, [position])
    return out


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


STATS_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


# Declared before /webhooks/{webhook_id}, which would otherwise take "stats" for an id.
@router.get("/webhooks/stats", response_model=WebhookStats)
async def webhook_stats(
    session: SessionDep,
    user: CurrentUser,
    window: Literal["24h", "7d", "30d"] = "24h",
    broker_id: int | None = None,
) -> WebhookStats:
    since = utcnow() - STATS_WINDOWS[window]
    query = (
        select(Webhook.status, func.count())
        .where(Webhook.user_id == user.id, Webhook.received_at >= since)
        .group_by(Webhook.status)
    )
    open_query = (
        select(func.count())
        .select_from(Position)
        .where(Position.user_id == user.id, Position.status == "open")
    )
    if broker_id is not None:
        await owned_broker(user, session, broker_id)  # another user's broker: 404
        query = query.where(Webhook.broker_id == broker_id)
        open_query = open_query.where(Position.broker_id == broker_id)
    counts: dict[str, int] = {status: int(n) for status, n in (await session.execute(query)).all()}
    total = sum(counts.values())
    processed = counts.get("processed", 0)
    rate = None
    if total:
        rate = (Decimal(100) * processed / total).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return WebhookStats(
        window=window,
        since=since,
        total=total,
        processed=processed,
        rejected=counts.get("rejected", 0),
        errors=counts.get("error", 0),
        duplicates=counts.get("duplicate", 0),
        pending=counts.get("received", 0) + counts.get("processing", 0),
        success_rate=rate,
        open_positions=int(await session.scalar(open_query) or 0),
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: int, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> WebhookOut:
    webhook = await owned(session, Webhook, webhook_id, user)
    return WebhookOut.of(webhook, runtime.settings)
