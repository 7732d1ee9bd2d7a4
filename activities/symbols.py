"""The symbol catalog sync: the exchange's market list into the broker's catalog, in
chunks, with progress the dashboard shows live."""

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.errors import as_application_error, business_error
from activities.heartbeat import heartbeating
from db.base import utcnow
from db.events import emit
from db.models import SymbolSync
from db.session import SessionFactory
from exchanges.errors import ExchangeError
from exchanges.registry import BrokerNotFound, ConnectorRegistry
from trading.catalog import mark_delisted, store_markets
from workflows.inputs import SymbolSyncInput, SymbolSyncResult

# Rows per transaction: small enough that progress moves, large enough to stay quick.
CHUNK = 250


class SyncFailure(BaseModel):
    sync_id: int
    message: str


class SymbolActivities:
    def __init__(self, sessions: SessionFactory, connectors: ConnectorRegistry) -> None:
        self._sessions = sessions
        self._connectors = connectors

    @activity.defn
    async def sync_symbols(self, request: SymbolSyncInput) -> SymbolSyncResult:
        try:
            connector = await self._connectors.for_broker(request.broker_id)
            markets = sorted(
                (await heartbeating(connector.load_markets(reload=True))).values(),
                key=lambda m: m.symbol,
            )
        except BrokerNotFound as exc:
            raise business_error(str(exc), "BrokerNotFound") from exc
        except ExchangeError as exc:
            raise as_application_error(exc) from exc
        if not markets:
            # Maintenance can empty the list: delisting everything would refuse every order.
            raise business_error(
                "the exchange listed no tradable symbols (maintenance?): the catalog is kept",
                "EmptyCatalog",
            )
        started = utcnow()
        total, added = len(markets), 0
        async with self._sessions.begin() as session:
            await _progress(session, request, total=total, stored=0, added=0)
        for start in range(0, total, CHUNK):
            chunk = markets[start : start + CHUNK]
            async with self._sessions.begin() as session:
                added += await store_markets(session, request.broker_id, chunk, started)
                stored = start + len(chunk)
                await _progress(session, request, total=total, stored=stored, added=added)
            activity.heartbeat(stored)
        async with self._sessions.begin() as session:
            delisted = await mark_delisted(session, request.broker_id, started)
            await _progress(
                session, request, total=total, stored=total, added=added, delisted=delisted
            )
        return SymbolSyncResult(total=total, added=added, delisted=delisted)

    @activity.defn
    async def fail_symbol_sync(self, failure: SyncFailure) -> None:
        async with self._sessions.begin() as session:
            sync = await session.get(SymbolSync, failure.sync_id, with_for_update=True)
            if sync is not None:
                sync.status, sync.error, sync.finished_at = "error", failure.message, utcnow()
                await emit(session, sync.user_id, "symbol_sync", sync.id)


async def _progress(
    session: AsyncSession,
    request: SymbolSyncInput,
    *,
    total: int,
    stored: int,
    added: int,
    delisted: int | None = None,
) -> None:
    """Written with the chunk it reports on; `delisted` given means the sync is done."""
    sync = await session.get(SymbolSync, request.sync_id, with_for_update=True)
    if sync is None:
        return
    sync.total, sync.stored, sync.added = total, stored, added
    if delisted is not None:
        sync.status, sync.delisted, sync.finished_at = "done", delisted, utcnow()
    await emit(session, request.user_id, "symbol_sync", sync.id)
