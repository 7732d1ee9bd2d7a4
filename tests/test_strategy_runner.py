"""Strategies trading live, with the real workflows on the Temporal dev server: closed
candles signalled to the runner are evaluated once per strategy, in the sandbox, and their
decisions become orders (source `strategy`) through the same order path as webhooks — on
the paper exchange and on a fake exchange."""

import secrets
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import Strategy as StrategyModel
from db.models import StrategyEvaluation
from exchanges.types import Candle
from market.candle_store import store_closed, timeframe_seconds
from tests.conftest import ApiUser, eventually
from tests.venues import Venue
from workers.runner_feed import RunnerSignals
from workers.stack import Stack
from workflows.inputs import OrderIntent
from workflows.strategy_inputs import (
    CANDLE_CLOSED,
    STRATEGY_ACTION,
    STRATEGY_RUNNER,
    CandlesClosed,
    RunnerInput,
    StrategyActionInput,
    action_workflow_id,
    runner_workflow_id,
)

# Buys 10 % of the quote balance when flat (with a stop-loss and a target), sells once the
# close is 5 % over the entry.
BUY_THEN_TAKE_PROFIT = """
from strategies import Strategy


class BuyThenExit(Strategy):
    def should_long(self):
        return True

    def go_long(self):
        qty = self.qty_for(10)
        self.buy = (qty, None)
        self.stop_loss = (qty, self.close * 0.9)
        self.take_profit = (qty, self.close * 1.2)

    def update_position(self):
        if self.close >= self.position.entry_price * 1.05:
            self.liquidate()
"""


def minute(offset: int = 0) -> datetime:
    """The open time of the current minute's candle (+ offset minutes): closing after the
    strategy's activation, so the runner evaluates it."""
    return period("1m", offset)


def period(timeframe: str, offset: int = 0) -> datetime:
    """The open time of the current candle of `timeframe` (+ offset candles)."""
    seconds = timeframe_seconds(timeframe)
    now = int(datetime.now(UTC).timestamp())
    return datetime.fromtimestamp(now - now % seconds + offset * seconds, UTC)


def candle(open_time: datetime, close: str) -> Candle:
    price = D(close)
    return Candle(
        open_time=open_time,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=D(1),
        closed=True,
    )


async def create_strategy(user: ApiUser, code: str) -> dict[str, Any]:
    response = await user.http.post(
        "/api/strategies", json={"name": f"s-{secrets.token_hex(3)}", "code": code}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def activate(
    user: ApiUser,
    strategy: dict[str, Any],
    broker: dict[str, Any],
    timeframe: str = "1m",
    symbol: str = "BTC/USDT",
) -> dict[str, Any]:
    response = await user.http.post(
        f"/api/strategies/{strategy['id']}/activate",
        json={"broker_id": broker["id"], "symbol": symbol, "timeframe": timeframe},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def close_candles(
    stack: Stack, timeframe: str, *candles: Candle, symbol: str = "BTC/USDT"
) -> None:
    """What the heartbeat does with each newly stored closed candle."""
    assert stack.runtime is not None and stack.client is not None
    async with stack.runtime.sessions.begin() as session:
        await store_closed(session, symbol, timeframe, list(candles), "binance")
    signals = RunnerSignals(stack.client, stack.runtime.sessions, stack.settings.task_queue)
    await signals.closed(symbol, timeframe, list(candles))


async def runner_done(
    stack: Stack, timeframe: str, open_time: datetime, symbol: str = "BTC/USDT"
) -> None:
    """Until the runner of `symbol` on `timeframe` has dealt with the candle."""
    assert stack.client is not None
    handle = stack.client.get_workflow_handle(runner_workflow_id(symbol, timeframe))

    async def done() -> bool:
        status: dict[str, Any] = await handle.query("status")
        last = status["last_done"]
        return last is not None and datetime.fromisoformat(last) >= open_time

    await eventually(done)


async def signal_anyway(stack: Stack, timeframe: str, closed: Candle) -> None:
    """Stores and signals the candle even though no strategy is active on the market."""
    assert stack.runtime is not None and stack.client is not None
    async with stack.runtime.sessions.begin() as session:
        await store_closed(session, "BTC/USDT", timeframe, [closed], "binance")
    await stack.client.start_workflow(
        STRATEGY_RUNNER,
        RunnerInput(symbol="BTC/USDT", timeframe=timeframe),
        id=runner_workflow_id("BTC/USDT", timeframe),
        task_queue=stack.settings.task_queue,
        start_signal=CANDLE_CLOSED,
        start_signal_args=[CandlesClosed(open_times=[closed.open_time])],
    )


async def evaluations(stack: Stack, strategy_id: int) -> int:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(StrategyEvaluation)
            .where(StrategyEvaluation.strategy_id == strategy_id)
        )
    return int(count or 0)


async def strategy_orders(user: ApiUser, strategy_id: int) -> list[dict[str, Any]]:
    response = await user.http.get("/api/orders", params={"strategy_id": strategy_id})
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# The runner is per market and timeframe: each case its own timeframe, so one case's candles
# are not "already evaluated" for the next.
@pytest.mark.parametrize(
    ("venue", "timeframe"), [("paper", "5m"), ("binance", "15m")], indirect=["venue"]
)
async def test_decisions_become_orders_once(
    venue: Venue, timeframe: str, user: ApiUser, stack: Stack
) -> None:
    venue.set_price("BTC/USDT", "50000")
    # The account holds coins besides what the strategy buys: its exit sells only its own.
    broker = await venue.create_broker(
        user, {"USDT": "1000", "BTC": "0.5"}, trading_mode="strategies"
    )
    strategy = await create_strategy(user, BUY_THEN_TAKE_PROFIT)
    await activate(user, strategy, broker, timeframe)

    first = candle(period(timeframe), "50000")
    await close_candles(stack, timeframe, first)

    async def bought() -> list[dict[str, Any]] | None:
        orders = await strategy_orders(user, strategy["id"])
        return orders if orders and orders[0]["status"] == "filled" else None

    [buy] = await eventually(bought)
    assert (buy["side"], buy["source"], buy["strategy_id"]) == ("buy", "strategy", strategy["id"])
    # 10 % of 1000 USDT at 50000, rounded down to the lot step.
    assert D("0.0019") <= D(buy["filled_quantity"]) <= D("0.002")
    assert buy["workflow_id"].startswith(f"strategy-s{strategy['id']}-{timeframe}-")

    async def opened() -> dict[str, Any] | None:
        body: dict[str, Any] = (await user.http.get(f"/api/strategies/{strategy['id']}")).json()
        return body if body["position"] and body["position"]["stop_loss"] else None

    state = await eventually(opened)
    assert D(state["position"]["stop_loss"]) == D("45000")
    assert D(state["position"]["take_profit"]) == D("60000")
    assert state["last_decision"]["action"] == "buy"
    assert state["orders"] == 1

    # The same candle announced again (a stream and a backfill both saw it): not evaluated
    # again, no second order.
    await close_candles(stack, timeframe, first)
    venue.set_price("BTC/USDT", "52600")
    await close_candles(stack, timeframe, candle(period(timeframe, 1), "52600"))

    async def sold() -> list[dict[str, Any]] | None:
        orders = await strategy_orders(user, strategy["id"])
        done = [o for o in orders if o["side"] == "sell" and o["status"] == "filled"]
        return orders if done else None

    orders = await eventually(sold)
    assert [o["side"] for o in orders] == ["sell", "buy"]
    # What the buy brought in (less a fee taken in BTC, down to the lot step), not the 0.5
    # BTC held besides.
    sold_qty, bought_qty = D(orders[0]["filled_quantity"]), D(buy["filled_quantity"])
    assert bought_qty * D("0.99") <= sold_qty <= bought_qty, orders[0]
    assert await evaluations(stack, strategy["id"]) == 2
    final: dict[str, Any] = (await user.http.get(f"/api/strategies/{strategy['id']}")).json()
    assert final["position"] is None
    assert D(final["realized_pnl"]) > 0
    assert final["last_decision"]["action"] == "sell"


CRASHES_ON_A_CANDLE = """
from strategies import Strategy


class Crashes(Strategy):
    def should_long(self):
        return 1 / 0 > 1

    def go_long(self):
        self.buy = (self.qty_for(10), None)
"""


async def test_a_crashing_strategy_stops_alone_and_the_kill_switch_stops_all(
    user: ApiUser, stack: Stack
) -> None:
    timeframe = "30m"
    healthy_broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    crashing_broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    healthy = await create_strategy(user, BUY_THEN_TAKE_PROFIT)
    # Saving runs a dry run on simulated candles, where the division already fails.
    refused = await user.http.post(
        "/api/strategies", json={"name": "crashes", "code": CRASHES_ON_A_CANDLE}
    )
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["line"] == 7
    assert "ZeroDivisionError" in refused.json()["detail"]
    # Saved in a form that passes the dry run, then broken the way live data can break it:
    # only on this market's candles.
    crashing = await create_strategy(
        user, CRASHES_ON_A_CANDLE.replace("1 / 0 > 1", "1 / (self.close - 50000) > 1")
    )
    await activate(user, healthy, healthy_broker, timeframe)
    await activate(user, crashing, crashing_broker, timeframe)

    await close_candles(stack, timeframe, candle(period(timeframe), "50000"))

    async def settled() -> list[dict[str, Any]] | None:
        states = [
            (await user.http.get(f"/api/strategies/{s['id']}")).json() for s in (healthy, crashing)
        ]
        done = states[0]["orders"] == 1 and states[1]["status"] == "error"
        return states if done else None

    good, bad = await eventually(settled)
    assert bad["error"] == "line 7: ZeroDivisionError: float division by zero"
    assert good["status"] == "active" and good["last_decision"]["action"] == "buy"

    # The kill switch: every active strategy of the user stops, the next candle trades
    # nothing.
    paused = await user.http.post("/api/strategies/pause-all")
    assert paused.json() == {"paused": 1}
    await signal_anyway(stack, timeframe, candle(period(timeframe, 1), "60000"))
    await runner_done(stack, timeframe, period(timeframe, 1))
    assert await evaluations(stack, healthy["id"]) == 1
    after: dict[str, Any] = (await user.http.get(f"/api/strategies/{healthy['id']}")).json()
    assert (after["status"], after["orders"]) == ("paused", 1)


async def test_a_broker_leaving_trading_mode_strategies_stops_its_strategies(
    user: ApiUser, stack: Stack
) -> None:
    timeframe = "2h"
    broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    strategy = await create_strategy(user, BUY_THEN_TAKE_PROFIT)
    await activate(user, strategy, broker, timeframe)
    changed = await user.http.patch(f"/api/brokers/{broker['id']}", json={"trading_mode": "off"})
    assert changed.status_code == 200, changed.text

    # Signalled as if another strategy still traded there: the runner skips this one.
    await signal_anyway(stack, timeframe, candle(period(timeframe), "50000"))
    await runner_done(stack, timeframe, period(timeframe))
    assert await evaluations(stack, strategy["id"]) == 0
    assert await strategy_orders(user, strategy["id"]) == []
    # Activating again on it is refused with the reason.
    refused = await user.http.post(
        f"/api/strategies/{strategy['id']}/activate",
        json={"broker_id": broker["id"], "symbol": "BTCUSDT", "timeframe": timeframe},
    )
    assert refused.status_code == 409
    assert "trading mode 'off'" in refused.json()["detail"]


async def record_unstarted_buy(
    stack: Stack, user: ApiUser, strategy: dict[str, Any], broker: dict[str, Any], at: datetime
) -> str:
    """What an evaluation leaves when Temporal stayed unreachable through all its retries:
    the decision on candle `at` (the strategy active since before it) recorded with its
    workflow id, the workflow never started."""
    assert stack.runtime is not None
    timeframe, symbol = strategy["timeframe"], strategy["symbol"]
    workflow_id = action_workflow_id(strategy["id"], timeframe, int(at.timestamp() * 1000), "buy")
    intent = OrderIntent(
        user_id=user.id,
        broker_id=broker["id"],
        symbol=symbol,
        side="buy",
        type="market",
        source="strategy",
        quantity=D("0.01"),
        strategy_id=strategy["id"],
    )
    start = StrategyActionInput(strategy_id=strategy["id"], kind="order", intent=intent)
    async with stack.runtime.sessions.begin() as session:
        row = await session.get(StrategyModel, strategy["id"])
        assert row is not None
        session.add(
            StrategyEvaluation(
                strategy_id=row.id,
                user_id=row.user_id,
                symbol=symbol,
                timeframe=timeframe,
                candle_time=at,
                version=row.version,
                action="buy",
                decision={
                    "message": "buy",
                    "start": {"workflow": STRATEGY_ACTION, "input": start.model_dump(mode="json")},
                },
                workflow_id=workflow_id,
                created_at=datetime.now(UTC),
            )
        )
        row.last_candle_at, row.activated_at = at, at
    return workflow_id


async def test_a_decision_whose_workflow_never_started_is_started_late_or_explained(
    user: ApiUser, stack: Stack
) -> None:
    # A 1-minute decision is still recent on the next candle: the next evaluation starts it
    # (under its own id), waits for it, then asks the strategy. On ETH/USDT: the end-to-end
    # feed test has BTC/USDT's 1m runner.
    timeframe, eth = "1m", "ETH/USDT"
    broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    strategy = await activate(
        user, await create_strategy(user, BUY_THEN_TAKE_PROFIT), broker, timeframe, eth
    )
    missed = await record_unstarted_buy(stack, user, strategy, broker, period(timeframe, -1))
    # Far under any entry price: the strategy holds its position.
    await close_candles(stack, timeframe, candle(period(timeframe), "100"), symbol=eth)
    await runner_done(stack, timeframe, period(timeframe), eth)

    async def filled() -> list[dict[str, Any]] | None:
        orders = await strategy_orders(user, strategy["id"])
        return orders if orders and orders[0]["status"] == "filled" else None

    [order] = await eventually(filled)
    assert order["workflow_id"] == missed
    # No second buy on the next candle (the position open, or still being bought).
    listed = await user.http.get(f"/api/strategies/{strategy['id']}/evaluations")
    latest, earlier = listed.json()["items"]
    assert earlier["workflow_id"] == missed and earlier["error"] is None
    assert (latest["action"], latest["workflow_id"]) == ("none", None), latest

    # Too old to trade by the next candle: not started, and the evaluation says why.
    timeframe = "8h"
    broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    strategy = await activate(
        user, await create_strategy(user, BUY_THEN_TAKE_PROFIT), broker, timeframe
    )
    missed = await record_unstarted_buy(stack, user, strategy, broker, period(timeframe, -3))
    await close_candles(stack, timeframe, candle(period(timeframe), "50000"))
    await runner_done(stack, timeframe, period(timeframe))
    listed = await user.http.get(f"/api/strategies/{strategy['id']}/evaluations")
    old, new = sorted(listed.json()["items"], key=lambda e: e["candle_time"])
    assert old["workflow_id"] == missed
    assert old["error"].startswith("not traded: its workflow could not be started in time")
    # The strategy, still flat, bought on the new candle instead.
    orders = await eventually(lambda: strategy_orders(user, strategy["id"]))
    assert [o["workflow_id"] for o in orders] == [new["workflow_id"]]
    assert new["action"] == "buy" and new["workflow_id"] != missed
