"""Reconciliation: each broker's Temporal Schedule follows the broker, and a pass brings
what happened on the exchange (fills without an alert, orders placed elsewhere) into our
records."""

from decimal import Decimal as D
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from tests.conftest import ApiUser, eventually, wait_webhook_done, webhook_path
from tests.venues import FakeVenue, Venue
from workflows.inputs import reconcile_schedule_id


async def reconcile(temporal_client: Client, broker: dict[str, Any]) -> None:
    await temporal_client.get_schedule_handle(reconcile_schedule_id(broker["id"])).trigger()


async def test_the_schedule_follows_the_broker(user: ApiUser, temporal_client: Client) -> None:
    broker = await user.create_broker(trading_mode="webhooks")
    handle = temporal_client.get_schedule_handle(reconcile_schedule_id(broker["id"]))
    described = await handle.describe()
    assert described.schedule.state.paused is False
    await user.http.patch(f"/api/brokers/{broker['id']}", json={"trading_mode": "off"})
    assert (await handle.describe()).schedule.state.paused is True
    await user.http.delete(f"/api/brokers/{broker['id']}")
    try:
        await handle.describe()
        raise AssertionError("the schedule outlived its broker")
    except RPCError as exc:
        assert "not found" in str(exc).lower()


async def test_a_limit_filled_on_the_exchange_is_recorded_without_an_alert(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient, temporal_client: Client
) -> None:
    venue.set_price("SOL/USDT", "150")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    response = await webhook_http.post(
        webhook_path(broker),
        json={"action": "BuyLimit", "symbol": "SOLUSDT", "price": "100", "percent": 50},
    )
    resting = await wait_webhook_done(user, response.json()["webhook_id"])
    order_path = f"/api/orders/{resting['order_id']}"
    assert (await user.http.get(order_path)).json()["status"] == "open"
    venue.set_price("SOL/USDT", "99")  # the market crosses the limit
    venue.set_price("SOL/USDT", "101")

    async def filled() -> dict[str, Any] | None:
        await reconcile(temporal_client, broker)
        order: dict[str, Any] = (await user.http.get(order_path)).json()
        return order if order["status"] == "filled" else None

    order = await eventually(filled, timeout=30, interval=1.0)
    assert D(order["filled_quantity"]) == 5 and D(order["average_price"]) == 100
    [position] = (
        await user.http.get("/api/positions", params={"status": "open", "broker_id": broker["id"]})
    ).json()["items"]
    assert position["symbol"] == "SOL/USDT" and D(position["entry_price"]) == 100
    held = D(5) if venue.fee_in_quote else D("4.995")
    assert D(position["quantity"]) == held


async def test_orders_placed_outside_aristobot_are_imported(
    fake_venue: FakeVenue, user: ApiUser, temporal_client: Client
) -> None:
    broker = await fake_venue.create_broker(user, {"USDT": "1000"})
    account = fake_venue.account(broker)
    # Placed on the exchange's own site: no client id of ours.
    foreign = fake_venue.fake.ledger.place(
        account, "BTC/USDT", "buy", "limit", quantity=D("0.001"), price=D("40000")
    )

    async def imported() -> list[dict[str, Any]]:
        await reconcile(temporal_client, broker)
        body = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
        return [o for o in body["items"] if o["source"] == "reconcile"]

    [order] = await eventually(imported, timeout=30, interval=1.0)
    assert order["exchange_order_id"] == str(foreign.order_id)
    assert (order["side"], order["type"], order["status"]) == ("buy", "limit", "open")
    assert D(order["price"]) == 40000 and D(order["quantity"]) == D("0.001")
    await reconcile(temporal_client, broker)  # a second pass imports nothing new
    body = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert len(body["items"]) == 1
