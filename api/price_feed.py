"""Live prices of the users' open positions, pushed on /api/ws as {"topic": "prices",
"data": {broker_id: {symbol: price}}} (each broker's own exchange price): prices move
without any position row changing, so the `position` events alone would leave unrealized
P&L frozen.

One loop per API process, running only while a feed is open. Each tick costs one query
(the open symbols of every connected user) and one batched price lookup per broker;
a feed is sent its user's prices only when one of them changed."""

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from api.marks import Holding, mark_prices
from api.push_loop import push_while
from db.models import Position
from workers.runtime import Runtime

TICK_SECONDS = 2.0

Queue = asyncio.Queue[dict[str, Any]]


class PriceFeed:
    def __init__(self, runtime: Runtime, interval: float = TICK_SECONDS) -> None:
        self._runtime = runtime
        self._interval = interval
        self._watchers: dict[int, set[Queue]] = defaultdict(set)
        self._sent: dict[Queue, dict[str, dict[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, user_id: int, queue: Queue) -> None:
        self._watchers[user_id].add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def unwatch(self, user_id: int, queue: Queue) -> None:
        self._watchers[user_id].discard(queue)
        self._sent.pop(queue, None)
        if not self._watchers[user_id]:
            del self._watchers[user_id]
        if not self._watchers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        await push_while(lambda: bool(self._watchers), self._tick, self._interval, "price")

    async def _tick(self) -> None:
        users = list(self._watchers)
        async with self._runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(Position.user_id, Position.broker_id, Position.symbol)
                    .where(Position.status == "open", Position.user_id.in_(users))
                    .distinct()
                )
            ).all()
        held: dict[int, set[Holding]] = defaultdict(set)
        for user_id, broker_id, symbol in rows:
            held[user_id].add((broker_id, symbol))
        marks = await mark_prices(
            self._runtime, {h for holdings in held.values() for h in holdings}
        )
        for user_id, queues in list(self._watchers.items()):
            data: dict[str, dict[str, str]] = defaultdict(dict)
            for broker_id, symbol in sorted(held.get(user_id, ())):
                if (broker_id, symbol) in marks:
                    data[str(broker_id)][symbol] = str(marks[(broker_id, symbol)])
            for queue in list(queues):
                if not data or self._sent.get(queue) == data:
                    continue
                self._sent[queue] = dict(data)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait({"topic": "prices", "data": dict(data)})
