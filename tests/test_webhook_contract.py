"""Every case of CONTRACT.md's TradingView webhook table, over real HTTP, with the real
workflow on a real Temporal dev server; the trading cases once per exchange (`venue`)."""

import asyncio
import json
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from db.base import utcnow
from db.models import Order, Webhook, WebhookClaim
from tests.conftest import ApiUser, count_rows, eventually, wait_webhook_done, webhook_path
from tests.venues import Venue
from workers.stack import Stack


async def test_accepted_json_is_answered_fast_and_fills(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await venue.create_broker(user, {"USDT": "1000"})
    started = time.monotonic()
    response = await webhook_http.post(
        webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 50}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert set(body) >= {"webhook_id", "trace_id", "workflow_id"}
    assert elapsed < 3.0, "TradingView cancels requests after 3 s"
    webhook = await wait_webhook_done(user, body["webhook_id"])
    assert webhook["status"] == "processed", webhook
    assert webhook["workflow_id"] == body["workflow_id"]
    assert webhook["workflow_url"].endswith("/workflows/" + body["workflow_id"])
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert [o["status"] for o in orders["items"]] == ["filled"]
    assert orders["items"][0]["workflow_id"] == body["workflow_id"]
    on_exchange = venue.exchange_orders(broker)
    if on_exchange is not None:
        assert [o.order_id for o in on_exchange] == [orders["items"][0]["exchange_order_id"]]


async def test_text_plain_body_is_parsed(user: ApiUser, webhook_http: httpx.AsyncClient) -> None:
    broker = await user.create_broker()
    response = await webhook_http.post(
        webhook_path(broker),
        content=b'{"Action": "PING", "Symbol": "BTCUSDT"}',
        headers={"content-type": "text/plain; charset=utf-8"},
    )
    assert response.json()["status"] == "accepted"
    webhook = await wait_webhook_done(user, response.json()["webhook_id"])
    assert webhook["status"] == "processed" and webhook["outcome"] == "PING received"
    assert webhook["content_type"].startswith("text/plain")


async def test_same_id_is_a_duplicate_at_any_time(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    path = webhook_path(broker)
    first = (await webhook_http.post(path, json={"action": "PING", "id": "alert-1"})).json()
    # A different body (another field) with the same id, and long after the 60 s window.
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        await session.execute(
            update(Webhook)
            .where(Webhook.id == first["webhook_id"])
            .values(received_at=utcnow() - timedelta(days=30))
        )
    again = await webhook_http.post(path, json={"action": "PING", "id": "alert-1", "x": 1})
    assert again.status_code == 200
    body = again.json()
    assert body["status"] == "duplicate"
    assert (body["webhook_id"], body["trace_id"], body["workflow_id"]) == (
        first["webhook_id"],
        first["trace_id"],
        first["workflow_id"],
    )
    duplicate = (await user.http.get(f"/api/webhooks/{body['duplicate_webhook_id']}")).json()
    assert duplicate["status"] == "duplicate"
    assert duplicate["duplicate_of_id"] == first["webhook_id"]
    assert await count_rows(stack, Webhook, broker["id"]) == 2


async def test_same_body_within_60s_is_a_duplicate_and_places_no_second_order(
    stack: Stack, venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await venue.create_broker(user, {"USDT": "1000"})
    body = json.dumps({"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 10}).encode()
    path = webhook_path(broker)
    first = (await webhook_http.post(path, content=body)).json()
    second = (await webhook_http.post(path, content=body)).json()
    assert first["status"] == "accepted"
    assert second["status"] == "duplicate"
    assert second["webhook_id"] == first["webhook_id"]
    assert (await wait_webhook_done(user, first["webhook_id"]))["status"] == "processed"
    assert await count_rows(stack, Order, broker["id"]) == 1
    assert len(venue.exchange_orders(broker) or [None]) == 1


async def test_same_body_after_60s_is_a_new_alert(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    body = b'{"action": "PING"}'
    path = webhook_path(broker)
    first = (await webhook_http.post(path, content=body)).json()
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:  # let the window pass
        await session.execute(
            update(WebhookClaim)
            .where(WebhookClaim.broker_id == broker["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    second = (await webhook_http.post(path, content=body)).json()
    assert second["status"] == "accepted"
    assert second["webhook_id"] != first["webhook_id"]


async def test_concurrent_identical_deliveries_make_one_order(
    stack: Stack, venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await venue.create_broker(user, {"USDT": "1000"})
    body = b'{"action": "BuyMarket", "symbol": "ETHUSDT", "percent": 20}'
    answers = await asyncio.gather(
        *(webhook_http.post(webhook_path(broker), content=body) for _ in range(8))
    )
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 7
    accepted = next(a.json() for a in answers if a.json()["status"] == "accepted")
    assert (await wait_webhook_done(user, accepted["webhook_id"]))["status"] == "processed"
    assert await count_rows(stack, Order, broker["id"]) == 1
    assert await count_rows(stack, Webhook, broker["id"]) == 8
    assert len(venue.exchange_orders(broker) or [None]) == 1


INVALID = [
    (b"", "empty"),
    (b"{broken", "not valid JSON"),
    (b'{"symbol": "BTCUSDT"}', 'missing field "action"'),
    (b'{"action": "Nope", "symbol": "BTCUSDT"}', "unknown action"),
    (b'{"action": "BuyMarket"}', 'missing field "symbol"'),
    (b'{"action": "BuyLimit", "symbol": "BTCUSDT"}', 'needs a limit "price"'),
    (b'{"action": "BuyLimit", "symbol": "BTCUSDT", "price": "{{close}}"}', "placeholder"),
    (b'{"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 250}', "at most 100"),
    (b'{"action": "MAJ", "symbol": "BTCUSDT"}', 'needs at least one of "sl" or "tp"'),
]


@pytest.mark.parametrize(("body", "reason"), INVALID)
async def test_invalid_payload_is_422_and_recorded_as_rejected(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    broker = await user.create_broker()
    response = await webhook_http.post(webhook_path(broker), content=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and reason in detail
    listed = (await user.http.get("/api/webhooks", params={"broker_id": broker["id"]})).json()
    assert len(listed["items"]) == 1
    record = listed["items"][0]
    assert record["status"] == "rejected"
    assert record["error"] == detail
    assert record["raw_body"] == body.decode()
    assert await count_rows(stack, Order, broker["id"]) == 0


async def test_broker_mismatch_is_422(user: ApiUser, webhook_http: httpx.AsyncClient) -> None:
    broker = await user.create_broker()
    response = await webhook_http.post(
        webhook_path(broker), json={"action": "PING", "UserExchangeID": broker["id"] + 1000}
    )
    assert response.status_code == 422
    assert "does not match" in response.json()["detail"]
    matching = await webhook_http.post(
        webhook_path(broker), json={"action": "PING", "broker_id": broker["id"]}
    )
    assert matching.json()["status"] == "accepted"


async def test_unknown_token_is_404_and_records_nothing(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    response = await webhook_http.post("/webhooks/tradingview/not-a-token", json={"action": "PING"})
    assert response.status_code == 404
    assert await count_rows(stack, Webhook, broker["id"]) == 0


async def test_body_over_64_kib_is_413_and_recorded(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    body = json.dumps({"action": "PING", "pad": "x" * (64 * 1024)}).encode()
    response = await webhook_http.post(webhook_path(broker), content=body)
    assert response.status_code == 413
    listed = (await user.http.get("/api/webhooks", params={"broker_id": broker["id"]})).json()
    assert [w["status"] for w in listed["items"]] == ["rejected"]
    assert "limit is 65536" in listed["items"][0]["error"]
    # Exactly at the limit is fine.
    exact = b'{"action":"PING","p":"' + b"y" * (64 * 1024 - 24) + b'"}'
    assert len(exact) == 64 * 1024
    assert (await webhook_http.post(webhook_path(broker), content=exact)).status_code == 200


async def test_rotated_token_stops_the_old_url(
    user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    rotated = (await user.http.post(f"/api/brokers/{broker['id']}/webhook-token")).json()
    assert rotated["webhook_url"] != broker["webhook_url"]
    old = await webhook_http.post(webhook_path(broker), json={"action": "PING"})
    assert old.status_code == 404
    new = await webhook_http.post(webhook_path(rotated), json={"action": "PING"})
    assert new.status_code == 200


async def test_every_delivery_is_recorded_once(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    """The old system's double save (receiver and engine each inserting a row) must not
    come back: N deliveries, N rows, whatever their outcome."""
    broker = await user.create_broker()
    path = webhook_path(broker)
    deliveries = [
        b'{"action":"PING"}',
        b'{"action":"PING"}',
        b"nope",
        b'{"action":"PING","id":"z"}',
    ]
    for body in deliveries:
        await webhook_http.post(path, content=body)
    accepted = (await user.http.get("/api/webhooks", params={"broker_id": broker["id"]})).json()

    async def all_settled() -> bool:
        rows = (await user.http.get("/api/webhooks", params={"broker_id": broker["id"]})).json()
        return all(w["status"] not in ("received", "processing") for w in rows["items"])

    await eventually(all_settled)
    assert accepted["total"] == len(deliveries)
    assert await count_rows(stack, Webhook, broker["id"]) == len(deliveries)


async def test_rejected_record_keeps_what_could_be_read(
    user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker()
    body = {"Action": "BuyLimit", "Symbol": "ETHUSDT", "Prix": "{{close}}"}
    response = await webhook_http.post(webhook_path(broker), json=body)
    assert response.status_code == 422
    [record] = (await user.http.get("/api/webhooks", params={"broker_id": broker["id"]})).json()[
        "items"
    ]
    assert (record["status"], record["action"], record["symbol"]) == (
        "rejected",
        "BuyLimit",
        "ETHUSDT",
    )
