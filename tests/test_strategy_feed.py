"""End to end: a fake Binance kline WebSocket (real message format) and REST klines → the
heartbeat → the strategy runner → the strategy's decision → an order, on the paper exchange
and on a fake exchange. The stream drops and skips candles on the way: the gap is
backfilled and every candle is evaluated exactly once, in order."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from db.models import Strategy, StrategyEvaluation
from market.candle_store import timeframe_seconds
from market.heartbeat import Heartbeat
from market.kline_stream import Backoff
from tests.conftest import ApiUser, eventually
from tests.fakes.binance_market import MarketState
from tests.fakes.binance_stream import FakeKlineStream, kline_row
from tests.test_heartbeat import running
from tests.test_strategy_runner import activate, create_strategy, strategy_orders
from tests.venues import Venue
from workers.candle_sink import StrategyRunnerSink
from workers.stack import Stack

# Keeps the open time of every candle it is asked about, and buys when flat.
RECORD_AND_BUY = """
from strategies import Strategy


class RecordAndBuy(Strategy):
    def should_long(self):
        self._record()
        return True

    def go_long(self):
        self.buy = (self.qty_for(10), None)

    def update_position(self):
        self._record()

    def _record(self):
        self.vars["seen"] = self.vars.get("seen", []) + [int(self.time)]
"""


@pytest.fixture
async def stream() -> AsyncIterator[FakeKlineStream]:
    fake = await FakeKlineStream().start()
    yield fake
    await fake.stop()


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def seen(stack: Stack, strategy_id: int) -> list[int]:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        row = await session.get(Strategy, strategy_id)
        return list((row.vars or {}).get("seen", [])) if row else []


async def evaluated(stack: Stack, strategy_id: int) -> list[datetime]:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        rows = await session.scalars(
            select(StrategyEvaluation.candle_time)
            .where(StrategyEvaluation.strategy_id == strategy_id)
            .order_by(StrategyEvaluation.candle_time)
        )
        return list(rows)


# Each case its own timeframe: one runner per market and timeframe.
@pytest.mark.parametrize(
    ("venue", "timeframe"), [("paper", "1m"), ("binance", "3m")], indirect=["venue"]
)
async def test_kline_stream_to_strategy_orders(
    venue: Venue,
    timeframe: str,
    user: ApiUser,
    stack: Stack,
    market: tuple[MarketState, str],
    stream: FakeKlineStream,
) -> None:
    assert stack.runtime is not None
    state, rest_url = market
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "1000"}, trading_mode="strategies")
    strategy = await create_strategy(user, RECORD_AND_BUY)
    await activate(user, strategy, broker, timeframe)
    # Active since before the history below: every candle is the strategy's to evaluate.
    seconds = timeframe_seconds(timeframe)
    now = int(datetime.now(UTC).timestamp())
    current = datetime.fromtimestamp(now - now % seconds, UTC)

    def open_time(index: int) -> datetime:
        """Candle -1 closed a moment ago; older ones before it."""
        return current + (index) * timedelta(seconds=seconds)

    async with stack.runtime.sessions.begin() as session:
        await session.execute(
            update(Strategy)
            .where(Strategy.id == strategy["id"])
            .values(activated_at=open_time(-10))
        )

    def row(index: int) -> list[Any]:
        return kline_row(ms(open_time(index)), timeframe, "50000", "50100", "49900", "50000")

    history = state.klines[("BTCUSDT", timeframe)] = [row(i) for i in (-6, -5, -4)]
    settings = stack.settings.model_copy(
        update={
            "binance_ws_url": stream.url,
            "binance_rest_url": rest_url,
            "heartbeat_symbols": "BTCUSDT",
            "heartbeat_timeframes": timeframe,
        }
    )
    sink = StrategyRunnerSink(settings, stack.runtime.sessions, stack.client)
    heartbeat = Heartbeat(
        settings,
        stack.runtime.sessions,
        sink,
        backoff=Backoff(initial=0.01, cap=0.05),
        follow_strategies=False,
        status_every=0,
    )
    async with running(heartbeat):
        await stream.wait_connections(1)
        # The history, backfilled at start, reaches the strategy.
        await eventually(lambda: _at_least(stack, strategy["id"], 3), timeout=30)

        # The link drops while -3 and -2 close; the stream then sends only -1.
        history += [row(-3), row(-2), row(-1)]
        stream.drop()
        await stream.wait_connections(2)
        await stream.push(
            "BTCUSDT", timeframe, row(-1), closed=True, event_ms=ms(datetime.now(UTC))
        )
        # Sent again (Binance repeats itself at times): nothing new.
        await stream.push(
            "BTCUSDT", timeframe, row(-1), closed=True, event_ms=ms(datetime.now(UTC))
        )

        expected = [ms(open_time(i)) for i in range(-6, 0)]
        await eventually(lambda: _at_least(stack, strategy["id"], len(expected)), timeout=30)
        # The fresh candle's buy went through the order path.

        async def filled() -> list[dict[str, Any]] | None:
            orders = await strategy_orders(user, strategy["id"])
            return orders if any(o["status"] == "filled" for o in orders) else None

        orders = await eventually(filled, timeout=30)

    assert await seen(stack, strategy["id"]) == expected
    assert await evaluated(stack, strategy["id"]) == [open_time(i) for i in range(-6, 0)]
    # One buy: the older candles' decisions were recorded but not traded (stale), and
    # once bought the strategy manages its position instead of buying again.
    assert [(o["side"], o["source"], o["status"]) for o in orders] == [
        ("buy", "strategy", "filled")
    ]
    body: dict[str, Any] = (await user.http.get(f"/api/strategies/{strategy['id']}")).json()
    assert body["status"] == "active" and body["position"] is not None


async def _at_least(stack: Stack, strategy_id: int, count: int) -> bool:
    return len(await seen(stack, strategy_id)) >= count
