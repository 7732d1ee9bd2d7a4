"""The webhook flows against every exchange: paper, and fake Binance, Bitget and Kraken
servers that verify signatures and keep their own balances and orders. What the exchange
holds is checked on the exchange's side too: one alert, one order there."""

from decimal import Decimal as D
from typing import Any

import httpx

from tests.conftest import ApiUser, wait_webhook_done, webhook_path
from tests.venues import Venue, fee_asset


async def send(
    webhook_http: httpx.AsyncClient, user: ApiUser, broker: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    response = await webhook_http.post(webhook_path(broker), json=fields)
    assert response.status_code == 200, response.text
    return await wait_webhook_done(user, response.json()["webhook_id"])


async def balances(user: ApiUser, broker: dict[str, Any]) -> dict[str, tuple[D, D]]:
    response = await user.http.get(f"/api/brokers/{broker['id']}/balances")
    assert response.status_code == 200, response.text
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in response.json()["items"]}


async def order(user: ApiUser, order_id: int) -> dict[str, Any]:
    body: dict[str, Any] = (await user.http.get(f"/api/orders/{order_id}")).json()
    return body


async def test_market_buy_then_sell_round_trip(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    venue.set_price("SOL/USDT", "100")
    broker = await venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    bought = await send(
        webhook_http, user, broker, action="BuyMarket", symbol="SOLUSDT", percent=50
    )
    assert bought["status"] == "processed", bought
    buy = await order(user, bought["order_id"])
    assert (buy["side"], buy["type"], buy["status"]) == ("buy", "market", "filled")
    # 500 USDT at 100 -> 5 SOL; fee 0.1 % in SOL, or in USDT on Kraken
    assert D(buy["filled_quantity"]) == 5 and D(buy["average_price"]) == 100
    buy_fee_asset = fee_asset(venue, "buy", "SOL", "USDT")
    assert buy["fee_asset"] == buy_fee_asset
    assert D(buy["fee"]) == (D("0.5") if buy_fee_asset == "USDT" else D("0.005"))
    assert buy["exchange_order_id"]
    held = D(5) if venue.fee_in_quote else D("4.995")
    [position] = (await user.http.get("/api/positions", params={"status": "open"})).json()["items"]
    assert position["symbol"] == "SOL/USDT" and D(position["quantity"]) == held

    venue.set_price("SOL/USDT", "120")
    sold = await send(webhook_http, user, broker, action="SellMarket", symbol="SOL/USDT")
    assert sold["status"] == "processed", sold
    sell = await order(user, sold["order_id"])
    assert D(sell["filled_quantity"]) == held and D(sell["average_price"]) == 120
    [closed] = (await user.http.get("/api/positions", params={"status": "closed"})).json()["items"]
    # proceeds minus 0.1 % fee minus the cost basis (with the buy fee when paid in USDT)
    expected = held * 120 * D("0.999") - (D("500.5") if venue.fee_in_quote else 500)
    assert D(closed["realized_pnl"]) == expected
    free = {asset: amounts[0] for asset, amounts in (await balances(user, broker)).items()}
    assert free.get("SOL", D(0)) == 0
    assert free["USDT"] == 1000 + expected
    placed = venue.exchange_orders(broker)
    if placed is not None:  # what the exchange itself holds: exactly these two orders
        assert sorted((o.side, o.status) for o in placed) == [
            ("buy", "filled"),
            ("sell", "filled"),
        ]


async def test_limit_buy_rests_on_the_exchange(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    venue.set_price("ETH/USDT", "2500")
    broker = await venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    resting = await send(
        webhook_http, user, broker, action="BuyLimit", symbol="ETHUSDT", price="2000", percent=50
    )
    assert resting["status"] == "processed", resting
    assert "waiting for the market" in resting["outcome"]
    placed = await order(user, resting["order_id"])
    assert placed["status"] == "open" and D(placed["price"]) == 2000
    assert D(placed["quantity"]) == D("0.25")  # 500 / 2000
    usdt_free, usdt_locked = (await balances(user, broker))["USDT"]
    assert (usdt_free, usdt_locked) == (500, 500)
    on_exchange = venue.exchange_orders(broker)
    if on_exchange is not None:
        [resting_order] = on_exchange
        assert (resting_order.status, resting_order.price) == ("open", D(2000))
        assert str(resting_order.order_id) == placed["exchange_order_id"]


async def test_below_the_minimum_is_refused_before_the_exchange(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "100"}, trading_mode="webhooks")
    done = await send(webhook_http, user, broker, action="BuyMarket", symbol="BTCUSDT", percent=1)
    assert done["status"] == "error"
    assert "below the minimum" in done["error"]
    assert venue.exchange_orders(broker) in (None, [])


async def test_unknown_symbol_is_an_error(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await venue.create_broker(user, {"USDT": "100"}, trading_mode="webhooks")
    done = await send(webhook_http, user, broker, action="BuyMarket", symbol="PEPEUSDT")
    assert done["status"] == "error"
    assert f"PEPE/USDT is not traded on {venue.name}" in done["error"]


async def test_balances_come_from_the_exchange(venue: Venue, user: ApiUser) -> None:
    # Above the 2,400 limits other tests rest: paper settles them from 1-minute lows.
    venue.set_price("ETH/USDT", "2600")
    broker = await venue.create_broker(user, {"USDT": "250", "ETH": "1.5"})
    found = await balances(user, broker)
    assert found["USDT"] == (D(250), D(0)) and found["ETH"] == (D("1.5"), D(0))
    # valued at the broker's own exchange price
    body = (await user.http.get(f"/api/brokers/{broker['id']}/balances")).json()
    eth = next(b for b in body["items"] if b["asset"] == "ETH")
    assert D(eth["price_usdt"]) == 2600 and D(eth["value_usdt"]) == 3900
    assert D(body["total_usdt"]) == 4150
