"""Kill the worker (SIGKILL) while an order activity runs, restart it: exactly one order.

Everything here is a real process: `aristobot api` and `aristobot worker` subprocesses on
their own task queue, the test's Temporal dev server and database."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from config.settings import Settings
from db.models import Order, PaperOrder, Position
from tests.conftest import (
    ApiUser,
    count_rows,
    eventually,
    free_port,
    wait_webhook_done,
    webhook_path,
)
from tests.fakes.binance_market import MarketState
from tests.venues import FakeVenue
from workers.stack import Stack
from workflows.inputs import RECONCILE, ReconcileInput

pytestmark = pytest.mark.slow
AristobotCLI = [str(Path(sys.executable).parent / "aristobot")]


def process_env(settings: Settings, queue: str, port: int, data_dir: Path) -> dict[str, str]:
    assert settings.secret_key is not None
    return {
        **os.environ,
        "ARISTOBOT_DATA_DIR": str(data_dir),
        "ARISTOBOT_DATABASE_URL": settings.resolved_database_url,
        "ARISTOBOT_TEMPORAL_ADDRESS": settings.temporal_address,
        "ARISTOBOT_TASK_QUEUE": queue,
        "ARISTOBOT_PORT": str(port),
        "ARISTOBOT_MARKET": "binance",
        "ARISTOBOT_BINANCE_REST_URL": settings.binance_rest_url,
        "ARISTOBOT_PRICE_CACHE_SECONDS": "0",
        "ARISTOBOT_SECRET_KEY": settings.secret_key.get_secret_value(),
        "ARISTOBOT_LOG_LEVEL": "WARNING",
    }


class Processes:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{args[0]}-{len(self.running)}.log").open("wb")
        process = subprocess.Popen([*AristobotCLI, *args], env=self.env, stdout=log, stderr=log)
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
async def processes(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Processes, str]]:
    port = free_port()
    queue = f"crash-{os.getpid()}-{port}"
    procs = Processes(process_env(settings, queue, port, tmp_path), tmp_path)
    procs.spawn("api")
    url = f"http://127.0.0.1:{port}"

    async def api_up() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(url + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await eventually(api_up, timeout=30, interval=0.2)
        yield procs, url
    finally:
        procs.stop_all()


@pytest.mark.parametrize("moment", ["while the exchange is answering", "right after the fill"])
async def test_worker_killed_mid_order_leaves_exactly_one_order(
    stack: Stack,
    user: ApiUser,
    market: tuple[MarketState, str],
    processes: tuple[Processes, str],
    moment: str,
) -> None:
    procs, api_url = processes
    state, _ = market
    state.set_price("BTCUSDT", "50000")
    broker = await user.create_broker(balances={"USDT": "1000"})
    worker = procs.spawn("worker")
    before = state.ticker_requests
    state.ticker_delay = 2.0 if moment.startswith("while") else 0.0
    try:
        async with httpx.AsyncClient(base_url=api_url) as http:
            answer = await http.post(
                webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT"}
            )
        assert answer.json()["status"] == "accepted", answer.text
        if moment.startswith("while"):
            # 1st ticker call: sizing; 2nd: the exchange pricing the fill inside place_order.
            await eventually(lambda: _reached(state, before + 2), timeout=30, interval=0.01)
        else:
            await eventually(
                lambda: count_rows(stack, PaperOrder, broker["id"]), timeout=30, interval=0.005
            )
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        state.ticker_delay = 0.0
    procs.spawn("worker")

    async def settled() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await user.http.get(f"/api/webhooks/{answer.json()['webhook_id']}")
        ).json()
        return body if body["status"] in ("processed", "error") else None

    webhook = await eventually(settled, timeout=60, interval=0.25)
    assert webhook["status"] == "processed", webhook
    assert await count_rows(stack, PaperOrder, broker["id"]) == 1
    assert await count_rows(stack, Order, broker["id"]) == 1
    [order] = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()[
        "items"
    ]
    assert order["status"] == "filled"
    [position] = (await user.http.get("/api/positions", params={"broker_id": broker["id"]})).json()[
        "items"
    ]
    # one fill's worth: 0.02 BTC less the 0.1 % fee
    assert position["quantity"] == "0.01998"
    assert await count_rows(stack, Position, broker["id"]) == 1


async def _reached(state: MarketState, count: int) -> bool:
    await asyncio.sleep(0)
    return state.ticker_requests >= count


async def test_a_limit_filled_while_the_worker_was_down_is_found_after_restart(
    user: ApiUser,
    fake_exchanges: dict[str, FakeVenue],
    processes: tuple[Processes, str],
    temporal_client: Client,
) -> None:
    procs, api_url = processes
    binance = fake_exchanges["binance"]
    binance.set_price("ETH/USDT", "2500")
    broker = await binance.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    worker = procs.spawn("worker")
    async with httpx.AsyncClient(base_url=api_url) as http:
        answer = await http.post(
            webhook_path(broker),
            json={"action": "BuyLimit", "symbol": "ETHUSDT", "price": "2000", "sl": "1800"},
        )
    webhook = await wait_webhook_done(user, answer.json()["webhook_id"])
    assert "waiting for the market" in webhook["outcome"], webhook
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    # While nothing runs, the limit fills on the exchange and a reconciliation pass is due.
    binance.set_price("ETH/USDT", "1990")
    binance.set_price("ETH/USDT", "2100")
    queue = procs.env["ARISTOBOT_TASK_QUEUE"]
    pass_ = await temporal_client.start_workflow(
        RECONCILE,
        ReconcileInput(broker_id=broker["id"]),
        id=f"reconcile-after-restart-b{broker['id']}",
        task_queue=queue,
    )
    procs.spawn("worker")
    await pass_.result()

    order = (await user.http.get(f"/api/orders/{webhook['order_id']}")).json()
    assert (order["status"], D(order["filled_quantity"])) == ("filled", D("0.5"))
    [position] = (await user.http.get("/api/positions", params={"broker_id": broker["id"]})).json()[
        "items"
    ]
    # 1000 USDT at 2000 = 0.5 ETH, less the 0.1 % fee taken in ETH
    assert D(position["quantity"]) == D("0.4995") and D(position["entry_price"]) == 2000
    # and the stop-loss carried by the alert is placed once the guard hears of the fill
    live = await eventually(lambda: _protected(binance, broker), timeout=60, interval=0.5)
    assert live == [("stop_loss", "sell", D(1800), D("0.4995"))]
    # marked at the broker's own exchange price
    [position] = (await user.http.get("/api/positions", params={"broker_id": broker["id"]})).json()[
        "items"
    ]
    assert D(position["unrealized_pnl"]) == D("0.4995") * 2100 - 1000


async def _protected(venue: FakeVenue, broker: dict[str, Any]) -> list[Any] | None:
    live = await venue.open_protective_orders(broker)
    return live or None
