"""The webhook signal workflow end to end: sizing, fills, positions, business failures;
the exchange-neutral cases once per exchange (`venue`: paper and the three fakes)."""

from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from db.models import PaperBalance
from tests.conftest import ApiUser, eventually, wait_webhook_done, webhook_path
from tests.fakes.binance_market import MarketState
from tests.venues import Venue
from workers.stack import Stack


async def send(
    webhook_http: httpx.AsyncClient, user: ApiUser, broker: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    response = await webhook_http.post(webhook_path(broker), json=fields)
    assert response.status_code == 200, response.text
    return await wait_webhook_done(user, response.json()["webhook_id"])


async def balances(user: ApiUser, broker: dict[str, Any]) -> dict[str, D]:
    body = (await user.http.get(f"/api/brokers/{broker['id']}/balances")).json()
    return {b["asset"]: D(b["free"]) for b in body["items"]}


async def test_buy_then_sell_opens_and_closes_the_position_with_pnl(
    user: ApiUser, webhook_http: httpx.AsyncClient, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("SOLUSDT", "100")
    broker = await user.create_broker(balances={"USDT": "1000"})
    bought = await send(
        webhook_http,
        user,
        broker,
        action="BuyMarket",
        symbol="SOLUSDT",
        percent=50,
        sl=90,
        tp=130,
    )
    assert bought["status"] == "processed", bought
    assert "stop-loss 90 and take-profit 130 for 4.995 SOL live" in bought["outcome"]
    # 500 USDT at 100 -> 5 SOL, fee 0.1 % in SOL: 0.005 -> holds 4.995
    order = (await user.http.get(f"/api/orders/{bought['order_id']}")).json()
    assert (order["side"], order["type"], order["status"]) == ("buy", "market", "filled")
    assert D(order["filled_quantity"]) == 5 and D(order["average_price"]) == 100
    assert D(order["fee"]) == D("0.005") and order["fee_asset"] == "SOL"
    assert order["source"] == "webhook" and order["webhook_id"] == bought["id"]
    assert await balances(user, broker) == {"USDT": D(500), "SOL": D("4.995")}
    [position] = (await user.http.get("/api/positions", params={"status": "open"})).json()["items"]
    assert position["symbol"] == "SOL/USDT" and position["status"] == "open"
    assert D(position["quantity"]) == D("4.995") and D(position["entry_price"]) == 100
    assert (D(position["stop_loss"]), D(position["take_profit"])) == (90, 130)
    assert position["opened_webhook_id"] == bought["id"]

    state.set_price("SOLUSDT", "120")
    # unrealized at 120: 4.995 x 120 - 500 = 99.4
    [position] = (await user.http.get("/api/positions", params={"status": "open"})).json()["items"]
    assert D(position["unrealized_pnl"]) == D("99.4")
    assert D(position["current_price"]) == 120

    sold = await send(webhook_http, user, broker, action="SellMarket", symbol="SOL/USDT")
    assert sold["status"] == "processed", sold
    # sells 4.995 rounded down to 0.001 -> 4.995; proceeds 599.4, fee 0.5994 USDT
    [closed] = (await user.http.get("/api/positions", params={"status": "closed"})).json()["items"]
    assert closed["id"] == position["id"] and closed["closed_at"] is not None
    assert D(closed["realized_pnl"]) == D("98.8006")  # 599.4 - 0.5994 - 500
    assert await balances(user, broker) == {"USDT": D("1098.8006")}


async def test_percent_sell_rounds_down_to_the_lot_step(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "100", "BTC": "0.0123456"})
    done = await send(webhook_http, user, broker, action="SellMarket", symbol="BTCUSDT", percent=50)
    order = (await user.http.get(f"/api/orders/{done['order_id']}")).json()
    # 0.0123456 x 50 % = 0.0061728 -> 0.00617 (step 0.00001, down)
    assert D(order["quantity"]) == D("0.00617")
    # no open position to reduce: the sell is recorded without one
    assert order["position_id"] is None


async def test_limit_buy_rests_then_marketable_limit_fills(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    venue.set_price("ETH/USDT", "2500")
    broker = await venue.create_broker(user, {"USDT": "1000"})
    resting = await send(
        webhook_http, user, broker, action="BuyLimit", symbol="ETHUSDT", price="2000", percent=50
    )
    order = (await user.http.get(f"/api/orders/{resting['order_id']}")).json()
    assert order["status"] == "open" and D(order["price"]) == 2000
    assert D(order["quantity"]) == D("0.25")  # 500 / 2000
    assert "waiting for the market" in resting["outcome"]
    assert (await balances(user, broker))["USDT"] == 500  # 500 locked on the exchange

    crossing = await send(
        webhook_http, user, broker, action="BuyLimit", symbol="ETHUSDT", price="2600", percent=100
    )
    order = (await user.http.get(f"/api/orders/{crossing['order_id']}")).json()
    # marketable: fills at the better market price 2500; 500 / 2600 -> 0.1923 ETH (on
    # Kraken the fee comes on top in USDT: 500 / 1.004 / 2600 -> 0.1915)
    assert order["status"] == "filled" and D(order["average_price"]) == 2500
    assert D(order["filled_quantity"]) == (D("0.1915") if venue.fee_in_quote else D("0.1923"))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 1}, "below the minimum of 5"),
        ({"action": "SellMarket", "symbol": "ETHUSDT"}, "no ETH held to sell"),
        ({"action": "BuyMarket", "symbol": "PEPEUSDT"}, "PEPE/USDT is not traded on {venue}"),
    ],
)
async def test_business_failures_land_on_the_webhook_record(
    venue: Venue,
    user: ApiUser,
    webhook_http: httpx.AsyncClient,
    fields: dict[str, Any],
    reason: str,
) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"USDT": "100"})
    done = await send(webhook_http, user, broker, **fields)
    assert done["status"] == "error"
    assert reason.format(venue=venue.name) in done["error"]
    assert venue.exchange_orders(broker) in (None, [])
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert orders["items"] == []


async def test_trading_mode_must_be_webhooks(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await venue.create_broker(user, {"USDT": "1000"}, trading_mode="off")
    done = await send(webhook_http, user, broker, action="BuyMarket", symbol="BTCUSDT")
    assert done["status"] == "error"
    assert "trading mode 'off'" in done["error"]
    await user.http.patch(f"/api/brokers/{broker['id']}", json={"trading_mode": "webhooks"})
    again = await send(webhook_http, user, broker, action="BuyMarket", symbol="BTCUSDT", id="2")
    assert again["status"] == "processed"


async def test_exchange_rejection_marks_the_order_rejected(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient, market: tuple[MarketState, str]
) -> None:
    """Sized from the balance, then the funds leave the exchange account before the order
    lands (a withdrawal, another bot): the exchange's own message reaches the records."""
    state, _ = market
    state.set_price("XRPUSDT", "0.5")
    broker = await user.create_broker(balances={"USDT": "10", "XRP": "100"})
    before = state.ticker_requests
    state.ticker_delay = 0.5
    try:
        response = await webhook_http.post(
            webhook_path(broker), json={"action": "SellMarket", "symbol": "XRPUSDT"}
        )
        # The 1st ticker call sizes the order, the 2nd is the exchange pricing the fill.
        await eventually(lambda: _at_least(state, before + 2), timeout=10, interval=0.01)
        assert stack.runtime is not None
        async with stack.runtime.sessions.begin() as session:
            await session.execute(
                update(PaperBalance)
                .where(PaperBalance.broker_id == broker["id"], PaperBalance.asset == "XRP")
                .values(free=D(0))
            )
    finally:
        state.ticker_delay = 0
    done = await wait_webhook_done(user, response.json()["webhook_id"])
    assert done["status"] == "error"
    assert "insufficient balance" in done["error"]
    order = (await user.http.get(f"/api/orders/{done['order_id']}")).json()
    assert order["status"] == "rejected" and "insufficient balance" in order["error"]
    assert (await user.http.get("/api/positions")).json()["items"] == []


async def _at_least(state: MarketState, count: int) -> bool:
    return state.ticker_requests >= count


async def test_users_are_isolated(make_user: Any, webhook_http: httpx.AsyncClient) -> None:
    alice, bob = await make_user(), await make_user()
    broker = await alice.create_broker(balances={"USDT": "1000"})
    done = await send(webhook_http, alice, broker, action="BuyMarket", symbol="BTCUSDT")
    assert done["status"] == "processed"
    position_id = (await alice.http.get("/api/positions")).json()["items"][0]["id"]
    for path in (
        f"/api/brokers/{broker['id']}",
        f"/api/brokers/{broker['id']}/balances",
        f"/api/webhooks/{done['id']}",
        f"/api/orders/{done['order_id']}",
        f"/api/positions/{position_id}",
    ):
        assert (await bob.http.get(path)).status_code == 404, path
    assert (
        await bob.http.patch(f"/api/brokers/{broker['id']}", json={"name": "x"})
    ).status_code == 404
    assert (await bob.http.delete(f"/api/brokers/{broker['id']}")).status_code == 404
    assert (await bob.http.post(f"/api/brokers/{broker['id']}/webhook-token")).status_code == 404
    for listing in ("/api/brokers", "/api/webhooks", "/api/orders", "/api/positions"):
        assert (await bob.http.get(listing)).json()["items"] == [], listing
    # filters cannot reach across users either
    assert (await bob.http.get("/api/orders", params={"broker_id": broker["id"]})).json()[
        "items"
    ] == []
    assert (await alice.http.get(f"/api/brokers/{broker['id']}")).status_code == 200


async def test_concurrent_buys_share_one_position(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient, market: tuple[MarketState, str]
) -> None:
    """Five alerts at once: five orders, one open position holding all of them."""
    import asyncio

    market[0].set_price("BNBUSDT", "600")
    broker = await user.create_broker(balances={"USDT": "10000"})
    answers = await asyncio.gather(
        *(
            webhook_http.post(
                webhook_path(broker),
                json={"action": "BuyMarket", "symbol": "BNBUSDT", "percent": 10, "id": str(i)},
            )
            for i in range(5)
        )
    )
    for answer in answers:
        done = await wait_webhook_done(user, answer.json()["webhook_id"])
        assert done["status"] == "processed", done
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert orders["total"] == 5
    positions = (await user.http.get("/api/positions", params={"broker_id": broker["id"]})).json()
    assert positions["total"] == 1
    held = sum(D(o["filled_quantity"]) - D(o["fee"]) for o in orders["items"])
    assert D(positions["items"][0]["quantity"]) == held
    assert {o["position_id"] for o in orders["items"]} == {positions["items"][0]["id"]}
