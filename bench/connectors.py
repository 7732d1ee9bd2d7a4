"""Connector benchmark: Aristobot's BinanceConnector against ccxt's async binance client,
per call, on the same fake Binance spot API.

The fake (tests/fakes/binance_exchange.py: signatures, clock window, ledger) runs in this
process on a loopback port, so each figure is the client's own work plus one loopback
round trip and the fake's work, which both clients pay alike. Operations:
- create_order: a market buy of 0.0002 BTC (fill, price and fee in the answer);
- fetch_balance: the signed GET /api/v3/account.
Before timing, both clients load the markets once and ours measures the server clock;
ccxt skips its currency download and its own throttle (which would space calls 50 ms
apart). After a warm-up the clients alternate call by call, the first one flipping each
round, so they share the machine's noise. The floors are an unsigned GET /api/v3/ping
with a bare httpx client (what our connector is built on) and a bare aiohttp session
(what ccxt is built on): the difference between them is the HTTP client's share.

    .venv/bin/python bench/connectors.py [CALLS] [--warmup N]
"""

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exchanges.binance import BinanceConnector  # noqa: E402
from exchanges.http import ApiCredentials, HttpPool  # noqa: E402
from exchanges.types import OrderRequest  # noqa: E402
from tests.fakes.binance_exchange import FakeBinance  # noqa: E402
from tests.fakes.server import LoopbackServer  # noqa: E402

QUANTITY = Decimal("0.0002")  # 10 USDT at the fake's 50000: above the 5 USDT minimum
Call = Callable[[], Awaitable[Any]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:.2f}"


async def timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("calls", type=int, nargs="?", default=300, help="per client and op")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    fake = FakeBinance()
    account = fake.add_account({"USDT": "1000000000"})
    server = await LoopbackServer(fake.app).start()
    pool = HttpPool(timeout=10)
    ours = BinanceConnector(
        pool.endpoint(server.url), ApiCredentials(account.api_key, account.api_secret)
    )
    theirs = ccxt_async.binance(
        {
            "apiKey": account.api_key,
            "secret": account.api_secret,
            "enableRateLimit": False,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    for api in ("public", "private"):
        theirs.urls["api"][api] = f"{server.url}/api/v3"
    bare_httpx = httpx.AsyncClient(base_url=server.url)
    bare_aiohttp = aiohttp.ClientSession()

    def our_order() -> Awaitable[Any]:
        return ours.create_order(
            OrderRequest(
                symbol="BTC/USDT",
                side="buy",
                type="market",
                quantity=QUANTITY,
                client_order_id="ab" + secrets.token_hex(10),
            )
        )

    def their_order() -> Awaitable[Any]:
        return theirs.create_order("BTC/USDT", "market", "buy", float(QUANTITY))

    operations: dict[str, dict[str, Call]] = {
        "create_order": {"ours": our_order, "ccxt": their_order},
        "fetch_balance": {"ours": ours.fetch_balances, "ccxt": theirs.fetch_balance},
    }
    samples: dict[tuple[str, str], list[float]] = {
        (op, client): [] for op, clients in operations.items() for client in clients
    }
    floors: dict[str, list[float]] = {"httpx": [], "aiohttp": []}

    async def aiohttp_ping() -> None:
        async with bare_aiohttp.get(f"{server.url}/api/v3/ping") as response:
            await response.read()

    pings: dict[str, Call] = {
        "httpx": lambda: bare_httpx.get("/api/v3/ping"),
        "aiohttp": aiohttp_ping,
    }
    try:
        await ours.load_markets()
        await theirs.load_markets()
        for round_number in range(args.warmup + args.calls):
            floor_samples = {name: await timed(ping) for name, ping in pings.items()}
            measured: list[tuple[tuple[str, str], float]] = []
            for op, clients in operations.items():
                order = list(clients.items())
                if round_number % 2:
                    order.reverse()
                for client, call in order:
                    measured.append(((op, client), await timed(call)))
            if round_number >= args.warmup:
                for name, seconds in floor_samples.items():
                    floors[name].append(seconds)
                for key, seconds in measured:
                    samples[key].append(seconds)
        orders = [o for o in account.orders.values() if o.status == "filled"]
        assert len(orders) == 2 * (args.warmup + args.calls), "an order did not fill"
    finally:
        await theirs.close()
        await bare_httpx.aclose()
        await bare_aiohttp.close()
        await pool.aclose()
        await server.stop()

    print(
        f"\nConnector benchmark: BinanceConnector vs ccxt {ccxt.__version__} async binance,"
        f" fake Binance in-process on loopback, {os.cpu_count()} CPUs,"
        f" {args.calls} calls each after {args.warmup} warm-up rounds, interleaved"
    )
    print(
        "milliseconds per call; ping floor p50: httpx"
        f" {ms(statistics.median(floors['httpx']))}, aiohttp"
        f" {ms(statistics.median(floors['aiohttp']))}\n"
    )
    header = ["operation", "ours p50", "ours p99", "ccxt p50", "ccxt p99", "p50 ratio", "p99 ratio"]
    print(" | ".join(f"{h:>13}" for h in header))
    for op in operations:
        mine, other = samples[(op, "ours")], samples[(op, "ccxt")]
        cells = [
            op,
            ms(statistics.median(mine)),
            ms(pct(mine, 0.99)),
            ms(statistics.median(other)),
            ms(pct(other, 0.99)),
            f"{statistics.median(mine) / statistics.median(other):.2f}",
            f"{pct(mine, 0.99) / pct(other, 0.99):.2f}",
        ]
        print(" | ".join(f"{c:>13}" for c in cells))
    print("\nratio = ours / ccxt (below 1: ours is faster)")


if __name__ == "__main__":
    asyncio.run(main())
