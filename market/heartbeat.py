"""The heartbeat: the market-data feed. It keeps the closed candles of every symbol and
timeframe in use stored (once each) and hands each new one, in order and without holes, to a
sink (the strategies).

- `binance`: Binance's combined kline stream; on every (re)connect, and whenever a closed
  candle arrives more than one interval after the previous one, the missing closed candles
  are backfilled from REST klines first.
- `simulated`: candles of the simulated market, made at the real interval boundaries and
  stored with source `simulated`.
- `auto`: Binance while it answers, the simulated market otherwise (Binance is tried again
  every minute).

A candle reaches the sink when this heartbeat stored it first: the database's uniqueness
(symbol, timeframe, open time) is the deduplication, so a backfill overlapping the stream,
or the stream repeating itself, delivers nothing twice."""

import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from loguru import logger
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from db.models import Strategy
from db.session import Sessions
from exchanges.errors import ExchangeError
from exchanges.symbols import SymbolError, normalize_symbol
from exchanges.types import Candle
from market.binance_public import BinancePublic
from market.candle_history import BinanceHistory, CandleHistory, SimulatedHistory, closed_after
from market.candle_store import latest, store_closed
from market.feed_status import FeedState, save_feed_status
from market.kline_stream import Backoff, KlineEvent, KlineStream, Stream
from market.source import INTERVAL_SECONDS, RETRY_BINANCE_AFTER

# A sink that does not answer within this is treated as failed (retried later).
SINK_TIMEOUT = 10.0
RETRY_SINK_AFTER = 5.0
# Candles kept for a failing sink, per stream (16 h of 1m candles); older ones are dropped.
MAX_PENDING = 1000
# `auto`: this many failed stream connections in a row and the simulated market takes over.
AUTO_GIVE_UP_AFTER = 3
# The simulated feed reports (and retries a failing sink) at least this often.
SIMULATED_WAKE = timedelta(seconds=5)
RESTART_AFTER_ERROR = 5.0


class CandleSink(Protocol):
    async def closed(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        """New closed candles of one market (unified symbol, BTC/USDT), oldest first. Raising
        keeps them for a later retry."""
        ...


class NullSink:
    async def closed(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        return None


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        await asyncio.sleep(max((when - self.now()).total_seconds(), 0.0))


def configured_streams(settings: Settings) -> list[Stream]:
    """ARISTOBOT_HEARTBEAT_SYMBOLS x ARISTOBOT_HEARTBEAT_TIMEFRAMES (bad entries skipped)."""
    symbols = []
    for raw in settings.heartbeat_symbols.split(","):
        if raw.strip():
            try:
                symbols.append(normalize_symbol(raw))
            except SymbolError as exc:
                logger.warning("heartbeat: ignoring configured symbol: {}", exc)
    timeframes = []
    for raw in settings.heartbeat_timeframes.split(","):
        timeframe = raw.strip()
        if timeframe in INTERVAL_SECONDS:
            timeframes.append(timeframe)
        elif timeframe:
            logger.warning("heartbeat: ignoring unknown timeframe {!r}", timeframe)
    return sorted({Stream(s, t) for s in symbols for t in timeframes})


async def strategy_streams(session: AsyncSession) -> set[Stream]:
    """The markets and timeframes active strategies trade."""
    rows = await session.execute(
        select(Strategy.symbol, Strategy.timeframe).where(Strategy.status == "active").distinct()
    )
    return {
        Stream(symbol, timeframe)
        for symbol, timeframe in rows.all()
        if symbol and timeframe in INTERVAL_SECONDS
    }


# Stored candles handed to the sink again when the heartbeat starts (see _book).
REANNOUNCE = 3
# Candles fetched at most to fill a hole left by a failed backfill, and how often it is
# tried while REST fails.
HOLE_LIMIT = 1000
HOLE_RETRY_SECONDS = 15.0


@dataclass
class _Book:
    """What the heartbeat knows of one stream."""

    # Open time of the newest closed candle stored (None: nothing stored yet).
    last_closed: datetime | None = None
    # Stored, not yet taken by the sink.
    pending: list[Candle] = field(default_factory=list)
    retry_at: float = 0.0
    failing: bool = False
    # Open time of the last candle before a gap the REST backfill could not fill yet: the
    # stream went on, the hole is filled (stored for charts and backtests) when REST answers.
    hole_after: datetime | None = None
    hole_retry_at: float = 0.0


class Heartbeat:
    def __init__(
        self,
        settings: Settings,
        sessions: Sessions,
        sink: CandleSink,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        follow_strategies: bool = True,
        status_every: float = 1.0,
        sink_retry: float = RETRY_SINK_AFTER,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._sink = sink
        self._clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._follow = follow_strategies
        self._status_every = status_every
        self._sink_retry = sink_retry
        self._defaults = configured_streams(settings)
        self._state = FeedState(mode="simulated" if settings.market == "simulated" else "binance")
        self._streams: list[Stream] = []
        self._by_name: dict[str, Stream] = {}
        self._books: dict[Stream, _Book] = {}
        self._connected_once = False
        self._fallback: str | None = None  # why `auto` runs simulated
        self._next_refresh = 0.0
        self._saved_at = float("-inf")
        self._dirty = False
        self._rest: BinancePublic | None = None
        self._binance: CandleHistory | None = None
        self._simulated = SimulatedHistory()

    def status(self) -> dict[str, Any]:
        return asdict(self._state)

    async def run(self) -> None:
        """The feed, until cancelled."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
            self._rest = BinancePublic(self._settings.binance_rest_url, client)
            self._binance = BinanceHistory(self._rest)
            try:
                while True:
                    try:
                        if await self._binance_chosen():
                            await self._run_binance()
                        else:
                            await self._run_simulated()
                    except Exception as exc:  # the database down, say: the feed must go on
                        logger.opt(exception=exc).warning(
                            "heartbeat: {}; starting over in a few seconds", exc
                        )
                        self._state.connected = False
                        self._state.error = f"market feed interrupted: {exc}"
                        with contextlib.suppress(SQLAlchemyError, OSError):
                            await self._report(now=True)
                        await asyncio.sleep(RESTART_AFTER_ERROR)
            finally:
                self._state.connected = False
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await self._report(now=True)

    # --- choosing the mode -----------------------------------------------------------

    async def _binance_chosen(self) -> bool:
        if self._settings.market == "simulated":
            return False
        if self._settings.market == "binance":
            return True
        return await self._binance_answers()

    async def _binance_answers(self) -> bool:
        assert self._rest is not None
        try:
            await self._rest.ping()
        except ExchangeError as exc:
            self._fallback = f"{exc.message}; using the simulated market"
            return False
        return True

    # --- Binance -----------------------------------------------------------------------

    async def _run_binance(self) -> None:
        """Returns only in `auto`, when the stream cannot be reached."""
        self._state.mode = "binance"
        self._backoff.reset()
        stream = KlineStream(
            self._settings.binance_ws_url,
            max_age=self._settings.heartbeat_reconnect_after,
            backoff=self._backoff,
        )
        await stream.run(self._wanted_streams, self)

    async def on_open(self, streams: list[Stream]) -> None:
        if self._connected_once:
            self._state.reconnects += 1
        self._connected_once = True
        self._use_streams(streams)
        self._state.connected, self._state.error, self._fallback = True, None, None
        logger.info("heartbeat: Binance stream connected ({})", ", ".join(self._by_name))
        await self._report(now=True)
        assert self._binance is not None
        for stream in streams:
            await self._backfill(stream, self._binance)
        await self._report()

    async def on_event(self, event: KlineEvent) -> None:
        stream = self._by_name.get(event.stream)
        if stream is None:
            return
        now = self._clock.now()
        self._state.last_message_at = now
        self._state.lag_ms = int((now - event.event_time).total_seconds() * 1000)
        if event.candle.closed:
            await self._closed_from_stream(stream, event.candle)
        await self._report()

    async def on_tick(self) -> bool:
        for stream in self._streams:
            await self._flush(stream)
            await self._fill_hole(stream)
        if self._dirty:
            await self._report()
        if self._follow and asyncio.get_running_loop().time() >= self._next_refresh:
            return await self._wanted_streams() != self._streams
        return False

    async def on_close(self, reason: str, *, planned: bool, failures: int, retry_in: float) -> bool:
        self._state.connected = False
        if planned:
            logger.info("heartbeat: reconnecting to Binance ({})", reason)
        elif self._settings.market == "auto" and failures >= AUTO_GIVE_UP_AFTER:
            self._fallback = f"Binance stream unreachable: {reason}; using the simulated market"
            return False
        else:
            self._state.error = f"Binance stream lost: {reason}; reconnecting in {retry_in:.0f} s"
            logger.warning("heartbeat: {}", self._state.error)
        await self._report(now=True)
        return True

    async def _closed_from_stream(self, stream: Stream, candle: Candle) -> None:
        book = await self._book(stream)
        if book.last_closed is not None and candle.open_time > book.last_closed + stream.interval:
            logger.info(
                "heartbeat: {} jumped from {} to {}; backfilling the gap",
                stream.name,
                book.last_closed,
                candle.open_time,
            )
            assert self._binance is not None
            before = book.last_closed
            await self._backfill(stream, self._binance)
            if (
                book.last_closed is not None
                and book.last_closed + stream.interval < candle.open_time
            ):
                book.hole_after = before if book.hole_after is None else book.hole_after
        await self._accept(stream, [candle], "binance")

    async def _fill_hole(self, stream: Stream) -> None:
        book = self._books.get(stream)
        if book is None or book.hole_after is None or self._binance is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < book.hole_retry_at:
            return
        book.hole_retry_at = loop.time() + HOLE_RETRY_SECONDS
        now = self._clock.now()
        try:
            # From the hole on, a page at a time (not "the newest page": a long outage).
            page = await self._binance.fetch(
                stream.symbol, stream.timeframe, book.hole_after + stream.interval, HOLE_LIMIT, now
            )
        except ExchangeError:
            return  # still unreachable: the next tick tries again
        candles = [c for c in page if c.closed and c.open_time + stream.interval <= now]
        async with self._sessions.begin() as session:
            added = await store_closed(session, stream.symbol, stream.timeframe, candles, "binance")
        self._state.backfilled += added
        newest = max((c.open_time for c in candles), default=None)
        more = len(page) >= HOLE_LIMIT and newest is not None
        book.hole_after = newest if more else None
        book.hole_retry_at = 0.0 if more else book.hole_retry_at
        logger.info("heartbeat: filled {} candle(s) of a gap in {}", added, stream.name)

    # --- the simulated market ------------------------------------------------------------

    async def _run_simulated(self) -> None:
        """Returns only in `auto`, once Binance answers again."""
        self._state.mode, self._state.connected = "simulated", False
        self._state.error = self._fallback
        logger.warning(
            "heartbeat: candles come from the simulated market{}",
            f" ({self._fallback})" if self._fallback else "",
        )
        streams = await self._wanted_streams()
        next_probe = self._clock.now() + timedelta(seconds=RETRY_BINANCE_AFTER)
        while True:
            # The wake-up is counted from here: a boundary passing during the work below
            # is not slept over.
            now = self._clock.now()
            self._use_streams(streams)
            for stream in streams:
                await self._backfill(stream, self._simulated)
                await self._flush(stream)
            self._state.last_message_at = self._clock.now()
            await self._report()
            if self._settings.market == "auto" and now >= next_probe:
                if await self._binance_answers():
                    logger.info("heartbeat: Binance answers again, leaving the simulated market")
                    return
                next_probe = now + timedelta(seconds=RETRY_BINANCE_AFTER)
            if self._follow and asyncio.get_running_loop().time() >= self._next_refresh:
                streams = await self._wanted_streams()
            wake = min([_next_close(s, now) for s in streams] + [now + SIMULATED_WAKE])
            if self._settings.market == "auto":
                wake = min(wake, next_probe)
            await self._clock.sleep_until(wake)

    # --- storing and delivering ----------------------------------------------------------

    async def _backfill(self, stream: Stream, history: CandleHistory) -> None:
        """Stores every closed candle after the newest stored one (on an empty store: the
        last `heartbeat_history`) and delivers the new ones."""
        book = await self._book(stream)
        try:
            candles = await closed_after(
                history,
                stream,
                book.last_closed,
                self._settings.heartbeat_history,
                self._clock.now(),
            )
        except ExchangeError as exc:
            # The stream goes on; the next gap check or reconnect tries again.
            self._state.error = f"could not backfill {stream.name}: {exc.message}"
            logger.warning("heartbeat: {}", self._state.error)
            return
        self._state.backfilled += len(await self._accept(stream, candles, history.source))
        await self._flush(stream)  # what a start re-announces, when nothing new came

    async def _accept(self, stream: Stream, candles: list[Candle], source: str) -> list[Candle]:
        """Stores the closed candles; those new and later than any before go to the sink."""
        closed = [c for c in candles if c.closed]
        if not closed:
            return []
        book = await self._book(stream)
        new = []
        async with self._sessions.begin() as session:
            for candle in closed:
                if await store_closed(session, stream.symbol, stream.timeframe, [candle], source):
                    new.append(candle)
        after = book.last_closed
        fresh = [c for c in new if after is None or c.open_time > after]
        newest = max(c.open_time for c in closed)
        book.last_closed = newest if after is None else max(after, newest)
        if fresh:
            close_time = fresh[-1].open_time + stream.interval
            last = self._state.last_closed_at
            self._state.last_closed_at = close_time if last is None else max(last, close_time)
            book.pending.extend(fresh)
            if len(book.pending) > MAX_PENDING:
                dropped = len(book.pending) - MAX_PENDING
                del book.pending[:dropped]
                logger.error("heartbeat: {} candles of {} never reached the sink", dropped, stream)
            await self._flush(stream)
        return new

    async def _flush(self, stream: Stream) -> None:
        """Hands the stream's pending candles to the sink; keeps them if it fails."""
        book = self._books.get(stream)
        loop = asyncio.get_running_loop()
        if book is None or not book.pending or loop.time() < book.retry_at:
            return
        batch = list(book.pending)
        try:
            await asyncio.wait_for(
                self._sink.closed(stream.symbol, stream.timeframe, batch), SINK_TIMEOUT
            )
        except Exception as exc:  # the sink's outage must not stop the feed
            book.retry_at = loop.time() + self._sink_retry
            if not book.failing:
                logger.warning(
                    "heartbeat: could not hand {} candle(s) of {} to the strategies ({}); "
                    "they are kept and retried",
                    len(batch),
                    stream.name,
                    exc,
                )
            book.failing = True
            return
        del book.pending[: len(batch)]
        book.failing, book.retry_at = False, 0.0

    async def _book(self, stream: Stream) -> _Book:
        book = self._books.get(stream)
        if book is None:
            async with self._sessions() as session:
                rows = await latest(session, stream.symbol, stream.timeframe, REANNOUNCE)
            # The newest stored candles are handed on again at start: a process that stored
            # them but stopped before the sink took them must not make the strategies miss
            # them. The runner skips those it has already evaluated.
            book = self._books[stream] = _Book(
                last_closed=rows[-1].open_time if rows else None,
                pending=[
                    Candle(
                        open_time=r.open_time,
                        open=r.open,
                        high=r.high,
                        low=r.low,
                        close=r.close,
                        volume=r.volume,
                        closed=True,
                    )
                    for r in rows
                ],
            )
        return book

    # --- streams and status --------------------------------------------------------------

    async def _wanted_streams(self) -> list[Stream]:
        wanted = set(self._defaults)
        if self._follow:
            try:
                async with self._sessions() as session:
                    wanted |= await strategy_streams(session)
            except SQLAlchemyError as exc:
                logger.warning("heartbeat: could not read the active strategies: {}", exc)
                wanted |= set(self._streams)
            loop = asyncio.get_running_loop()
            self._next_refresh = loop.time() + self._settings.heartbeat_strategy_refresh
        return sorted(wanted)

    def _use_streams(self, streams: list[Stream]) -> None:
        self._streams = list(streams)
        self._by_name = {s.name: s for s in streams}
        self._state.streams = list(self._by_name)

    async def _report(self, *, now: bool = False) -> None:
        """Writes the status to the database: at once when `now`, else at most once per
        `status_every` (a later call writes what is left)."""
        self._dirty = True
        loop = asyncio.get_running_loop()
        if not now and loop.time() - self._saved_at < self._status_every:
            return
        self._state.details = {
            "configured": self._settings.market,
            "pending": {s.name: len(b.pending) for s, b in self._books.items() if b.pending},
        }
        self._saved_at, self._dirty = loop.time(), False
        await save_feed_status(self._sessions, self._state)


def _next_close(stream: Stream, now: datetime) -> datetime:
    seconds = int(stream.interval.total_seconds())
    opened = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(opened + seconds, UTC)
