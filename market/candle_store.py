"""Closed candles in the database: stored once each (a stream and a backfill may both bring
the same one), read back newest last. Only closed candles are kept: they are what strategies
and backtests see."""

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CandleRow
from db.upsert import insert_ignore
from exchanges.types import Candle

# Binance's kline intervals: what the feed can stream.
Timeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"]
TIMEFRAMES: tuple[str, ...] = get_args(Timeframe)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def timeframe_seconds(timeframe: str) -> int:
    """1m -> 60, 4h -> 14400."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}: one of {', '.join(TIMEFRAMES)}")
    return int(timeframe[:-1]) * _UNIT_SECONDS[timeframe[-1]]


async def store_closed(
    session: AsyncSession, symbol: str, timeframe: str, candles: list[Candle], source: str
) -> int:
    """Stores the closed ones not stored yet; returns how many were new."""
    added = 0
    for candle in candles:
        if not candle.closed:
            continue
        added += await insert_ignore(
            session,
            CandleRow,
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "open_time": candle.open_time,
                "open": candle.open,
                "high": candle.high,
                "low": candle.low,
                "close": candle.close,
                "volume": candle.volume,
                "source": source,
            },
            ["symbol", "timeframe", "open_time"],
        )
    return added


async def latest(session: AsyncSession, symbol: str, timeframe: str, limit: int) -> list[CandleRow]:
    """The last `limit` stored candles, oldest first."""
    rows = await session.scalars(
        select(CandleRow)
        .where(CandleRow.symbol == symbol, CandleRow.timeframe == timeframe)
        .order_by(CandleRow.open_time.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


async def until(
    session: AsyncSession, symbol: str, timeframe: str, last: datetime, limit: int
) -> list[CandleRow]:
    """The `limit` stored candles up to and including the one opened at `last`, oldest
    first: what a strategy evaluated on that candle sees."""
    rows = await session.scalars(
        select(CandleRow)
        .where(
            CandleRow.symbol == symbol,
            CandleRow.timeframe == timeframe,
            CandleRow.open_time <= last,
        )
        .order_by(CandleRow.open_time.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
