"""Strategies: code (validated on every save, versioned), live activation on one broker,
market and timeframe, and the kill switch. The code itself only ever runs in the sandbox."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.decimal_json import DecimalRoute
from api.deps import CurrentUser, RuntimeDep, SessionDep, not_found
from api.strategy_checks import CodeCheck, check_code
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order, Position, Strategy, StrategyEvaluation, StrategyVersion, User
from exchanges.symbols import SymbolError, normalize_symbol
from market.candle_store import Timeframe
from workers.runtime import Runtime

router = APIRouter(prefix="/api", tags=["strategies"], route_class=DecimalRoute)
MAX_CODE = 100_000


class StrategyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=MAX_CODE)


class StrategyPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    code: str | None = Field(default=None, min_length=1, max_length=MAX_CODE)


class CodeIn(BaseModel):
    code: str = Field(max_length=MAX_CODE)
    symbol: str | None = Field(default=None, max_length=40)
    timeframe: Timeframe | None = None


class ActivateIn(BaseModel):
    broker_id: int
    symbol: str = Field(max_length=40)
    timeframe: Timeframe


class OpenPosition(BaseModel):
    id: int
    quantity: Decimal
    entry_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None


class StrategyOut(BaseModel):
    id: int
    name: str
    code: str
    version: int
    status: str
    error: str | None
    broker_id: int | None
    symbol: str | None
    timeframe: str | None
    last_decision: dict[str, Any] | None
    last_candle_at: datetime | None
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    realized_pnl: Decimal
    position: OpenPosition | None
    orders: int


class StrategyList(BaseModel):
    items: list[StrategyOut]
    active: int
    max_active: int


class VersionOut(BaseModel):
    version: int
    code: str
    created_at: datetime


class EvaluationOut(BaseModel):
    candle_time: datetime
    version: int
    action: str
    decision: dict[str, Any] | None
    error: str | None
    workflow_id: str | None
    workflow_url: str | None
    created_at: datetime


@router.get("/strategies/example")
async def example(user: CurrentUser) -> dict[str, str]:
    from strategies.examples import EXAMPLE_CODE

    return {"code": EXAMPLE_CODE}


@router.post("/strategies/validate", response_model=CodeCheck)
async def validate_code(body: CodeIn, user: CurrentUser, runtime: RuntimeDep) -> CodeCheck:
    symbol = _symbol(body.symbol) if body.symbol else None
    return await check_code(runtime, body.code, symbol, body.timeframe)


@router.post("/strategies/pause-all")
async def pause_all(user: CurrentUser, runtime: RuntimeDep) -> dict[str, int]:
    """The kill switch: every active strategy of the user stops at once."""
    async with runtime.sessions.begin() as session:
        ids = list(
            await session.scalars(
                select(Strategy.id).where(Strategy.user_id == user.id, Strategy.status == "active")
            )
        )
        if ids:
            await session.execute(
                update(Strategy).where(Strategy.id.in_(ids)).values(status="paused")
            )
            for strategy_id in ids:
                await emit(session, user.id, "strategy", strategy_id)
    return {"paused": len(ids)}


@router.get("/strategies", response_model=StrategyList)
async def list_strategies(
    user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> StrategyList:
    rows = list(
        await session.scalars(
            select(Strategy).where(Strategy.user_id == user.id).order_by(Strategy.id)
        )
    )
    items = [await _out(session, row, runtime) for row in rows]
    return StrategyList(
        items=items,
        active=sum(1 for row in rows if row.status == "active"),
        max_active=runtime.settings.max_active_strategies,
    )


@router.post("/strategies", status_code=201, response_model=StrategyOut)
async def create_strategy(
    body: StrategyIn, user: CurrentUser, runtime: RuntimeDep
) -> StrategyOut | JSONResponse:
    # Checked before any write session: the dry run takes a moment in the sandbox.
    check = await check_code(runtime, body.code)
    if not check.ok:
        return _refused(check)
    try:
        async with runtime.sessions.begin() as session:
            await _name_free(session, user, body.name)
            strategy = Strategy(
                user_id=user.id, name=body.name, code=body.code, version=1, status="paused", vars={}
            )
            session.add(strategy)
            await session.flush()
            session.add(StrategyVersion(strategy_id=strategy.id, version=1, code=body.code))
            await emit(session, user.id, "strategy", strategy.id)
            return await _out(session, strategy, runtime)
    except IntegrityError as exc:  # the same name saved twice at once
        raise HTTPException(409, f"you already have a strategy named '{body.name}'") from exc


@router.get("/strategies/{strategy_id}", response_model=StrategyOut)
async def get_strategy(
    strategy_id: int, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> StrategyOut:
    return await _out(session, await _owned(session, strategy_id, user), runtime)


@router.patch("/strategies/{strategy_id}", response_model=StrategyOut)
async def update_strategy(
    strategy_id: int, body: StrategyPatch, user: CurrentUser, runtime: RuntimeDep
) -> StrategyOut | JSONResponse:
    async with runtime.sessions() as session:
        current = await _owned(session, strategy_id, user)
    if body.code is not None and body.code != current.code:
        check = await check_code(runtime, body.code, current.symbol, current.timeframe)
        if not check.ok:
            return _refused(check)
    async with runtime.sessions.begin() as session:
        strategy = await _owned(session, strategy_id, user, lock=True)
        if body.name is not None and body.name != strategy.name:
            await _name_free(session, user, body.name)
            strategy.name = body.name
        if body.code is not None and body.code != strategy.code:
            # An active strategy uses the new version from its next candle on.
            strategy.version += 1
            strategy.code = body.code
            session.add(
                StrategyVersion(strategy_id=strategy.id, version=strategy.version, code=body.code)
            )
        await emit(session, user.id, "strategy", strategy.id)
        return await _out(session, strategy, runtime)


@router.delete("/strategies/{strategy_id}", status_code=204)
async def delete_strategy(strategy_id: int, user: CurrentUser, runtime: RuntimeDep) -> Response:
    async with runtime.sessions.begin() as session:
        strategy = await _owned(session, strategy_id, user, lock=True)
        await session.delete(strategy)
    return Response(status_code=204)


@router.get("/strategies/{strategy_id}/versions")
async def list_versions(
    strategy_id: int, user: CurrentUser, session: SessionDep
) -> dict[str, list[VersionOut]]:
    await _owned(session, strategy_id, user)
    rows = await session.scalars(
        select(StrategyVersion)
        .where(StrategyVersion.strategy_id == strategy_id)
        .order_by(StrategyVersion.version.desc())
    )
    return {"items": [VersionOut.model_validate(r, from_attributes=True) for r in rows]}


@router.get("/strategies/{strategy_id}/evaluations")
async def list_evaluations(
    strategy_id: int, user: CurrentUser, session: SessionDep, runtime: RuntimeDep, limit: int = 50
) -> dict[str, list[EvaluationOut]]:
    await _owned(session, strategy_id, user)
    rows = await session.scalars(
        select(StrategyEvaluation)
        .where(StrategyEvaluation.strategy_id == strategy_id)
        .order_by(StrategyEvaluation.candle_time.desc())
        .limit(max(1, min(limit, 500)))
    )
    return {
        "items": [
            EvaluationOut(
                candle_time=r.candle_time,
                version=r.version,
                action=r.action,
                decision=_public(r.decision),
                error=r.error,
                workflow_id=r.workflow_id,
                workflow_url=runtime.settings.workflow_url(r.workflow_id),
                created_at=r.created_at,
            )
            for r in rows
        ]
    }


@router.post("/strategies/{strategy_id}/activate", response_model=StrategyOut)
async def activate(
    strategy_id: int, body: ActivateIn, user: CurrentUser, runtime: RuntimeDep
) -> StrategyOut:
    symbol = _symbol(body.symbol)
    try:
        async with runtime.sessions.begin() as session:
            # The user's row first: two activations at once count the active ones in turn.
            await session.execute(select(User.id).where(User.id == user.id).with_for_update())
            strategy = await _owned(session, strategy_id, user, lock=True)
            broker = await session.get(Broker, body.broker_id)
            if broker is None or broker.user_id != user.id:
                raise not_found("broker")
            if broker.trading_mode != "strategies":
                raise HTTPException(
                    409,
                    f"broker '{broker.name}' is in trading mode '{broker.trading_mode}': set it to"
                    " 'strategies' to let strategies trade on it",
                )
            await _room_for(session, runtime, user, strategy, broker, symbol)
            strategy.status, strategy.error = "active", None
            strategy.broker_id, strategy.symbol, strategy.timeframe = (
                broker.id,
                symbol,
                body.timeframe,
            )
            strategy.activated_at = utcnow()
            await emit(session, user.id, "strategy", strategy.id)
            return await _out(session, strategy, runtime)
    except IntegrityError as exc:  # another activation on this broker and symbol won the race
        raise HTTPException(
            409, f"another strategy already trades {symbol} on this broker"
        ) from exc


@router.post("/strategies/{strategy_id}/deactivate", response_model=StrategyOut)
async def deactivate(strategy_id: int, user: CurrentUser, runtime: RuntimeDep) -> StrategyOut:
    async with runtime.sessions.begin() as session:
        strategy = await _owned(session, strategy_id, user, lock=True)
        if strategy.status == "active":
            strategy.status = "paused"
        await emit(session, user.id, "strategy", strategy.id)
        return await _out(session, strategy, runtime)


async def _room_for(
    session: AsyncSession,
    runtime: Runtime,
    user: User,
    strategy: Strategy,
    broker: Broker,
    symbol: str,
) -> None:
    others = list(
        await session.scalars(
            select(Strategy).where(
                Strategy.user_id == user.id,
                Strategy.status == "active",
                Strategy.id != strategy.id,
            )
        )
    )
    limit = runtime.settings.max_active_strategies
    if len(others) >= limit:
        raise HTTPException(
            409,
            f"{len(others)} strategies are active already, the most allowed per user is {limit}:"
            " pause one first",
        )
    for other in others:
        # Positions are per broker and symbol: two strategies there would trade one position.
        if other.broker_id == broker.id and other.symbol == symbol:
            raise HTTPException(
                409,
                f"strategy '{other.name}' already trades {symbol} on broker '{broker.name}':"
                " one active strategy per broker and symbol",
            )


async def _owned(
    session: AsyncSession, strategy_id: int, user: User, *, lock: bool = False
) -> Strategy:
    query = select(Strategy).where(Strategy.id == strategy_id, Strategy.user_id == user.id)
    row = (await session.scalars(query.with_for_update() if lock else query)).first()
    if row is None:
        raise not_found("strategy")
    return row


async def _name_free(session: AsyncSession, user: User, name: str) -> None:
    taken = await session.scalar(
        select(Strategy.id).where(Strategy.user_id == user.id, Strategy.name == name)
    )
    if taken is not None:
        raise HTTPException(409, f"you already have a strategy named '{name}'")


async def _out(session: AsyncSession, strategy: Strategy, runtime: Runtime) -> StrategyOut:
    # Summed here, not in SQL: SQLite would add the decimals as floats.
    realized = sum(
        await session.scalars(
            select(Position.realized_pnl).where(Position.opened_strategy_id == strategy.id)
        ),
        Decimal(0),
    )
    orders = await session.scalar(
        select(func.count()).select_from(Order).where(Order.strategy_id == strategy.id)
    )
    position = (
        await session.scalars(
            select(Position).where(
                Position.opened_strategy_id == strategy.id, Position.status == "open"
            )
        )
    ).first()
    return StrategyOut(
        **{
            k: getattr(strategy, k)
            for k in StrategyOut.model_fields
            if k not in ("realized_pnl", "position", "orders", "last_decision")
        },
        last_decision=_with_link(strategy.last_decision, runtime),
        realized_pnl=realized,
        position=OpenPosition.model_validate(position, from_attributes=True) if position else None,
        orders=int(orders or 0),
    )


def _with_link(decision: dict[str, Any] | None, runtime: Runtime) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {**decision, "workflow_url": runtime.settings.workflow_url(decision.get("workflow_id"))}


def _public(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    """The decision without the action workflow's start arguments (internal)."""
    if decision is None:
        return None
    return {k: v for k, v in decision.items() if k != "start"}


def _symbol(text: str) -> str:
    try:
        return normalize_symbol(text)
    except SymbolError as exc:
        raise HTTPException(422, str(exc)) from exc


def _refused(check: CodeCheck) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={
            "detail": check.summary,
            "problems": [p.model_dump() for p in check.problems],
        },
    )
