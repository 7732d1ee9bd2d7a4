"""Closed candles after a given one, from Binance's REST klines or from the simulated market:
what the heartbeat backfills with (and, offline, how it makes its candles at all)."""

import asyncio
from datetime import datetime
from typing import Protocol

from exchanges.types import Candle
from market.binance_public import BinancePublic
from market.kline_stream import Stream
from market.simulated import simulated_candles

# One REST page. A longer gap is not filled from its start: the newest page is loaded (a
# strategy wants the recent market, not three weeks of replay).
MAX_BACKFILL = 1000


class CandleHistory(Protocol):
    source: str  # recorded on each stored candle: binance | simulated

    async def fetch(
        self, symbol: str, timeframe: str, since: datetime | None, limit: int, now: datetime
    ) -> list[Candle]:
        """Candles oldest first from `since` (the newest `limit` when None)."""
        ...


def plan(
    stream: Stream, after: datetime | None, first_start: int, now: datetime
) -> tuple[datetime | None, int]:
    """Where to start and how many to ask for to get every candle closed after `after`."""
    if after is None:
        return None, first_start + 1  # +1: the newest is usually still open
    since = after + stream.interval
    missing = int((now - since) / stream.interval) + 1
    if missing > MAX_BACKFILL:
        return None, MAX_BACKFILL
    return since, missing + 1


async def closed_after(
    history: CandleHistory,
    stream: Stream,
    after: datetime | None,
    first_start: int,
    now: datetime,
) -> list[Candle]:
    """Every candle of `stream` closed by `now` and opened after `after` (oldest first); when
    nothing is stored yet (`after` None), the last `first_start` closed ones."""
    if after is not None and after + 2 * stream.interval > now:
        return []  # the next one has not closed yet
    since, limit = plan(stream, after, first_start, now)
    candles = await history.fetch(stream.symbol, stream.timeframe, since, limit, now)
    closed = [
        c
        for c in sorted(candles, key=lambda c: c.open_time)
        if c.closed
        and c.open_time + stream.interval <= now
        and (after is None or c.open_time > after)
    ]
    return closed[-first_start:] if after is None else closed


class BinanceHistory:
    source = "binance"

    def __init__(self, rest: BinancePublic) -> None:
        self._rest = rest

    async def fetch(
        self, symbol: str, timeframe: str, since: datetime | None, limit: int, now: datetime
    ) -> list[Candle]:
        return await self._rest.candles(symbol, timeframe, since, min(limit, MAX_BACKFILL))


class SimulatedHistory:
    source = "simulated"

    async def fetch(
        self, symbol: str, timeframe: str, since: datetime | None, limit: int, now: datetime
    ) -> list[Candle]:
        seconds = int(Stream(symbol, timeframe).interval.total_seconds())
        # Hundreds of candles of the walk take a second of CPU: not on the event loop.
        return await asyncio.to_thread(simulated_candles, symbol, seconds, since, limit, now)
