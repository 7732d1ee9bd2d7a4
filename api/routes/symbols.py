"""/api/brokers/{id}/symbols: the broker's symbol catalog, its sync and search."""

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.decimal_json import DecimalRoute
from api.deps import CurrentUser, RuntimeDep, SessionDep, TemporalDep, not_found
from api.routes.brokers import owned_broker
from api.schemas import Page, SymbolOut, SymbolSyncOut
from api.temporal_link import TemporalUnavailable
from db.base import utcnow
from db.events import emit
from db.models import MarketRow, SymbolSync
from workflows.inputs import SYMBOL_SYNC, SymbolSyncInput, symbol_sync_workflow_id
from workflows.search_attributes import order_attributes

router = APIRouter(prefix="/api/brokers", tags=["symbols"], route_class=DecimalRoute)

# A sync still "running" after this long lost its worker: another may start (Temporal
# still refuses it while the broker's sync workflow is open).
STALE_SYNC = timedelta(minutes=20)


@router.get("/{broker_id}/symbols", response_model=Page[SymbolOut])
async def search_symbols(
    broker_id: int,
    user: CurrentUser,
    session: SessionDep,
    q: str = Query(default="", max_length=40, description="part of the symbol, e.g. BTC or SOL/"),
    active: bool = True,
    quote: str | None = Query(
        default=None,
        max_length=20,
        pattern=r"^[A-Za-z0-9]*$",
        description="only markets quoted in this asset, e.g. USDT or USDC (absent: all)",
    ),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> Page[SymbolOut]:
    await owned_broker(user, session, broker_id)
    query = select(MarketRow).where(MarketRow.broker_id == broker_id)
    if active:
        query = query.where(MarketRow.active.is_(True))
    if quote:
        query = query.where(MarketRow.quote == quote.upper())
    text = q.strip().upper()
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(MarketRow.symbol.like(pattern), MarketRow.exchange_symbol.like(pattern))
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    # Exact base matches first (BTC before WBTC), then alphabetical.
    rows = await session.scalars(
        query.order_by((MarketRow.base != text), MarketRow.symbol).limit(limit).offset(offset)
    )
    return Page(items=[SymbolOut.of(r) for r in rows], total=total or 0, limit=limit, offset=offset)


@router.get("/{broker_id}/symbols/sync", response_model=SymbolSyncOut)
async def latest_sync(
    broker_id: int, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> SymbolSyncOut:
    await owned_broker(user, session, broker_id)
    sync = await _latest(session, broker_id)
    if sync is None:
        raise not_found("symbol sync")
    return SymbolSyncOut.of(sync, runtime.settings)


@router.post(
    "/{broker_id}/symbols/sync",
    response_model=SymbolSyncOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_sync(
    broker_id: int, user: CurrentUser, runtime: RuntimeDep, temporal: TemporalDep
) -> SymbolSyncOut:
    # Explicit short transactions: the Temporal call must not hold the database's write turn.
    async with runtime.sessions.begin() as session:
        broker = await owned_broker(user, session, broker_id)
        running = await _latest(session, broker_id)
        if (
            running is not None
            and running.status == "running"
            and utcnow() - running.started_at < STALE_SYNC
        ):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"a symbol sync of '{broker.name}' is already running"
                f" ({running.stored}/{running.total})",
            )
        try:
            client = temporal.client
        except TemporalUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
        sync = SymbolSync(broker_id=broker.id, user_id=user.id, status="running")
        session.add(sync)
        await session.flush()
        sync.workflow_id = symbol_sync_workflow_id(broker.id)
        await emit(session, user.id, "symbol_sync", sync.id)
    try:
        await client.start_workflow(
            SYMBOL_SYNC,
            SymbolSyncInput(sync_id=sync.id, broker_id=broker.id, user_id=user.id),
            id=sync.workflow_id,
            task_queue=runtime.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=order_attributes(
                user=user.username,
                broker_id=broker.id,
                symbol=None,
                action="SyncSymbols",
                source="dashboard",
            ),
            execution_timeout=timedelta(minutes=30),
        )
    except WorkflowAlreadyStartedError:
        await _not_started(runtime, sync, "another sync of this broker is running")
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"a symbol sync of '{broker.name}' is already running"
        ) from None
    except Exception as exc:  # the sync row must not stay "running" forever
        await _not_started(runtime, sync, f"not started: {exc}")
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the sync could not start: {exc}"
        ) from exc
    return SymbolSyncOut.of(sync, runtime.settings)


async def _not_started(runtime: RuntimeDep, sync: SymbolSync, reason: str) -> None:
    async with runtime.sessions.begin() as session:
        row = await session.get(SymbolSync, sync.id)
        if row is not None:
            row.status, row.error, row.finished_at = "error", reason, utcnow()
            await emit(session, row.user_id, "symbol_sync", row.id)


async def _latest(session: AsyncSession, broker_id: int) -> SymbolSync | None:
    return (
        await session.scalars(
            select(SymbolSync)
            .where(SymbolSync.broker_id == broker_id)
            .order_by(SymbolSync.id.desc())
            .limit(1)
        )
    ).first()
