"""The heartbeat (market feed): Binance's kline stream and REST klines (fakes with the real
formats) or the simulated market → closed candles stored once each and handed to the sink
once each, in order, without holes; its status for the API."""

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import delete, select

from api.sessions import COOKIE_NAME
from config.settings import Settings
from db.base import utcnow
from db.models import CandleRow, FeedStatus, Strategy, User
from db.session import Sessions, create_engine, create_session_factory
from exchanges.types import Candle
from market.candle_store import store_closed
from market.feed_status import FeedState, save_feed_status
from market.heartbeat import Heartbeat, configured_streams, strategy_streams
from market.kline_stream import Backoff, Stream, parse_message, stream_url
from market.simulated import simulated_candles
from tests.conftest import ApiUser, free_port
from tests.fakes.binance_market import MarketState, create_app
from tests.fakes.binance_stream import FakeKlineStream, kline_message, kline_row
from tests.fakes.server import LoopbackServer
from workers.stack import Stack

T0 = datetime(2025, 6, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUICK = Backoff(initial=0.01, cap=0.05)


class ManualClock:
    """Wall-clock time set by the test; sleepers wake when it passes their time."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self.at

    async def sleep_until(self, when: datetime) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self.at >= when)

    async def set(self, at: datetime) -> None:
        async with self._moved:
            self.at = at
            self._moved.notify_all()


class RecordingSink:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str, str, list[datetime]]] = []
        self.candles: dict[datetime, Candle] = {}
        self._failures = failures

    async def closed(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        if self._failures:
            self._failures -= 1
            raise RuntimeError("Temporal is not reachable")
        self.calls.append((symbol, timeframe, [c.open_time for c in candles]))
        self.candles.update({c.open_time: c for c in candles})

    def delivered(self, timeframe: str = "1m") -> list[datetime]:
        return [t for _, tf, times in self.calls if tf == timeframe for t in times]


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def minutes(*indexes: int) -> list[datetime]:
    return [T0 + i * MINUTE for i in indexes]


def row(i: int) -> list[Any]:
    """The i-th 1m candle of the test market (100.0, 101.0, ... plus a wick)."""
    return kline_row(
        ms(T0 + i * MINUTE), "1m", f"{100 + i}.0", f"{100 + i}.5", f"{99 + i}.5", f"{100 + i}.25"
    )


def new_symbol(prefix: str) -> tuple[str, str]:
    base = f"{prefix}{secrets.token_hex(3).upper()}"
    return f"{base}USDT", f"{base}/USDT"


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def binance() -> AsyncIterator[tuple[MarketState, str, FakeKlineStream]]:
    state = MarketState()
    rest = await LoopbackServer(create_app(state)).start()
    stream = await FakeKlineStream().start()
    yield state, rest.url, stream
    await stream.stop()
    await rest.stop()


def feed_settings(database_url: str, rest: str, ws: str, symbol: str, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "market": "binance",
        "binance_rest_url": rest,
        "binance_ws_url": ws,
        "heartbeat_symbols": symbol,
        "heartbeat_timeframes": "1m",
        **more,
    }
    return Settings(**values)


def stream_feed(
    database_url: str,
    sessions: Sessions,
    rest: str,
    stream: FakeKlineStream,
    exchange: str,
    sink: "RecordingSink",
    clock: "ManualClock",
    **options: Any,
) -> Heartbeat:
    """A heartbeat on the fakes, streaming `exchange` 1m only, status written at once."""
    return Heartbeat(
        feed_settings(database_url, rest, stream.url, exchange),
        sessions,
        sink,
        clock=clock,
        follow_strategies=False,
        status_every=0,
        **options,
    )


@contextlib.asynccontextmanager
async def running(heartbeat: Heartbeat) -> AsyncIterator[None]:
    task = asyncio.create_task(heartbeat.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stored(sessions: Sessions, symbol: str, timeframe: str = "1m") -> list[CandleRow]:
    async with sessions() as session:
        rows = await session.scalars(
            select(CandleRow)
            .where(CandleRow.symbol == symbol, CandleRow.timeframe == timeframe)
            .order_by(CandleRow.open_time)
        )
        return list(rows)


async def feed_row(sessions: Sessions) -> FeedStatus:
    async with sessions() as session:
        row = await session.get(FeedStatus, "heartbeat")
        assert row is not None
        return row


def test_kline_messages_and_stream_urls_have_binances_format() -> None:
    raw = kline_message("BNBBTC", "1m", row(3), closed=True, event_ms=ms(T0) + 250_000)
    event = parse_message(json.dumps(raw))
    assert event is not None
    assert (event.stream, event.event_time) == ("bnbbtc@kline_1m", T0 + timedelta(seconds=250))
    assert event.candle == Candle(
        open_time=T0 + 3 * MINUTE,
        open=D("103.0"),
        high=D("103.5"),
        low=D("102.5"),
        close=D("103.25"),
        volume=D("1.5"),
        closed=True,
    )
    assert parse_message('{"result": null, "id": 1}') is None
    streams = [Stream("BTC/USDT", "1m"), Stream("BTC/USDT", "4h")]
    assert stream_url("wss://stream.binance.com:9443/", streams) == (
        "wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/btcusdt@kline_4h"
    )
    assert [s.name for s in configured_streams(Settings())] == [
        f"btcusdt@kline_{tf}" for tf in ("15m", "1h", "1m", "3m", "4h", "5m")
    ]


async def test_stream_candles_are_stored_and_delivered_once_in_order(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
) -> None:
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    history = [row(i) for i in range(11)]  # 0-9 closed, 10 still open
    state.klines[(exchange, "1m")] = history
    clock = ManualClock(T0 + 10 * MINUTE + timedelta(seconds=5))
    sink = RecordingSink()
    heartbeat = stream_feed(database_url, sessions, rest, stream, exchange, sink, clock)
    async with running(heartbeat):
        await stream.wait_connections(1)
        # First start, nothing stored: the recent history (here all 10 closed candles).
        await until(lambda: len(sink.calls) == 1)
        assert sink.calls == [(symbol, "1m", minutes(*range(10)))]
        assert stream.requested == [[f"{exchange.lower()}@kline_1m"]]
        assert await stream.ping() == 1  # Binance's pings are answered
        assert state.kline_requests[0] == {
            "symbol": exchange,
            "interval": "1m",
            "startTime": None,
            "limit": 241,
        }

        # An update of the open candle: reported (lag), neither stored nor delivered.
        now = ms(clock.now())
        assert await stream.push(exchange, "1m", history[10], closed=False, event_ms=now - 250)
        await until(lambda: heartbeat.status()["lag_ms"] == 250)
        assert len(await stored(sessions, symbol)) == 10

        # It closes: stored and delivered.
        await clock.set(T0 + 11 * MINUTE + timedelta(milliseconds=100))
        now = ms(clock.now())
        await stream.push(exchange, "1m", history[10], closed=True, event_ms=now - 100)
        await until(lambda: len(sink.calls) == 2)
        assert sink.calls[1] == (symbol, "1m", minutes(10))
        assert sink.candles[T0 + 10 * MINUTE].close == D("110.25")

        # Binance sending the same closed candle again delivers nothing.
        await stream.push(exchange, "1m", history[10], closed=True, event_ms=now - 60)
        await stream.push(exchange, "1m", row(11), closed=False, event_ms=now - 40)
        await until(lambda: heartbeat.status()["lag_ms"] == 40)
        assert len(sink.calls) == 2

        rows = await stored(sessions, symbol)
        assert [r.open_time for r in rows] == minutes(*range(11))
        assert {r.source for r in rows} == {"binance"}
        assert (rows[10].open, rows[10].high, rows[10].low, rows[10].close, rows[10].volume) == (
            D("110"),
            D("110.5"),
            D("109.5"),
            D("110.25"),
            D("1.5"),
        )
        status = await feed_row(sessions)
        assert (status.mode, status.connected, status.streams) == (
            "binance",
            True,
            [f"{exchange.lower()}@kline_1m"],
        )
        assert (status.lag_ms, status.reconnects, status.backfilled, status.error) == (
            40,
            0,
            10,
            None,
        )
        assert status.last_message_at == clock.now()
        assert status.last_closed_at == T0 + 11 * MINUTE
    assert (await feed_row(sessions)).connected is False


async def test_a_dropped_connection_and_skipped_candles_are_backfilled_once(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
) -> None:
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    history = state.klines[(exchange, "1m")] = [row(i) for i in range(11)]
    clock = ManualClock(T0 + 10 * MINUTE + timedelta(seconds=5))
    sink = RecordingSink()
    heartbeat = stream_feed(
        database_url, sessions, rest, stream, exchange, sink, clock, backoff=QUICK
    )
    async with running(heartbeat):
        await stream.wait_connections(1)
        await until(lambda: sink.delivered() == minutes(*range(10)))
        await clock.set(T0 + 11 * MINUTE + timedelta(seconds=1))
        await stream.push(exchange, "1m", history[10], closed=True, event_ms=ms(clock.now()))
        await until(lambda: sink.delivered() == minutes(*range(11)))

        # The link drops; meanwhile candles 11 and 12 close, which the stream never sends.
        history += [row(11), row(12), row(13)]
        await clock.set(T0 + 13 * MINUTE + timedelta(seconds=1))
        stream.drop()
        await stream.wait_connections(2)
        await until(lambda: sink.delivered() == minutes(*range(13)))
        assert sink.calls[-1] == (symbol, "1m", minutes(11, 12))
        assert state.kline_requests[-1]["startTime"] == ms(T0 + 11 * MINUTE)

        # The stream repeats 12 (nothing new), then 13 closes.
        await stream.push(exchange, "1m", history[12], closed=True, event_ms=ms(clock.now()))
        await clock.set(T0 + 14 * MINUTE + timedelta(seconds=1))
        await stream.push(exchange, "1m", history[13], closed=True, event_ms=ms(clock.now()))
        await until(lambda: sink.delivered() == minutes(*range(14)))
        assert sink.calls[-1] == (symbol, "1m", minutes(13))

        # The stream skips 14 and sends 15: the gap is filled from REST before 15 goes out.
        history += [row(14), row(15)]
        await clock.set(T0 + 16 * MINUTE + timedelta(seconds=1))
        await stream.push(exchange, "1m", history[15], closed=True, event_ms=ms(clock.now()))
        await until(lambda: sink.delivered() == minutes(*range(16)))
        assert sink.calls[-1] == (symbol, "1m", minutes(14, 15))

        # Each closed candle reached the sink exactly once, and is stored once.
        assert len(sink.delivered()) == len(set(sink.delivered())) == 16
        assert [r.open_time for r in await stored(sessions, symbol)] == minutes(*range(16))
        status = heartbeat.status()
        assert (status["reconnects"], status["backfilled"], status["connected"]) == (1, 14, True)


async def test_a_gap_rest_cannot_fill_yet_is_filled_later(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stream skips a candle while REST klines fail: the next candle still goes out
    (strategies need fresh data), and the hole is stored once REST answers again."""
    monkeypatch.setattr("market.heartbeat.HOLE_RETRY_SECONDS", 0.1)
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    history = state.klines[(exchange, "1m")] = [row(i) for i in range(3)]
    clock = ManualClock(T0 + 3 * MINUTE + timedelta(seconds=1))
    sink = RecordingSink()
    heartbeat = stream_feed(database_url, sessions, rest, stream, exchange, sink, clock)
    async with running(heartbeat):
        await stream.wait_connections(1)
        await until(lambda: sink.delivered() == minutes(0, 1, 2))
        history += [row(3), row(4)]
        state.kline_failures = 1000
        await clock.set(T0 + 5 * MINUTE + timedelta(seconds=1))
        await stream.push(exchange, "1m", history[4], closed=True, event_ms=ms(clock.now()))
        await until(lambda: sink.delivered() == minutes(0, 1, 2, 4))
        assert "could not backfill" in (heartbeat.status()["error"] or "")
        state.kline_failures = 0

        async def filled() -> bool:
            return [r.open_time for r in await stored(sessions, symbol)] == minutes(*range(5))

        deadline = asyncio.get_running_loop().time() + 10
        while not await filled():
            assert asyncio.get_running_loop().time() < deadline, "the hole was not filled"
            await asyncio.sleep(0.05)
    # Filled for charts and backtests; too late to hand to strategies.
    assert sink.delivered() == minutes(0, 1, 2, 4)


async def test_a_failing_sink_gets_the_candles_later_in_order(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
) -> None:
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    history = state.klines[(exchange, "1m")] = [row(i) for i in range(4)]
    clock = ManualClock(T0 + 3 * MINUTE + timedelta(seconds=5))
    sink = RecordingSink(failures=2)
    heartbeat = stream_feed(
        database_url, sessions, rest, stream, exchange, sink, clock, sink_retry=0.05
    )
    async with running(heartbeat):
        await stream.wait_connections(1)
        await until(lambda: sink.delivered() == minutes(0, 1, 2))
        await clock.set(T0 + 4 * MINUTE)
        await stream.push(exchange, "1m", history[3], closed=True, event_ms=ms(clock.now()))
        await until(lambda: sink.delivered() == minutes(0, 1, 2, 3))
    assert sink.calls == [(symbol, "1m", minutes(0, 1, 2)), (symbol, "1m", minutes(3))]


async def test_a_restart_hands_on_the_newest_stored_candles_again(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
) -> None:
    """A heartbeat that stored candles but stopped while the sink was down (Temporal
    unreachable) must not make the strategies miss them: the next start hands the newest
    stored ones on again (the runner skips those it has evaluated)."""
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    state.klines[(exchange, "1m")] = [row(i) for i in range(5)]
    clock = ManualClock(T0 + 5 * MINUTE + timedelta(seconds=5))
    settings = feed_settings(database_url, rest, stream.url, exchange)
    down = RecordingSink(failures=10**6)
    first = Heartbeat(settings, sessions, down, clock=clock, follow_strategies=False)
    async with running(first):
        await stream.wait_connections(1)
        await until(lambda: len([r for r in state.kline_requests if r["symbol"] == exchange]) == 1)
        await until(lambda: first.status()["backfilled"] == 5)
    assert down.calls == []
    assert len(await stored(sessions, symbol)) == 5

    sink = RecordingSink()
    second = Heartbeat(settings, sessions, sink, clock=clock, follow_strategies=False)
    async with running(second):
        await stream.wait_connections(2)
        await until(lambda: sink.delivered() == minutes(2, 3, 4))
    assert len(await stored(sessions, symbol)) == 5


async def test_it_reconnects_before_the_24_h_cut_and_when_strategies_need_new_streams(
    database_url: str,
    sessions: Sessions,
    binance: tuple[MarketState, str, FakeKlineStream],
) -> None:
    state, rest, stream = binance
    exchange, symbol = new_symbol("HB")
    state.klines[(exchange, "1m")] = [row(i) for i in range(3)]
    sink = RecordingSink()
    settings = feed_settings(
        database_url,
        rest,
        stream.url,
        exchange,
        heartbeat_reconnect_after=0.3,
        heartbeat_strategy_refresh=0.1,
    )
    clock = ManualClock(T0 + 3 * MINUTE)
    heartbeat = Heartbeat(settings, sessions, sink, clock=clock, status_every=0)
    async with running(heartbeat):
        # Well before Binance would cut it, the connection is renewed: no backoff, no gap.
        await stream.wait_connections(3)
        await until(lambda: heartbeat.status()["reconnects"] >= 2)
        assert sink.calls == [(symbol, "1m", minutes(0, 1, 2))]

        # A strategy goes live on a 15m market: the stream list follows.
        traded_exchange, traded = new_symbol("ST")
        state.klines[(traded_exchange, "15m")] = []
        async with sessions.begin() as session:
            owner = User(username=f"hb-{secrets.token_hex(4)}", password_hash="x")
            session.add(owner)
            await session.flush()
            session.add(
                Strategy(
                    user_id=owner.id,
                    name="follows",
                    code="",
                    status="active",
                    symbol=traded,
                    timeframe="15m",
                )
            )
        try:
            wanted = f"{traded_exchange.lower()}@kline_15m"
            await until(lambda: wanted in stream.requested[-1])
            assert f"{exchange.lower()}@kline_1m" in stream.requested[-1]
        finally:
            async with sessions.begin() as session:
                await session.execute(delete(Strategy).where(Strategy.user_id == owner.id))
                await session.execute(delete(User).where(User.id == owner.id))
    assert sink.delivered() == minutes(0, 1, 2)


async def test_offline_the_simulated_market_makes_labelled_candles(
    database_url: str, sessions: Sessions
) -> None:
    _, symbol = new_symbol("SIM")
    unreachable = f"127.0.0.1:{free_port()}"
    start = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    clock = ManualClock(start)
    sink = RecordingSink()
    settings = feed_settings(
        database_url,
        f"http://{unreachable}",
        f"ws://{unreachable}",
        symbol,
        market="auto",
        heartbeat_timeframes="1m,5m",
    )
    heartbeat = Heartbeat(settings, sessions, sink, clock=clock, follow_strategies=False)
    midnight = start.replace(second=0)
    async with running(heartbeat):
        # The history a first start shows: 240 closed candles per timeframe.
        await until(lambda: len(sink.calls) == 2)
        assert sink.delivered("1m") == [midnight - i * MINUTE for i in range(240, 0, -1)]
        assert sink.delivered("5m")[-1] == midnight - 5 * MINUTE
        assert len(sink.delivered("5m")) == 240

        await clock.set(midnight + MINUTE)
        await until(lambda: len(sink.calls) == 3)
        assert sink.calls[-1] == (symbol, "1m", [midnight])
        await clock.set(midnight + 5 * MINUTE)
        await until(lambda: len(sink.delivered("5m")) == 241)
        await until(
            lambda: sink.delivered("1m")[-4:] == [midnight + i * MINUTE for i in (1, 2, 3, 4)]
        )

    rows = await stored(sessions, symbol)
    assert len(rows) == 245 and {r.source for r in rows} == {"simulated"}
    expected = simulated_candles(symbol, 60, midnight, 2, midnight + MINUTE)[0]
    assert (rows[-5].open_time, rows[-5].open, rows[-5].close) == (
        midnight,
        expected.open,
        expected.close,
    )
    status = await feed_row(sessions)
    assert (status.mode, status.connected, status.backfilled) == ("simulated", False, 486)
    assert status.error is not None
    assert status.error.startswith("Binance market data unreachable")
    assert status.error.endswith("; using the simulated market")
    assert status.last_closed_at == midnight + 5 * MINUTE


async def test_the_streams_in_use_include_active_strategies(sessions: Sessions) -> None:
    _, symbol = new_symbol("ST")
    async with sessions.begin() as session:
        owner = User(username=f"hb-{secrets.token_hex(4)}", password_hash="x")
        session.add(owner)
        await session.flush()
        for status, timeframe in (("active", "15m"), ("active", "15m"), ("paused", "1h")):
            session.add(
                Strategy(
                    user_id=owner.id,
                    name=f"s-{secrets.token_hex(3)}",
                    code="",
                    status=status,
                    symbol=symbol,
                    timeframe=timeframe,
                )
            )
    try:
        async with sessions() as session:
            found = {s for s in await strategy_streams(session) if s.symbol == symbol}
        assert found == {Stream(symbol, "15m")}
    finally:
        async with sessions.begin() as session:
            await session.execute(delete(Strategy).where(Strategy.user_id == owner.id))
            await session.execute(delete(User).where(User.id == owner.id))


async def test_the_feed_status_is_served_to_logged_in_users(stack: Stack, user: ApiUser) -> None:
    assert stack.runtime is not None
    heard = utcnow() - timedelta(seconds=2)
    state = FeedState(
        mode="binance",
        connected=True,
        streams=["btcusdt@kline_1m", "btcusdt@kline_5m"],
        last_message_at=heard,
        last_closed_at=heard.replace(second=0, microsecond=0),
        lag_ms=120,
        reconnects=2,
        backfilled=240,
    )
    await save_feed_status(stack.runtime.sessions, state)

    body = (await user.http.get("/api/feed")).json()
    assert body == {
        "mode": "binance",
        "connected": True,
        "streams": ["btcusdt@kline_1m", "btcusdt@kline_5m"],
        "last_message_at": body["last_message_at"],
        "last_closed_at": body["last_closed_at"],
        "lag_ms": 120,
        "reconnects": 2,
        "backfilled": 240,
        "error": None,
        "stale": False,
        "updated_at": body["updated_at"],
    }
    assert datetime.fromisoformat(body["last_message_at"]) == heard
    assert datetime.fromisoformat(body["last_closed_at"]) == heard.replace(second=0, microsecond=0)
    health = (await user.http.get("/healthz")).json()
    assert health["feed"]["mode"] == "binance" and health["feed"]["stale"] is False
    assert {"status", "database", "temporal", "market"} <= set(health)

    # Silent for five minutes: stale.
    state.last_message_at, state.connected = utcnow() - timedelta(minutes=5), False
    await save_feed_status(stack.runtime.sessions, state)
    body = (await user.http.get("/api/feed")).json()
    assert (body["stale"], body["connected"]) == (True, False)

    async with httpx.AsyncClient(base_url=stack.url) as anonymous:
        assert (await anonymous.get("/api/feed")).status_code == 401


async def test_dashboards_are_pushed_new_candles_and_the_feed_status(
    stack: Stack, user: ApiUser
) -> None:
    assert stack.runtime is not None
    _, symbol = new_symbol("LV")
    await save_feed_status(stack.runtime.sessions, FeedState(mode="simulated", backfilled=7))
    cookie = user.http.cookies.get(COOKIE_NAME)
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    async with websockets.connect(
        url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as ws:

        async def next_message(topic: str) -> dict[str, Any]:
            while True:
                message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["topic"] == topic:
                    return message

        feed = (await next_message("feed"))["data"]
        assert (feed["mode"], feed["backfilled"], feed["connected"]) == ("simulated", 7, False)
        candle = Candle(
            open_time=T0,
            open=D("1.50"),
            high=D("2"),
            low=D("1.25"),
            close=D("1.75"),
            volume=D("10.000"),
        )
        async with stack.runtime.sessions.begin() as session:
            assert await store_closed(session, symbol, "5m", [candle], "simulated") == 1
        pushed = (await next_message("candles"))["data"]
    assert pushed == [
        {
            "symbol": symbol,
            "timeframe": "5m",
            "open_time": T0.isoformat(),
            "open": "1.5",
            "high": "2",
            "low": "1.25",
            "close": "1.75",
            "volume": "10",
            "source": "simulated",
        }
    ]
