"""Reconciliation: each broker's Temporal Schedule follows the broker, and a pass brings
what happened on the exchange (fills without an alert, orders placed elsewhere) into our
records."""

from decimal import Decimal as D
from typing import Any

import httpx
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
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


async def full_pass(temporal_client: Client, broker: dict[str, Any]) -> None:
    """Triggers a pass and waits until one that started after this call has finished."""
    handle = temporal_client.get_schedule_handle(reconcile_schedule_id(broker["id"]))
    before = (await handle.describe()).info.num_actions

    async def started() -> str | None:
        info = (await handle.describe()).info
        if info.num_actions > before:
            action = info.recent_actions[-1].action
            assert isinstance(action, ScheduleActionExecutionStartWorkflow)
            return action.workflow_id
        await handle.trigger()  # skipped while a pass is running (overlap SKIP): again
        return None

    workflow_id = await eventually(started, timeout=30, interval=0.5)
    await temporal_client.get_workflow_handle(workflow_id).result()


async def signal(
    webhook_http: httpx.AsyncClient, user: ApiUser, broker: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    response = await webhook_http.post(webhook_path(broker), json=fields)
    assert response.status_code == 200, response.text
    done = await wait_webhook_done(user, response.json()["webhook_id"])
    assert done["status"] == "processed", done
    return done


async def positions(user: ApiUser, broker: dict[str, Any], status: str) -> list[dict[str, Any]]:
    params = {"status": status, "broker_id": broker["id"]}
    body = (await user.http.get("/api/positions", params=params)).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_partial_fills_move_the_position_as_they_come(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient, temporal_client: Client
) -> None:
    # By hand. 40 % of 1000 USDT at a limit of 100: a buy of 4 SOL. It fills 1.5, then 1.5
    # more, at its limit (the maker's price); the last 1 is canceled on the exchange. Fees
    # are 0.1 %: in SOL (the asset received) on Binance and Bitget, in USDT on Kraken.
    #                 fee in SOL                        fee in USDT (Kraken)
    #   fill 1        1.5 x 100 = 150, fee 0.0015 SOL   150, fee 0.15 USDT
    #     position    1.4985 SOL, cost basis 150        1.5 SOL, cost basis 150.15
    #   fill 2        the same again
    #     position    2.997 SOL, cost basis 300         3 SOL, cost basis 300.30
    #   sell all at 120, fee 0.1 % in USDT everywhere:
    #     proceeds    2.997 x 120 = 359.64 - 0.35964    3 x 120 = 360 - 0.36
    #     realized    359.28036 - 300 = 59.28036        359.64 - 300.30 = 59.34
    #   fees paid     2 x 0.0015 x 100 + 0.35964        2 x 0.15 + 0.36
    in_quote = fake_venue.fee_in_quote
    held_1, basis_1 = (D("1.5"), D("150.15")) if in_quote else (D("1.4985"), D(150))
    held_2, basis_2 = (D(3), D("300.30")) if in_quote else (D("2.997"), D(300))
    realized = D("59.34") if in_quote else D("59.28036")
    fees_paid = D("0.66") if in_quote else D("0.65964")
    buy_fee = (D("0.15"), "USDT") if in_quote else (D("0.0015"), "SOL")

    fake_venue.set_price("SOL/USDT", "150")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"})
    account, ledger = fake_venue.account(broker), fake_venue.fake.ledger
    done = await signal(
        webhook_http, user, broker, action="BuyLimit", symbol="SOLUSDT", price="100", percent=40
    )
    order_path = f"/api/orders/{done['order_id']}"
    order = (await user.http.get(order_path)).json()
    assert (order["status"], D(order["quantity"])) == ("open", 4)
    resting = account.orders[order["exchange_order_id"]]

    async def state() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        await full_pass(temporal_client, broker)
        return (await user.http.get(order_path)).json(), await positions(user, broker, "open")

    ledger.fill_partially(account, resting, "1.5")
    order, [position] = await state()
    assert (order["status"], D(order["filled_quantity"])) == ("partially_filled", D("1.5"))
    assert D(order["average_price"]) == 100
    assert (D(order["fee"]), order["fee_asset"]) == buy_fee
    assert (D(position["quantity"]), D(position["cost_basis"])) == (held_1, basis_1)
    assert D(position["entry_price"]) == 100

    ledger.fill_partially(account, resting, "1.5")
    order, [position] = await state()
    assert (order["status"], D(order["filled_quantity"])) == ("partially_filled", 3)
    assert (D(position["quantity"]), D(position["cost_basis"])) == (held_2, basis_2)
    assert D(position["entry_price"]) == 100

    ledger.cancel(account, resting)  # the user cancels the rest on the exchange
    for _ in range(3):  # recorded once, then passes that find nothing new
        order, [position] = await state()
        assert (order["status"], D(order["filled_quantity"])) == ("canceled", 3)
        assert (D(position["quantity"]), D(position["cost_basis"])) == (held_2, basis_2)
    assert account.locked["USDT"] == 0  # the canceled 1 SOL at 100 released its 100 USDT

    fake_venue.set_price("SOL/USDT", "120")
    sold = await signal(webhook_http, user, broker, action="SellMarket", symbol="SOLUSDT")
    sell = (await user.http.get(f"/api/orders/{sold['order_id']}")).json()
    assert (sell["status"], D(sell["filled_quantity"])) == ("filled", held_2)
    [closed] = await positions(user, broker, "closed")
    assert closed["id"] == position["id"]
    assert D(closed["realized_pnl"]) == realized
    assert D(closed["fees_paid"]) == fees_paid
    assert account.free["USDT"] == 1000 + realized  # the exchange agrees


async def test_orders_opened_and_closed_between_two_passes_are_imported(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient, temporal_client: Client
) -> None:
    fake_venue.set_price("ETH/USDT", "2500")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"})
    # The broker trades ETH/USDT: a position of ours.
    await signal(webhook_http, user, broker, action="BuyMarket", symbol="ETHUSDT", percent=25)
    [position] = await positions(user, broker, "open")
    account, ledger = fake_venue.account(broker), fake_venue.fake.ledger
    # On the exchange's own site, between two passes: never seen open by a pass.
    bought = ledger.place(account, "ETH/USDT", "buy", "market", quantity=D("0.01"))
    withdrawn = ledger.place(account, "ETH/USDT", "buy", "limit", quantity=D("0.01"), price=D(2000))
    ledger.cancel(account, withdrawn)
    assert (bought.status, withdrawn.status) == ("filled", "canceled")

    await full_pass(temporal_client, broker)
    body = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    imported = {o["exchange_order_id"]: o for o in body["items"] if o["source"] == "reconcile"}
    assert set(imported) == {str(bought.order_id), str(withdrawn.order_id)}
    market_buy = imported[str(bought.order_id)]
    assert (market_buy["side"], market_buy["type"], market_buy["status"]) == (
        "buy",
        "market",
        "filled",
    )
    assert D(market_buy["filled_quantity"]) == D("0.01")
    assert D(market_buy["average_price"]) == 2500
    limit = imported[str(withdrawn.order_id)]
    assert (limit["type"], limit["status"], D(limit["filled_quantity"])) == ("limit", "canceled", 0)
    # Not ours: our position did not move.
    [still] = await positions(user, broker, "open")
    assert still["quantity"] == position["quantity"]
    await full_pass(temporal_client, broker)  # imported once
    again = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert len(again["items"]) == len(body["items"]) == 3
