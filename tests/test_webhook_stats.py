"""Dashboard summaries over the API: the Webhooks page's stats per time window (only the
user's own webhooks) and the symbol search's quote filter."""

import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from db.base import utcnow
from db.models import MarketRow, Position, Webhook
from tests.conftest import ApiUser
from workers.stack import Stack


async def add_webhooks(
    stack: Stack, user: ApiUser, broker: dict[str, Any], age: timedelta, **counts: int
) -> None:
    """`counts` webhooks of each status, received `age` ago."""
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        for status, n in counts.items():
            for _ in range(n):
                session.add(
                    Webhook(
                        user_id=user.id,
                        broker_id=broker["id"],
                        status=status,
                        action="PING",
                        raw_body="{}",
                        body_sha256=secrets.token_hex(32),
                        trace_id=secrets.token_hex(16),
                        received_at=utcnow() - age,
                    )
                )


async def add_position(stack: Stack, user: ApiUser, broker: dict[str, Any], status: str) -> None:
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        session.add(
            Position(
                user_id=user.id,
                broker_id=broker["id"],
                symbol=f"S{secrets.token_hex(3).upper()}/USDT",
                status=status,
                quantity=Decimal(1),
                entry_price=Decimal(10),
                cost_basis=Decimal(10),
            )
        )


async def stats(user: ApiUser, **params: Any) -> dict[str, Any]:
    response = await user.http.get("/api/webhooks/stats", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("total", "processed", "rejected", "errors", "duplicates", "pending", "success_rate")
    return tuple(body[k] for k in keys)


async def test_stats_count_each_window_and_only_the_users_webhooks(
    stack: Stack, make_user: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    broker = await alice.create_broker()
    hour, days3, days20, days40 = (timedelta(hours=h) for h in (1, 72, 480, 960))
    await add_webhooks(
        stack, alice, broker, hour, processed=3, rejected=1, error=1, duplicate=1, received=1
    )
    await add_webhooks(stack, alice, broker, days3, processed=2, rejected=1)
    await add_webhooks(stack, alice, broker, days20, processed=4)
    await add_webhooks(stack, alice, broker, days40, processed=5)
    bobs = await bob.create_broker()
    await add_webhooks(stack, bob, bobs, hour, processed=3, error=2)
    await add_position(stack, alice, broker, "open")
    await add_position(stack, alice, broker, "closed")
    await add_position(stack, bob, bobs, "open")

    day = await stats(alice)
    assert day["window"] == "24h"
    assert counts(day) == (7, 3, 1, 1, 1, 1, "42.9")  # 3 / 7 processed
    assert day["open_positions"] == 1
    assert counts(await stats(alice, window="7d")) == (10, 5, 2, 1, 1, 1, "50.0")
    assert counts(await stats(alice, window="30d")) == (14, 9, 2, 1, 1, 1, "64.3")

    # A second broker's webhooks count, unless the stats are asked for one broker.
    other = await alice.create_broker()
    await add_webhooks(stack, alice, other, hour, processed=1)
    assert (await stats(alice))["total"] == 8
    only = await stats(alice, broker_id=other["id"])
    assert counts(only) == (1, 1, 0, 0, 0, 0, "100.0")
    assert only["open_positions"] == 0

    refused = await bob.http.get("/api/webhooks/stats", params={"broker_id": broker["id"]})
    assert refused.status_code == 404
    assert counts(await stats(bob)) == (5, 3, 0, 2, 0, 0, "60.0")
    assert (await stats(bob))["open_positions"] == 1


async def test_stats_of_a_quiet_user_and_bad_windows(webhook_http: Any, user: ApiUser) -> None:
    body = await stats(user, window="30d")
    assert counts(body) == (0, 0, 0, 0, 0, 0, None)
    assert body["open_positions"] == 0
    assert (await user.http.get("/api/webhooks/stats", params={"window": "1y"})).status_code == 422
    assert (await webhook_http.get("/api/webhooks/stats")).status_code == 401
    # The route before /webhooks/{id} does not hide it.
    assert (await user.http.get("/api/webhooks/999999999")).status_code == 404


async def add_markets(stack: Stack, broker: dict[str, Any], symbols: list[str]) -> None:
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        for symbol in symbols:
            base, quote = symbol.split("/")
            session.add(
                MarketRow(
                    broker_id=broker["id"],
                    symbol=symbol,
                    exchange_symbol=base + quote,
                    base=base,
                    quote=quote,
                    amount_step=Decimal("0.001"),
                    price_tick=Decimal("0.01"),
                    min_qty=Decimal("0.001"),
                    min_notional=Decimal(5),
                )
            )


async def test_symbol_search_filters_by_quote(stack: Stack, make_user: Any) -> None:
    alice, bob = await make_user(), await make_user()
    broker = await alice.create_broker()
    await add_markets(stack, broker, ["QQA/USDT", "QQA/USDC", "QQA/BTC", "QQB/USDT"])

    async def found(**params: str) -> list[str]:
        response = await alice.http.get(
            f"/api/brokers/{broker['id']}/symbols", params={"q": "QQ", **params}
        )
        assert response.status_code == 200, response.text
        return [s["symbol"] for s in response.json()["items"]]

    assert await found() == ["QQA/BTC", "QQA/USDC", "QQA/USDT", "QQB/USDT"]
    assert await found(quote="USDT") == ["QQA/USDT", "QQB/USDT"]
    assert await found(quote="usdc") == ["QQA/USDC"]
    assert await found(quote="") == ["QQA/BTC", "QQA/USDC", "QQA/USDT", "QQB/USDT"]
    refused = await alice.http.get(
        f"/api/brokers/{broker['id']}/symbols", params={"quote": "US DT"}
    )
    assert refused.status_code == 422
    other = await bob.http.get(f"/api/brokers/{broker['id']}/symbols", params={"quote": "USDT"})
    assert other.status_code == 404
