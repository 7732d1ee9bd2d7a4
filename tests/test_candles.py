"""Closed candles are stored once each and served newest last by GET /api/candles."""

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import httpx

from exchanges.types import Candle
from market.candle_store import store_closed
from tests.conftest import ApiUser
from workers.stack import Stack

START = datetime(2026, 1, 1, tzinfo=UTC)


def minute(i: int, *, closed: bool = True) -> Candle:
    price = D(100) + D(i) / 10
    return Candle(
        open_time=START + timedelta(minutes=i),
        open=price,
        high=price + D("0.5"),
        low=price - D("0.5"),
        close=price + D("0.05"),
        volume=D("1.25"),
        closed=closed,
    )


async def test_closed_candles_are_stored_once_and_served_newest_last(
    stack: Stack, user: ApiUser
) -> None:
    assert stack.runtime is not None
    symbol = f"T{secrets.token_hex(3).upper()}/USDT"
    arrived = [minute(i) for i in range(5)] + [minute(5, closed=False)]
    async with stack.runtime.sessions.begin() as session:
        assert await store_closed(session, symbol, "1m", arrived, "simulated") == 5
    # The same candles again (a backfill overlapping the stream): nothing new.
    async with stack.runtime.sessions.begin() as session:
        assert await store_closed(session, symbol, "1m", arrived[2:], "binance") == 0

    answer = await user.http.get(
        "/api/candles", params={"symbol": symbol.replace("/", ""), "timeframe": "1m", "limit": 3}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["symbol"], body["timeframe"]) == (symbol, "1m")
    assert [c["open_time"][:16] for c in body["items"]] == [
        "2026-01-01T00:02",
        "2026-01-01T00:03",
        "2026-01-01T00:04",
    ]
    last = body["items"][-1]
    assert (D(last["open"]), D(last["close"]), last["source"]) == (
        D("100.4"),
        D("100.45"),
        "simulated",
    )
    other = await user.http.get("/api/candles", params={"symbol": symbol, "timeframe": "5m"})
    assert other.json()["items"] == []


async def test_candles_refuse_unknown_timeframes_and_anonymous_callers(
    stack: Stack, user: ApiUser
) -> None:
    refused = await user.http.get("/api/candles", params={"symbol": "BTCUSDT", "timeframe": "2m"})
    assert refused.status_code == 422
    async with httpx.AsyncClient(base_url=stack.url) as anonymous:
        assert (
            await anonymous.get("/api/candles", params={"symbol": "BTCUSDT"})
        ).status_code == 401
