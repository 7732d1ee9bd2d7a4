"""Webhook benchmark: ack latency and webhook -> processed (order filled, position updated)
latency at 1, 10 and 50 concurrent senders.

Runs the product as a user would (`aristobot dev` in a subprocess: its own Temporal dev
server, SQLite by default or --database-url, API + worker in one process) against a fake
Binance market-data server, and drives it over loopback HTTP. Baselines measured in the
same run: `GET /api/auth/me` (one session lookup: the HTTP + database floor under the ack)
and `PING` webhooks (the workflow without the order path). Figures are medians and p99s.

    .venv/bin/python bench/webhook.py [--rounds N] [--database-url URL]
"""

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.binance_market import MarketState, create_app  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402

ARISTOBOT = str(Path(sys.executable).parent / "aristobot")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}"


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
    text = log.read_text()
    match = re.search(r"First login\s+admin / (\S+)", text)
    password = match.group(1) if match else ""
    return process, f"http://127.0.0.1:{port}", password


async def timed_requests(
    http: httpx.AsyncClient, count: int, concurrency: int, request: Any
) -> tuple[list[float], list[tuple[float, dict[str, Any]]], float]:
    """Runs `count` requests with `concurrency` senders; returns latencies, (send wall time,
    answer) pairs and the elapsed wall time."""
    latencies: list[float] = []
    answers: list[tuple[float, dict[str, Any]]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def sender() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            sent_wall, started = time.time(), time.perf_counter()
            response = await request(http, index)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text}")
            answers.append((sent_wall, response.json()))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return latencies, answers, time.perf_counter() - started


async def processed_latencies(
    http: httpx.AsyncClient, answers: list[tuple[float, dict[str, Any]]]
) -> tuple[list[float], float]:
    """Send time -> the webhook record's final update (workflow finished), and the rate at
    which the batch was processed (first send to last finish)."""
    pending = {a["webhook_id"]: sent for sent, a in answers}
    done: dict[int, float] = {}
    last = 0.0
    deadline = time.monotonic() + 300
    while len(done) < len(pending):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)}/{len(pending)} webhooks finished")
        page = (await http.get("/api/webhooks", params={"limit": 1000})).json()["items"]
        for hook in page:
            if hook["id"] in pending and hook["id"] not in done:
                if hook["status"] == "error":
                    raise RuntimeError(f"webhook {hook['id']} failed: {hook['error']}")
                if hook["status"] == "processed":
                    finished = datetime.fromisoformat(hook["updated_at"]).timestamp()
                    done[hook["id"]] = finished - pending[hook["id"]]
                    last = max(last, finished)
        await asyncio.sleep(0.5)
    return list(done.values()), len(done) / (last - min(pending.values()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1, help="multiplies the request counts")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    plan = [(1, 60 * args.rounds), (10, 200 * args.rounds), (50, 400 * args.rounds)]

    market = MarketState()
    market_server = await LoopbackServer(create_app(market)).start()
    with tempfile.TemporaryDirectory(prefix="aristobot-bench-") as tmp:
        process, base, password = await start_product(
            Path(tmp), market_server.url, args.database_url
        )
        try:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
                if not password:
                    raise RuntimeError("no first-run admin password (reused data dir?)")
                (
                    await http.post(
                        "/api/auth/login", json={"username": "admin", "password": password}
                    )
                ).raise_for_status()
                broker = (
                    await http.post(
                        "/api/brokers",
                        json={
                            "name": "bench",
                            "exchange": "paper",
                            "trading_mode": "webhooks",
                            "balances": {"USDT": "1000000000"},
                        },
                    )
                ).json()
                path = "/webhooks/" + broker["webhook_url"].split("/webhooks/", 1)[1]
                run_id = secrets.token_hex(3)

                def webhook(action: str) -> Any:
                    async def send(client: httpx.AsyncClient, index: int) -> httpx.Response:
                        body = {
                            "action": action,
                            "id": f"{run_id}-{action}-{index}-{time.time_ns()}",
                        }
                        if action != "PING":
                            body |= {"symbol": "BTCUSDT", "percent": "0.00001"}
                        return await client.post(path, json=body)

                    return send

                async def me(client: httpx.AsyncClient, index: int) -> httpx.Response:
                    return await client.get("/api/auth/me")

                # warm-up: connections, caches, the first workflow
                await timed_requests(http, 20, 5, webhook("BuyMarket"))
                await asyncio.sleep(2)

                rows = []
                for concurrency, count in plan:
                    base_lat, _, _ = await timed_requests(http, count, concurrency, me)
                    ping_lat, ping_answers, _ = await timed_requests(
                        http, count, concurrency, webhook("PING")
                    )
                    ping_done, _ = await processed_latencies(http, ping_answers)
                    buy_lat, buy_answers, elapsed = await timed_requests(
                        http, count, concurrency, webhook("BuyMarket")
                    )
                    buy_done, rate = await processed_latencies(http, buy_answers)
                    rows.append(
                        (
                            concurrency,
                            count,
                            base_lat,
                            ping_lat,
                            buy_lat,
                            ping_done,
                            buy_done,
                            elapsed,
                            rate,
                        )
                    )

                orders = (await http.get("/api/orders", params={"limit": 1})).json()["total"]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(60)
            await market_server.stop()

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\nAristobot webhook benchmark ({backend}, aristobot dev, loopback; {os.cpu_count()} CPUs)"
    )
    print(
        "latencies in ms; p50 / p99; 'processed' = HTTP send -> workflow finished"
        " (order filled, position updated, outcome written)\n"
    )
    header = (
        "senders",
        "n",
        "me p50",
        "me p99",
        "ack p50",
        "ack p99",
        "ack/me",
        "PING done p50",
        "buy done p50",
        "buy done p99",
        "buy/PING",
        "buys/s",
    )
    print(" | ".join(f"{h:>12}" for h in header))
    for (
        concurrency,
        count,
        base_lat,
        _ping_lat,
        buy_lat,
        ping_done,
        buy_done,
        elapsed,
        rate,
    ) in rows:
        cells = [
            f"{concurrency:>12}",
            f"{count:>12}",
            f"{ms(statistics.median(base_lat)):>12}",
            f"{ms(pct(base_lat, 0.99)):>12}",
            f"{ms(statistics.median(buy_lat)):>12}",
            f"{ms(pct(buy_lat, 0.99)):>12}",
            f"{statistics.median(buy_lat) / statistics.median(base_lat):>12.2f}",
            f"{ms(statistics.median(ping_done)):>12}",
            f"{ms(statistics.median(buy_done)):>12}",
            f"{ms(pct(buy_done, 0.99)):>12}",
            f"{statistics.median(buy_done) / statistics.median(ping_done):>12.2f}",
            f"{count / elapsed:>12.1f}",
            f"{rate:>12.1f}",
        ]
        print(" | ".join(cells))
    print(
        f"\norders placed in total: {orders}; acks/s = webhooks answered per second,"
        " orders/s = buys processed per second (first send to last finish)"
    )


if __name__ == "__main__":
    asyncio.run(main())
