"""Live push: tails the `events` outbox and sends each change to its user's WebSockets.

Worker processes write events in the same transaction as the change; this hub (one per API
process) reads them in order. On PostgreSQL a LISTEN connection wakes it at once; SQLite
has no notifications, so it polls the table (server-side, every 200 ms)."""

import asyncio
import contextlib
from collections import defaultdict
from datetime import timedelta
from typing import Any

import psycopg
from loguru import logger
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from api.schemas import OrderOut, PositionOut, SymbolSyncOut, WebhookOut
from db.base import utcnow
from db.events import CHANNEL
from db.models import Event, Order, Position, SymbolSync, Webhook
from db.session import sync_url
from workers.runtime import Runtime

POLL_SQLITE = 0.2
POLL_WITH_NOTIFY = 2.0
KEEP_EVENTS = timedelta(hours=6)
QUEUE_SIZE = 1000
# PostgreSQL hands out ids at insert but transactions commit in any order: an id skipped
# by the tail may still appear. Skipped ids are looked for again for this long.
GAP_WAIT = 10.0
MAX_GAPS = 1000


class EventHub:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._subscribers: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_id = 0
        self._gaps: dict[int, float] = {}  # skipped id -> when it was first missed

    def subscribe(self, user_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[user_id].add(queue)
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers[user_id].discard(queue)
        if not self._subscribers[user_id]:
            del self._subscribers[user_id]

    async def start(self) -> None:
        async with self._runtime.sessions() as session:
            self._last_id = int(await session.scalar(select(func.max(Event.id))) or 0)
        self._tasks.append(asyncio.create_task(self._tail()))
        if self._runtime.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        url = make_url(sync_url(self._runtime.settings.resolved_database_url))
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError) as exc:
                logger.warning("event LISTEN connection lost ({}); retrying", exc)
                await asyncio.sleep(1)

    async def _tail(self) -> None:
        interval = (
            POLL_SQLITE if self._runtime.engine.dialect.name == "sqlite" else POLL_WITH_NOTIFY
        )
        last_prune = utcnow()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            try:
                await self._deliver_new()
                if utcnow() - last_prune > timedelta(minutes=10):
                    await self._prune()
                    last_prune = utcnow()
            except Exception as exc:  # keep tailing whatever one batch did
                logger.exception("event delivery failed: {}", exc)
                await asyncio.sleep(1)

    async def _deliver_new(self) -> None:
        now = asyncio.get_running_loop().time()
        self._gaps = {i: seen for i, seen in self._gaps.items() if now - seen < GAP_WAIT}
        floor = min(self._gaps, default=self._last_id + 1) - 1
        async with self._runtime.sessions() as session:
            events = list(
                await session.scalars(
                    select(Event).where(Event.id > floor).order_by(Event.id).limit(500)
                )
            )
            for event in events:
                if event.id <= self._last_id:
                    if self._gaps.pop(event.id, None) is None:
                        continue  # sent already
                else:
                    missing = range(max(self._last_id + 1, event.id - MAX_GAPS), event.id)
                    self._gaps.update(dict.fromkeys(missing, now))
                    self._last_id = event.id
                await self._send(session, event)
        if len(events) == 500:
            self._wake.set()

    async def _send(self, session: Any, event: Event) -> None:
        if event.user_id not in self._subscribers:
            return
        data = await self._load(session, event)
        if data is None:
            return
        message = {"topic": event.topic, "data": data}
        for queue in list(self._subscribers.get(event.user_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    async def _load(self, session: Any, event: Event) -> dict[str, Any] | None:
        resource_id = event.payload.get("id")
        settings = self._runtime.settings
        if event.topic == "webhook":
            webhook = await session.get(Webhook, resource_id)
            if webhook is None or webhook.user_id != event.user_id:
                return None
            return WebhookOut.of(webhook, settings).model_dump(mode="json")
        if event.topic == "order":
            order = await session.get(Order, resource_id)
            if order is None or order.user_id != event.user_id:
                return None
            return OrderOut.of(order, settings).model_dump(mode="json")
        if event.topic == "position":
            position = await session.get(Position, resource_id)
            if position is None or position.user_id != event.user_id:
                return None
            # No live price: an exchange call here would stall every user's events behind a
            # slow exchange and spend rate limit per event. The dashboard prices open
            # positions from the `prices` push (api/price_feed.py).
            return PositionOut.of(position, None).model_dump(mode="json")
        if event.topic == "symbol_sync":
            sync = await session.get(SymbolSync, resource_id)
            if sync is None or sync.user_id != event.user_id:
                return None
            return SymbolSyncOut.of(sync, settings).model_dump(mode="json")
        return {"id": resource_id}

    async def _prune(self) -> None:
        async with self._runtime.sessions.begin() as session:
            await session.execute(delete(Event).where(Event.created_at < utcnow() - KEEP_EVENTS))
