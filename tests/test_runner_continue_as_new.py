"""The strategy runner continues-as-new long before its history grows large — forced here by
a dev server told to suggest it after a few dozen events — without losing or doubling a
candle: a strategy that keeps the open time of every candle it is asked about in `self.vars`
ends with each candle exactly once, in order, across several runs."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from db.models import Strategy
from market.candle_store import store_closed
from tests.conftest import ApiUser, eventually
from tests.test_strategy_runner import candle, create_strategy, minute
from workers.devserver import LATENCY_TUNING, temporal_binary
from workers.runner_feed import RunnerSignals
from workers.stack import Stack
from workers.worker import build_guard_calls_worker, build_worker
from workflows.search_attributes import ALL
from workflows.strategy_inputs import runner_workflow_id

SUGGEST_AFTER_EVENTS = 60
CANDLES = 24

RECORDS_EVERY_CANDLE = """
from strategies import Strategy


class Recorder(Strategy):
    def should_long(self):
        self.vars["seen"] = self.vars.get("seen", []) + [int(self.time)]
        return False

    def go_long(self):
        self.buy = (self.qty_for(10), None)
"""


@pytest.fixture
async def short_history_client(stack: Stack) -> AsyncIterator[tuple[Client, str]]:
    """A dev server suggesting continue-as-new early, with a worker of its own."""
    extra = [
        "--dynamic-config-value",
        f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
    ]
    for value in LATENCY_TUNING:
        extra += ["--dynamic-config-value", value]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=ALL,
        dev_server_extra_args=extra,
    )
    assert stack.runtime is not None
    queue = f"{stack.settings.task_queue}-short-history"
    workers: list[Worker] = [
        build_worker(env.client, stack.runtime, task_queue=queue),
        build_guard_calls_worker(env.client, stack.runtime, task_queue=queue),
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    yield env.client, queue
    await asyncio.gather(*(w.shutdown() for w in workers))
    for task in tasks:
        await task
    await env.shutdown()


async def test_continue_as_new_keeps_every_candle_once(
    short_history_client: tuple[Client, str], user: ApiUser, stack: Stack
) -> None:
    client, queue = short_history_client
    assert stack.runtime is not None
    broker = await user.create_broker(balances={"USDT": "1000"}, trading_mode="strategies")
    strategy = await create_strategy(user, RECORDS_EVERY_CANDLE)
    # Its own market so the shared runner of the other tests is not involved.
    response = await user.http.post(
        f"/api/strategies/{strategy['id']}/activate",
        json={"broker_id": broker["id"], "symbol": "ETHUSDT", "timeframe": "3m"},
    )
    assert response.status_code == 200, response.text

    candles = [candle(_three_minutes(i), "2500") for i in range(CANDLES)]
    async with stack.runtime.sessions.begin() as session:
        await store_closed(session, "ETH/USDT", "3m", candles, "binance")
    signals = RunnerSignals(client, stack.runtime.sessions, queue)
    # In bursts, each candle of a burst announced twice (stream and backfill).
    for start in range(0, CANDLES, 4):
        burst = candles[start : start + 4]
        await asyncio.gather(
            signals.closed("ETH/USDT", "3m", burst), signals.closed("ETH/USDT", "3m", burst)
        )

    async def recorded() -> list[int] | None:
        async with stack.runtime.sessions() as session:  # type: ignore[union-attr]
            row = await session.get(Strategy, strategy["id"])
        seen: list[int] = (row.vars or {}).get("seen", []) if row else []
        return seen if len(seen) >= CANDLES else None

    seen = await eventually(recorded, timeout=90)
    expected = [int(c.open_time.timestamp() * 1000) for c in candles]
    assert seen == expected
    runs = [
        execution
        async for execution in client.list_workflows(
            f'WorkflowId = "{runner_workflow_id("ETH/USDT", "3m")}"'
        )
    ]
    assert len(runs) >= 3, f"expected several runs, got {len(runs)}"
    body: dict[str, Any] = (await user.http.get(f"/api/strategies/{strategy['id']}")).json()
    assert body["status"] == "active"
    assert body["last_decision"]["action"] == "none"


def _three_minutes(index: int) -> datetime:
    """Open times of consecutive 3m candles, the first one closing after activation."""
    now = minute()
    first = now.replace(minute=now.minute - now.minute % 3)
    return first + timedelta(minutes=3 * (index + 1))
