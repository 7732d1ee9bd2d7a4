"""Webhook benchmark: ack latency and webhook -> processed (order filled, position updated,
outcome written) latency with 1, 10 and 50 concurrent senders.

Runs the product as a user does (`aristobot dev` in a subprocess: its own Temporal dev
server, SQLite by default or --database-url, API in the main process and a worker child)
against a fake Binance market-data server, over loopback HTTP. Each sender is a closed
loop: it sends an alert, waits until its workflow has finished, then sends the next, so
the latencies are per alert, not the length of a backlog. Completion times are the
records' own `updated_at`, pushed over the dashboard's WebSocket.

Baselines from the same run: `GET /api/auth/me` (one session lookup: the HTTP + database
floor under an ack) and `PING` alerts (the workflow without the order path).

    .venv/bin/python bench/webhook.py [--seconds N] [--database-url URL]
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.binance_market import MarketState, create_app  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402

ARISTOBOT = str(Path(sys.executable).parent / "aristobot")
COOKIE = "aristobot_session"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_product(
    data_dir: Path, market_url: str, database_url: str | None
) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    env = {
        **os.environ,
        "ARISTOBOT_DATA_DIR": str(data_dir),
        "ARISTOBOT_PORT": str(port),
        "ARISTOBOT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "ARISTOBOT_TEMPORAL_UI_PORT": str(free_port()),
        "ARISTOBOT_MARKET": "binance",
        "ARISTOBOT_BINANCE_REST_URL": market_url,
        "ARISTOBOT_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["ARISTOBOT_DATABASE_URL"] = database_url
    log = data_dir / "dev.log"
    process = subprocess.Popen(
        [ARISTOBOT, "dev"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while "Press Ctrl-C to stop." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("aristobot dev did not start:\n" + log.read_text())
        await asyncio.sleep(0.2)
    match = re.search(r"First login\s+admin / (\S+)", log.read_text())
    if not match:
        raise RuntimeError("no first-run admin password (reused data dir?)")
    return process, f"http://127.0.0.1:{port}", match.group(1)


class Completions:
    """Finished webhooks as the live feed reports them: id -> (status, updated_at)."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[str, float]] = {}
        self._waiters: dict[int, asyncio.Future[tuple[str, float]]] = {}

    def record(self, webhook: dict[str, Any]) -> None:
        if webhook["status"] not in ("processed", "error"):
            return
        result = (webhook["status"], datetime.fromisoformat(webhook["updated_at"]).timestamp())
        self._done[webhook["id"]] = result
        waiter = self._waiters.pop(webhook["id"], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    async def wait(self, webhook_id: int) -> tuple[str, float]:
        if webhook_id in self._done:
            return self._done[webhook_id]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[webhook_id] = waiter
        return await asyncio.wait_for(waiter, timeout=120)


async def listen(ws_url: str, cookie: str, completions: Completions) -> None:
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": f"{COOKIE}={cookie}"}
    ) as ws:
        async for message in ws:
            event = json.loads(message)
            if event["topic"] == "webhook":
                completions.record(event["data"])


async def closed_loop(
    http: httpx.AsyncClient,
    path: str,
    action: str,
    senders: int,
    seconds: float,
    completions: Completions,
    tag: str,
) -> tuple[list[float], list[float], int, float]:
    """`senders` loops of send -> wait for the workflow to finish, for `seconds`."""
    acks: list[float] = []
    done: list[float] = []
    started = time.monotonic()

    async def sender(number: int) -> None:
        index = 0
        while time.monotonic() - started < seconds:
            body: dict[str, Any] = {"action": action, "id": f"{tag}-{number}-{index}"}
            if action != "PING":
                body |= {"symbol": "BTCUSDT", "percent": "0.00001"}
            sent_wall, sent = time.time(), time.perf_counter()
            response = await http.post(path, json=body)
            acks.append(time.perf_counter() - sent)
            if response.status_code != 200 or response.json()["status"] != "accepted":
                raise RuntimeError(f"HTTP {response.status_code}: {response.text}")
            status, finished = await completions.wait(response.json()["webhook_id"])
            if status != "processed":
                raise RuntimeError(f"webhook {response.json()['webhook_id']} ended in {status}")
            done.append(finished - sent_wall)
            index += 1

    await asyncio.gather(*(sender(n) for n in range(senders)))
    elapsed = time.monotonic() - started
    return acks, done, len(done), elapsed


async def requests_floor(http: httpx.AsyncClient, senders: int, count: int) -> list[float]:
    latencies: list[float] = []

    async def sender() -> None:
        for _ in range(count // senders):
            sent = time.perf_counter()
            (await http.get("/api/auth/me")).raise_for_status()
            latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(sender() for _ in range(senders)))
    return latencies


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20, help="per concurrency level")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    market = MarketState()
    market_server = await LoopbackServer(create_app(market)).start()
    rows = []
    with tempfile.TemporaryDirectory(prefix="aristobot-bench-") as tmp:
        process, base, password = await start_product(
            Path(tmp), market_server.url, args.database_url
        )
        try:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
                login = {"username": "admin", "password": password}
                (await http.post("/api/auth/login", json=login)).raise_for_status()
                broker = (
                    await http.post(
                        "/api/brokers",
                        json={
                            "name": "bench",
                            "trading_mode": "webhooks",
                            "balances": {"USDT": "1000000000"},
                        },
                    )
                ).json()
                path = "/webhooks/" + broker["webhook_url"].split("/webhooks/", 1)[1]
                completions = Completions()
                cookie = http.cookies.get(COOKIE) or ""
                listener = asyncio.create_task(
                    listen(base.replace("http://", "ws://") + "/api/ws", cookie, completions)
                )
                await asyncio.sleep(0.5)
                run = secrets.token_hex(3)
                await closed_loop(http, path, "BuyMarket", 5, 3, completions, f"{run}-warm")
                for senders in (1, 10, 50):
                    floor = await requests_floor(http, senders, max(200, senders * 10))
                    _, ping_done, _, _ = await closed_loop(
                        http,
                        path,
                        "PING",
                        senders,
                        args.seconds / 2,
                        completions,
                        f"{run}-p{senders}",
                    )
                    acks, done, count, elapsed = await closed_loop(
                        http,
                        path,
                        "BuyMarket",
                        senders,
                        args.seconds,
                        completions,
                        f"{run}-b{senders}",
                    )
                    rows.append((senders, floor, ping_done, acks, done, count, elapsed))
                listener.cancel()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
            await market_server.stop()

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\nAristobot webhook benchmark: {backend}, `aristobot dev`, loopback, "
        f"{os.cpu_count()} CPUs, {args.seconds:.0f} s per level, closed-loop senders"
    )
    print("milliseconds; 'filled' = send -> workflow finished (order filled, position updated)\n")
    header = [
        "senders",
        "orders",
        "me p50",
        "ack p50",
        "ack p99",
        "ack/me",
        "PING p50",
        "filled p50",
        "filled p99",
        "filled/PING",
        "orders/s",
    ]
    print(" | ".join(f"{h:>11}" for h in header))
    for senders, floor, ping_done, acks, done, count, elapsed in rows:
        cells = [
            str(senders),
            str(count),
            ms(statistics.median(floor)),
            ms(statistics.median(acks)),
            ms(pct(acks, 0.99)),
            f"{statistics.median(acks) / statistics.median(floor):.2f}",
            ms(statistics.median(ping_done)),
            ms(statistics.median(done)),
            ms(pct(done, 0.99)),
            f"{statistics.median(done) / statistics.median(ping_done):.2f}",
            f"{count / elapsed:.1f}",
        ]
        print(" | ".join(f"{c:>11}" for c in cells))


if __name__ == "__main__":
    asyncio.run(main())
