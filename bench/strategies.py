"""Strategy benchmark: candle close -> decisions -> order workflows started, with 1, 20 and
100 active strategies.

Runs the real pieces in one process: a Temporal dev server, the API + worker stack (SQLite
in a temporary directory by default, or --database-url), the sandbox pool, paper brokers
priced by a fake Binance market-data server. Each strategy trades its own paper broker and
alternates: it buys when flat and sells the next candle. A round signals one closed candle
to the runner (as the heartbeat does) and measures, per strategy:

- decision: candle signalled -> its evaluation recorded (sandbox run included);
- order: candle signalled -> its order recorded by the started order workflow.

A round waits for every order to fill before the next candle, so each latency is one
candle's, not a backlog's. Baseline from the same run: one `decide` call straight to the
sandbox pool (the floor under a decision).

    .venv/bin/python bench/strategies.py [--rounds N] [--database-url URL]
"""

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts.users import create_user  # noqa: E402
from config.settings import Settings  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Order, StrategyEvaluation  # noqa: E402
from exchanges.types import Candle  # noqa: E402
from market.candle_store import store_closed  # noqa: E402
from tests.fakes.binance_market import MarketState, create_app  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402
from workers.devserver import LATENCY_TUNING, temporal_binary  # noqa: E402
from workers.runner_feed import RunnerSignals  # noqa: E402
from workers.stack import Stack  # noqa: E402
from workflows.search_attributes import ALL  # noqa: E402

COUNTS = (1, 20, 100)
FLIP_FLOP = """
from strategies import Strategy


class FlipFlop(Strategy):
    def should_long(self):
        return True

    def go_long(self):
        self.buy = (self.qty_for(5), None)

    def update_position(self):
        self.liquidate()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms"
        f"  p99 {pct(values, 0.99) * 1000:7.1f} ms  (n={len(values)})"
    )


async def setup_strategies(
    stack: Stack, http: httpx.AsyncClient, count: int, symbol: str
) -> list[int]:
    ids = []
    for index in range(count):
        broker = await http.post(
            "/api/brokers",
            json={
                "name": f"bench-{symbol}-{index}",
                "exchange": "paper",
                "trading_mode": "strategies",
                "balances": {"USDT": "100000"},
            },
        )
        broker.raise_for_status()
        created = await http.post(
            "/api/strategies", json={"name": f"flip-{symbol}-{index}", "code": FLIP_FLOP}
        )
        created.raise_for_status()
        strategy_id = created.json()["id"]
        activated = await http.post(
            f"/api/strategies/{strategy_id}/activate",
            json={"broker_id": broker.json()["id"], "symbol": symbol, "timeframe": "1m"},
        )
        activated.raise_for_status()
        ids.append(strategy_id)
    return ids


async def finished(stack: Stack, workflow_ids: list[str]) -> bool:
    """The strategy is asked again only once its previous order's workflow has ended."""
    assert stack.client is not None
    for workflow_id in workflow_ids:
        described = await stack.client.get_workflow_handle(workflow_id).describe()
        if described.status == WorkflowExecutionStatus.RUNNING:
            return False
    return True


async def done_times(
    stack: Stack, ids: list[int], candle_time: datetime
) -> tuple[list[datetime], list[datetime], list[str]]:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        decided = list(
            await session.scalars(
                select(StrategyEvaluation.created_at).where(
                    StrategyEvaluation.strategy_id.in_(ids),
                    StrategyEvaluation.candle_time == candle_time,
                )
            )
        )
        workflow_ids = list(
            await session.scalars(
                select(StrategyEvaluation.workflow_id).where(
                    StrategyEvaluation.strategy_id.in_(ids),
                    StrategyEvaluation.candle_time == candle_time,
                    StrategyEvaluation.workflow_id.is_not(None),
                )
            )
        )
        ordered = list(
            await session.scalars(
                select(Order.created_at).where(Order.workflow_id.in_(workflow_ids))
            )
        )
    return decided, ordered, [w for w in workflow_ids if w]


async def run_rounds(
    stack: Stack, signals: RunnerSignals, ids: list[int], symbol: str, rounds: int
) -> tuple[list[float], list[float]]:
    assert stack.runtime is not None
    decisions: list[float] = []
    orders: list[float] = []
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    unified = f"{symbol[:-4]}/USDT"
    for index in range(rounds):
        open_time = start + timedelta(minutes=index)
        price = Decimal(50000)
        candle = Candle(
            open_time=open_time, open=price, high=price, low=price, close=price,
            volume=Decimal(1), closed=True,
        )  # fmt: skip
        async with stack.runtime.sessions.begin() as session:
            await store_closed(session, unified, "1m", [candle], "binance")
        signalled = datetime.now(UTC)
        await signals.closed(unified, "1m", [candle])
        deadline = time.monotonic() + 120
        while True:
            decided, ordered, workflow_ids = await done_times(stack, ids, open_time)
            if len(decided) == len(ids) and len(ordered) == len(ids):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"round {index}: {len(decided)} decisions, {len(ordered)} orders of {len(ids)}"
                )
            await asyncio.sleep(0.05)
        while not await finished(stack, workflow_ids):
            await asyncio.sleep(0.1)
        decisions += [(at - signalled).total_seconds() for at in decided]
        orders += [(at - signalled).total_seconds() for at in ordered]
    return decisions, orders


async def sandbox_baseline(stack: Stack, samples: int = 200) -> list[float]:
    assert stack.runtime is not None
    price = "50000"
    request = {
        "code": FLIP_FLOP,
        "candles": [[60_000 * i, price, price, price, price, "1"] for i in range(500)],
        "position": {"is_open": False, "qty": "0", "entry_price": None},
        "pending_entry": False,
        "balance": "100000",
        "step": "0.00001",
        "stop_loss": None,
        "take_profit": None,
        "vars": {},
        "params": {},
    }
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        await stack.runtime.sandbox.call("decide", request)
        timings.append(time.perf_counter() - began)
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    market_state = MarketState()
    market = await LoopbackServer(create_app(market_state)).start()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=ALL,
        dev_server_extra_args=[a for v in LATENCY_TUNING for a in ("--dynamic-config-value", v)],
    )
    with tempfile.TemporaryDirectory(prefix="aristobot-bench-") as data_dir:
        database_url = args.database_url or f"sqlite:///{data_dir}/aristobot.db"
        upgrade(database_url)
        settings = Settings(
            data_dir=Path(data_dir),
            database_url=database_url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{secrets.token_hex(3)}",
            port=0,
            market="binance",
            binance_rest_url=market.url,
            price_cache_seconds=1,
            secret_key=secrets.token_urlsafe(32),
            max_active_strategies=max(COUNTS),
            reconcile_interval=3600,
            log_level="WARNING",
        )
        stack = Stack(settings, port=0)
        await stack.start()
        try:
            assert stack.runtime is not None and stack.client is not None
            signals = RunnerSignals(stack.client, stack.runtime.sessions, settings.task_queue)
            print("strategies: candle close -> decision / order workflow started")
            print(f"  baseline: sandbox decide   {summary(await sandbox_baseline(stack))}")
            for count in COUNTS:
                password = secrets.token_urlsafe(12)
                username = f"bench{count}"
                await create_user(stack.runtime.sessions, username, password)
                async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
                    login = await http.post(
                        "/api/auth/login", json={"username": username, "password": password}
                    )
                    login.raise_for_status()
                    # One market per size, so earlier strategies are not evaluated again.
                    symbol = {1: "BTCUSDT", 20: "ETHUSDT", 100: "SOLUSDT"}[count]
                    ids = await setup_strategies(stack, http, count, symbol)
                decisions, orders = await run_rounds(stack, signals, ids, symbol, args.rounds)
                print(f"  {count:3d} active   decision   {summary(decisions)}")
                print(f"  {count:3d} active   order      {summary(orders)}")
        finally:
            await stack.stop()
    await env.shutdown()
    await market.stop()


if __name__ == "__main__":
    asyncio.run(main())
