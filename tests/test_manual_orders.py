"""Manual trading over real HTTP with the real workflows on the Temporal dev server, once
per exchange where the exchange matters: validate (rounding, minimums, balances), the 15 s
confirmation, market and limit orders, cancel, edit (cancel/replace), closing a position,
and other users' objects answering 404."""

import time
from decimal import Decimal as D
from typing import Any

import httpx

from api.order_tokens import OrderTerms, OrderTokens, confirmation_key
from tests.conftest import ApiUser
from tests.fakes.binance_market import MarketState
from tests.test_protection import buy_protected, legs, open_position
from tests.venues import Venue
from workers.stack import Stack


async def validate(user: ApiUser, broker: dict[str, Any], **order: Any) -> dict[str, Any]:
    response = await user.http.post(
        "/api/orders/validate", json={"broker_id": broker["id"], **order}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refusal(user: ApiUser, broker: dict[str, Any], **order: Any) -> str:
    response = await user.http.post(
        "/api/orders/validate", json={"broker_id": broker["id"], **order}
    )
    assert response.status_code == 422, response.text
    detail: str = response.json()["detail"]
    return detail


async def place(user: ApiUser, broker: dict[str, Any], **order: Any) -> dict[str, Any]:
    """Validate, then execute with the confirmation, as the dashboard does."""
    preview = await validate(user, broker, **order)
    response = await user.http.post(
        "/api/orders",
        json={"broker_id": broker["id"], **order, "confirmation": preview["confirmation"]},
        params={"wait": 10},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_order(user: ApiUser, order_id: int) -> dict[str, Any]:
    body: dict[str, Any] = (await user.http.get(f"/api/orders/{order_id}")).json()
    return body


async def test_validate_rounds_and_refuses(venue: Venue, user: ApiUser) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    preview = await validate(
        user, broker, symbol="BTCUSDT", side="buy", type="market", quantity="0.0012345"
    )
    assert preview["symbol"] == "BTC/USDT"
    assert D(preview["quantity"]) == D("0.00123")  # down to the 0.00001 step
    assert D(preview["reference_price"]) == 50000 and preview["price"] is None
    assert D(preview["notional"]) == D("61.5")
    assert D(preview["quote_free"]) == 1000 and D(preview["min_notional"]) == 5
    assert D(preview["estimated_fee"]) > 0
    assert any("rounded down" in w for w in preview["warnings"])
    assert preview["confirmation"].startswith("v1.")
    assert preview["expires_at"]

    limit = await validate(
        user, broker, symbol="BTC/USDT", side="buy", type="limit", price="40000.019",
        quote_amount="100",
    )  # fmt: skip
    # The buy price goes down to the 0.01 tick (never above the user's price).
    assert D(limit["price"]) == D("40000.01")
    assert D(limit["quantity"]) == D("0.00249")  # 100 / 40000.01, down to the step
    assert any("in your favour" in w for w in limit["warnings"])

    below = await refusal(user, broker, symbol="BTC/USDT", side="buy", type="market",
                          quote_amount="3")  # fmt: skip
    assert "below the minimum of 5 USDT" in below
    poor = await refusal(user, broker, symbol="BTC/USDT", side="buy", type="market",
                         quote_amount="5000")  # fmt: skip
    assert "not enough USDT" in poor
    unsold = await refusal(user, broker, symbol="BTC/USDT", side="sell", type="market",
                           quantity="0.01")  # fmt: skip
    assert "not enough BTC" in unsold
    unknown = await refusal(user, broker, symbol="PEPEUSDT", side="buy", type="market",
                            quote_amount="10")  # fmt: skip
    assert "PEPE/USDT" in unknown
    both = await user.http.post(
        "/api/orders/validate",
        json={"broker_id": broker["id"], "symbol": "BTC/USDT", "side": "buy", "type": "limit",
              "quantity": "0.001"},
    )  # fmt: skip
    assert both.status_code == 422 and "needs a price" in both.text


async def test_the_confirmation_expires_and_must_match(stack: Stack, user: ApiUser) -> None:
    broker = await user.create_broker(balances={"USDT": "1000"})
    order = {"broker_id": broker["id"], "symbol": "BTC/USDT", "side": "buy", "type": "market"}
    # A token issued 20 s ago: the 15 s window has passed (no sleeping in tests).
    key = confirmation_key(stack.settings)
    stale, _ = OrderTokens(key, clock=lambda: time.time() - 20).issue(
        user.id, OrderTerms(**order, quote_amount=D(50))
    )
    expired = await user.http.post(
        "/api/orders", json={**order, "quote_amount": "50", "confirmation": stale}
    )
    assert expired.status_code == 409
    assert expired.json()["detail"] == "confirmation expired: validate again"

    preview = await validate(user, broker, **{**order, "quote_amount": "50"})
    changed = await user.http.post(
        "/api/orders",
        json={**order, "quote_amount": "60", "confirmation": preview["confirmation"]},
    )
    assert changed.status_code == 422 and "validate again" in changed.json()["detail"]
    forged = await user.http.post(
        "/api/orders",
        json={**order, "quote_amount": "50", "confirmation": preview["confirmation"] + "x"},
    )
    assert forged.status_code == 422
    listed = await user.http.get("/api/orders", params={"broker_id": broker["id"]})
    assert listed.json()["items"] == []


async def test_a_confirmed_market_buy_fills_and_opens_a_position(
    venue: Venue, user: ApiUser
) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    order = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": "100"}
    preview = await validate(user, broker, **order)
    body = {"broker_id": broker["id"], **order, "confirmation": preview["confirmation"]}
    first = await user.http.post("/api/orders", json=body, params={"wait": 10})
    assert first.status_code == 202, first.text
    done = first.json()
    assert done["status"] == "filled", done
    assert done["outcome"].startswith("bought 0.002 BTC at 50000 USDT")
    assert done["workflow_id"].startswith(f"manual-b{broker['id']}-")
    assert done["workflow_url"].endswith(done["workflow_id"])
    # A double submit of the same confirmation is the same order, not a second one.
    again = (await user.http.post("/api/orders", json=body, params={"wait": 10})).json()
    assert (again["workflow_id"], again["order_id"]) == (done["workflow_id"], done["order_id"])

    filled = await get_order(user, done["order_id"])
    assert (filled["source"], filled["status"]) == ("manual", "filled")
    assert D(filled["filled_quantity"]) == D("0.002")
    [position] = (
        await user.http.get("/api/positions", params={"status": "open", "broker_id": broker["id"]})
    ).json()["items"]
    assert position["symbol"] == "BTC/USDT" and position["id"] == done["position_id"]
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert len(orders["items"]) == 1
    on_exchange = venue.exchange_orders(broker)
    if on_exchange is not None:
        assert len(on_exchange) == 1


async def test_a_limit_buy_rests_then_is_canceled(venue: Venue, user: ApiUser) -> None:
    venue.set_price("ETH/USDT", "2500")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    resting = await place(
        user, broker, symbol="ETH/USDT", side="buy", type="limit", price="1500", quantity="0.2"
    )
    assert resting["status"] == "open", resting
    assert "waiting for the market" in resting["outcome"]
    order_id = resting["order_id"]

    response = await user.http.post(f"/api/orders/{order_id}/cancel", params={"wait": 10})
    assert response.status_code == 202, response.text
    canceled = response.json()
    assert (canceled["status"], canceled["order_id"]) == ("canceled", order_id)
    assert canceled["workflow_id"] == f"cancel-o{order_id}"
    assert (await get_order(user, order_id))["status"] == "canceled"
    balances = (await user.http.get(f"/api/brokers/{broker['id']}/balances")).json()
    usdt = next(b for b in balances["items"] if b["asset"] == "USDT")
    assert D(usdt["free"]) == 1000 and D(usdt["locked"]) == 0
    on_exchange = venue.exchange_orders(broker)
    if on_exchange is not None:
        assert [o.status for o in on_exchange] == ["canceled"]
    again = await user.http.post(f"/api/orders/{order_id}/cancel")
    assert again.status_code == 409 and "canceled" in again.json()["detail"]


async def test_an_edit_replaces_a_resting_limit(venue: Venue, user: ApiUser) -> None:
    venue.set_price("ETH/USDT", "2500")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    resting = await place(
        user, broker, symbol="ETH/USDT", side="buy", type="limit", price="1500", quantity="0.2"
    )
    old_id = resting["order_id"]
    response = await user.http.patch(
        f"/api/orders/{old_id}", json={"price": "1600.004"}, params={"wait": 10}
    )
    assert response.status_code == 202, response.text
    edited = response.json()
    assert edited["status"] == "open", edited
    assert edited["replaced_order_id"] == old_id and edited["order_id"] != old_id
    old, new = await get_order(user, old_id), await get_order(user, edited["order_id"])
    assert old["status"] == "canceled"
    assert (new["status"], D(new["price"]), D(new["quantity"])) == ("open", 1600, D("0.2"))
    assert new["client_order_id"] != old["client_order_id"] and new["source"] == "manual"
    on_exchange = venue.exchange_orders(broker)
    if on_exchange is not None:
        assert sorted((o.status, o.price) for o in on_exchange) == [
            ("canceled", D(1500)),
            ("open", D(1600)),
        ]
    # Below the minimum: refused before anything is canceled.
    tiny = await user.http.patch(f"/api/orders/{new['id']}", json={"quantity": "0.001"})
    assert tiny.status_code == 422 and "below the minimum" in tiny.json()["detail"]
    assert (await get_order(user, new["id"]))["status"] == "open"
    canceled_one = await user.http.patch(f"/api/orders/{old_id}", json={"price": "1700"})
    assert canceled_one.status_code == 409


async def test_a_failed_replacement_says_the_old_order_is_gone(venue: Venue, user: ApiUser) -> None:
    venue.set_price("ETH/USDT", "2500")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    resting = await place(
        user, broker, symbol="ETH/USDT", side="buy", type="limit", price="1500", quantity="0.2"
    )
    assert resting["status"] == "open", resting
    old_id = resting["order_id"]
    # 1 ETH at 1500 is 1500 USDT: the exchange refuses it once the old order is canceled.
    response = await user.http.patch(
        f"/api/orders/{old_id}", json={"quantity": "1"}, params={"wait": 10}
    )
    assert response.status_code == 202, response.text
    failed = response.json()
    assert failed["status"] in ("failed", "rejected"), failed
    assert failed["error"].startswith(f"order #{old_id} canceled; no new order: "), failed
    assert (await get_order(user, old_id))["status"] == "canceled"
    listed = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert not [o for o in listed["items"] if o["status"] in ("open", "partially_filled")]


async def test_canceling_the_sell_that_held_the_quantity_puts_the_stop_back(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90")
    position = await open_position(user, broker)
    quantity = D(position["quantity"])
    assert legs(await venue.open_protective_orders(broker)) == [("stop_loss", D(90))]

    # A limit sell of everything, far above the market: it rests and holds the quantity.
    selling = await place(
        user, broker, symbol="SOL/USDT", side="sell", type="limit", price="1000",
        quantity=str(quantity),
    )  # fmt: skip
    assert selling["status"] == "open", selling
    assert await venue.open_protective_orders(broker) == []
    assert (await open_position(user, broker))["protection"] == "pending"

    response = await user.http.post(
        f"/api/orders/{selling['order_id']}/cancel", params={"wait": 10}
    )
    assert response.status_code == 202, response.text
    canceled = response.json()
    assert canceled["status"] == "canceled", canceled
    assert "stop-loss 90" in canceled["outcome"], canceled
    live = await venue.open_protective_orders(broker)
    assert [(kind, price, qty) for kind, _side, price, qty in live] == [
        ("stop_loss", D(90), quantity)
    ]
    position = await open_position(user, broker)
    assert position["protection"] == "protected" and D(position["stop_loss"]) == 90


async def test_an_edit_is_refused_when_the_order_filled_meanwhile(
    venue: Venue, user: ApiUser
) -> None:
    # ETH/BTC: a market no other test moves (a dip here fills nobody else's limits).
    venue.set_price("ETH/BTC", "0.05")
    broker = await venue.create_broker(user, {"BTC": "1"})
    resting = await place(
        user, broker, symbol="ETH/BTC", side="buy", type="limit", price="0.04", quantity="0.5"
    )
    assert resting["status"] == "open", resting
    venue.set_price("ETH/BTC", "0.039")  # fills on the exchange; we have not seen it yet
    venue.set_price("ETH/BTC", "0.05")
    response = await user.http.patch(
        f"/api/orders/{resting['order_id']}", json={"price": "0.045"}, params={"wait": 10}
    )
    assert response.status_code == 202, response.text
    refused = response.json()
    assert refused["status"] == "failed"
    assert "not replaced" in refused["error"] and "filled" in refused["error"]
    order = await get_order(user, resting["order_id"])
    assert order["status"] == "filled" and order["position_id"] is not None
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert len(orders["items"]) == 1


async def test_closing_a_position_sells_it(venue: Venue, user: ApiUser) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    # An API client: no confirmation, validated then placed in one call.
    response = await user.http.post(
        "/api/orders",
        json={"broker_id": broker["id"], "symbol": "BTCUSDT", "side": "buy", "type": "market",
              "quote_amount": "200"},
        params={"wait": 10},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    bought = response.json()
    assert bought["status"] == "filled", bought
    position_id = bought["position_id"]
    assert position_id is not None

    venue.set_price("BTC/USDT", "55000")
    closing = await user.http.post(f"/api/positions/{position_id}/close", params={"wait": 10})
    assert closing.status_code == 202, closing.text
    sold = closing.json()
    assert sold["status"] == "filled", sold
    assert sold["workflow_id"] == f"close-p{position_id}"
    sell = await get_order(user, sold["order_id"])
    assert (sell["side"], sell["type"], sell["source"]) == ("sell", "market", "manual")
    position = (await user.http.get(f"/api/positions/{position_id}")).json()
    assert position["status"] == "closed" and D(position["realized_pnl"]) > 0
    again = await user.http.post(f"/api/positions/{position_id}/close")
    assert again.status_code == 409


async def test_other_users_objects_are_not_found(
    stack: Stack, make_user: Any, user: ApiUser
) -> None:
    broker = await user.create_broker(balances={"USDT": "1000"})
    order = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "quote_amount": "100"}
    bought = await place(user, broker, **order)
    intruder: ApiUser = await make_user()
    body = {"broker_id": broker["id"], **order}
    for method, path, payload in [
        ("GET", f"/api/brokers/{broker['id']}/market?symbol=BTC/USDT", None),
        ("POST", "/api/orders/validate", body),
        ("POST", "/api/orders", body),
        ("POST", f"/api/orders/{bought['order_id']}/cancel", None),
        ("PATCH", f"/api/orders/{bought['order_id']}", {"price": "1"}),
        ("POST", f"/api/positions/{bought['position_id']}/close", None),
    ]:
        response = await intruder.http.request(method, path, json=payload)
        assert response.status_code == 404, (method, path, response.text)
    # Their own confirmation is no good for this user either.
    preview = await validate(user, broker, **order)
    stolen = await intruder.http.post(
        "/api/orders", json={**body, "confirmation": preview["confirmation"]}
    )
    assert stolen.status_code == 404
    filled = await user.http.post(f"/api/orders/{bought['order_id']}/cancel")
    assert filled.status_code == 409 and "filled" in filled.json()["detail"]


async def test_the_order_form_reads_the_market(user: ApiUser) -> None:
    broker = await user.create_broker(balances={"USDT": "750"})
    response = await user.http.get(
        f"/api/brokers/{broker['id']}/market", params={"symbol": "ETHUSDT"}
    )
    assert response.status_code == 200, response.text
    info = response.json()
    assert (info["symbol"], info["base"], info["quote"]) == ("ETH/USDT", "ETH", "USDT")
    assert (D(info["amount_step"]), D(info["price_tick"])) == (D("0.0001"), D("0.01"))
    assert D(info["quote_free"]) == 750 and D(info["price"]) > 0
    assert D(info["fee_rate"]) == D("0.001")


async def test_a_positions_protective_orders_change_from_the_position(
    user: ApiUser, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("BTCUSDT", "50000")
    broker = await user.create_broker(balances={"USDT": "1000"})
    bought = await place(
        user, broker, symbol="BTC/USDT", side="buy", type="market", quote_amount="100"
    )
    protect = await user.http.patch(
        f"/api/positions/{bought['position_id']}/protection", json={"stop_loss": "40000"}
    )
    assert protect.status_code == 200, protect.text
    listed = await user.http.get("/api/orders", params={"broker_id": broker["id"]})
    [stop] = [o for o in listed.json()["items"] if o["type"] == "stop_loss"]
    assert stop["status"] == "open"
    for response in (
        await user.http.post(f"/api/orders/{stop['id']}/cancel"),
        await user.http.patch(f"/api/orders/{stop['id']}", json={"price": "41000"}),
    ):
        assert response.status_code == 409
        assert "edit the position's stop-loss/take-profit" in response.json()["detail"]
