"""New closed candles and the market feed's status, pushed on /api/ws to every dashboard
(market data, shared by all users): {"topic": "candles", "data": [candle, ...]} and
{"topic": "feed", "data": <GET /api/feed>}.

The heartbeat may run in another process, so this reads the database: one loop per API
process, every two seconds while a dashboard is connected, two queries per tick."""

import asyncio
import contextlib
from typing import Any

from sqlalchemy import func, select

from api.push_loop import push_while
from db.models import CandleRow
from market.feed_status import read_feed_status
from trading.format import plain
from workers.runtime import Runtime

TICK_SECONDS = 2.0
# More new candles than this in one tick (a long backfill) are sent over the next ticks.
BATCH = 500

Queue = asyncio.Queue[dict[str, Any]]


def candle_json(row: CandleRow) -> dict[str, Any]:
    return {
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "open_time": row.open_time.isoformat(),
        "open": plain(row.open),
        "high": plain(row.high),
        "low": plain(row.low),
        "close": plain(row.close),
        "volume": plain(row.volume),
        "source": row.source,
    }


class CandleFeed:
    def __init__(self, runtime: Runtime, interval: float = TICK_SECONDS) -> None:
        self._runtime = runtime
        self._interval = interval
        self._watchers: set[Queue] = set()
        self._sent_status: dict[Queue, dict[str, Any]] = {}
        # Candles up to this id were seen; None: start from the newest when the loop starts.
        self._last_id: int | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, queue: Queue) -> None:
        self._watchers.add(queue)
        if self._task is None or self._task.done():
            self._last_id = None
            self._task = asyncio.create_task(self._run())

    def unwatch(self, queue: Queue) -> None:
        self._watchers.discard(queue)
        self._sent_status.pop(queue, None)
        if not self._watchers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        await push_while(lambda: bool(self._watchers), self._tick, self._interval, "candle")

    async def _tick(self) -> None:
        async with self._runtime.sessions() as session:
            if self._last_id is None:
                self._last_id = int(await session.scalar(select(func.max(CandleRow.id))) or 0)
            rows = list(
                await session.scalars(
                    select(CandleRow)
                    .where(CandleRow.id > self._last_id)
                    .order_by(CandleRow.id)
                    .limit(BATCH)
                )
            )
            status = await read_feed_status(session)
        if rows:
            self._last_id = rows[-1].id
            self._send({"topic": "candles", "data": [candle_json(r) for r in rows]})
        for queue in list(self._watchers):
            if self._sent_status.get(queue) != status:
                self._sent_status[queue] = status
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait({"topic": "feed", "data": status})

    def _send(self, message: dict[str, Any]) -> None:
        for queue in list(self._watchers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)
