"""What the outside world does to orders, per native exchange (fakes with fault injection):
answers lost after the exchange executed the order, rate limits, refusals, bad keys and
clock drift. An alert must still make exactly one order, or fail with the exchange's
reason and without hammering it."""

import asyncio
import secrets
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from exchanges.errors import InsufficientFunds
from exchanges.http import ApiCredentials, HttpPool
from exchanges.protocol import ExchangeConnector
from exchanges.registry import NATIVE
from exchanges.types import OrderRequest
from tests.conftest import ApiUser, eventually, wait_webhook_done, webhook_path
from tests.fakes.ledger import Account
from tests.venues import PROTECTIVE_ORDER_PATHS, FakeVenue


def connector(venue: FakeVenue, account: Account, pool: HttpPool) -> ExchangeConnector:
    connector_class, _ = NATIVE[venue.name]
    credentials = ApiCredentials(
        api_key=account.api_key, api_secret=account.api_secret, passphrase=account.passphrase
    )
    return connector_class(pool.endpoint(venue.url, venue.name), credentials)


async def buy(
    webhook_http: httpx.AsyncClient, user: ApiUser, broker: dict[str, Any]
) -> dict[str, Any]:
    response = await webhook_http.post(
        webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 20}
    )
    assert response.status_code == 200, response.text
    return await wait_webhook_done(user, response.json()["webhook_id"])


@pytest.mark.parametrize("fault", ["accept_then_timeout", "accept_then_5xx"])
async def test_lost_answer_after_execution_makes_exactly_one_order(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient, fault: str
) -> None:
    fake_venue.set_price("BTC/USDT", "50000")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    faults = fake_venue.fake.faults
    # Held longer than the client's 2 s timeout, or answered 503 after executing.
    faults.arm(fault, "POST", fake_venue.order_path, seconds=4)  # type: ignore[arg-type]
    done = await buy(webhook_http, user, broker)
    assert done["status"] == "processed", done
    [on_exchange] = fake_venue.exchange_orders(broker)
    assert on_exchange.status == "filled"
    ours = (await user.http.get(f"/api/orders/{done['order_id']}")).json()
    assert ours["status"] == "filled" and ours["exchange_order_id"] == str(on_exchange.order_id)
    # The retry looked the client order id up and adopted the order instead of re-sending.
    assert len(faults.requests("POST", fake_venue.order_path)) == 1


async def test_rate_limit_retry_waits_for_retry_after(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    fake_venue.set_price("BTC/USDT", "50000")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    faults = fake_venue.fake.faults
    faults.arm("rate_limit", "POST", fake_venue.order_path, retry_after=2)
    done = await buy(webhook_http, user, broker)
    assert done["status"] == "processed", done
    refused, accepted = faults.requests("POST", fake_venue.order_path)
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 2.0
    assert len(fake_venue.exchange_orders(broker)) == 1


async def test_insufficient_funds_fails_with_the_exchange_message_without_retries(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    fake_venue.set_price("BTC/USDT", "50000")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    faults = fake_venue.fake.faults
    # The balance was read, then spent elsewhere before the order reached the exchange.
    faults.arm("latency", "POST", fake_venue.order_path, seconds=1.0)
    response = await webhook_http.post(
        webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 50}
    )
    assert response.status_code == 200

    async def order_sent() -> bool:
        return bool(faults.requests("POST", fake_venue.order_path))

    await eventually(order_sent)
    fake_venue.account(broker).free["USDT"] = fake_venue.account(broker).free["USDT"] / 100
    done = await wait_webhook_done(user, response.json()["webhook_id"])
    assert done["status"] == "error"
    assert fake_venue.insufficient_funds in done["error"]
    ours = (await user.http.get(f"/api/orders/{done['order_id']}")).json()
    assert ours["status"] == "rejected" and fake_venue.insufficient_funds in ours["error"]
    await asyncio.sleep(2.5)  # a retry would have come by now
    assert len(faults.requests("POST", fake_venue.order_path)) == 1
    assert fake_venue.exchange_orders(broker) == []


async def test_bad_credentials_say_authentication_failed(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await fake_venue.create_broker(
        user, {"USDT": "1000"}, wrong_secret=True, trading_mode="webhooks"
    )
    tested = (await user.http.post(f"/api/brokers/{broker['id']}/test")).json()
    assert tested["ok"] is False
    assert tested["message"].startswith("authentication failed"), tested
    done = await buy(webhook_http, user, broker)
    assert done["status"] == "error" and "authentication failed" in done["error"]
    account = fake_venue.account(broker)
    for text in (tested["message"], done["error"]):
        assert account.api_secret not in text and account.api_key not in text


@pytest.mark.parametrize("skew_ms", [5_000, -5_000])
async def test_clock_skew_of_a_few_seconds_is_absorbed(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient, skew_ms: int
) -> None:
    fake_venue.set_price("BTC/USDT", "50000")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    fake_venue.fake.faults.clock_skew_ms = skew_ms
    tested = (await user.http.post(f"/api/brokers/{broker['id']}/test")).json()
    assert tested["ok"] is True, tested
    started = time.monotonic()
    done = await buy(webhook_http, user, broker)
    assert done["status"] == "processed", done
    assert time.monotonic() - started < 10
    assert len(fake_venue.exchange_orders(broker)) == 1


# Where Bitget and Kraken read an order back after placing it (Binance answers with the
# fills in the placement itself).
READ_BACK = {
    "bitget": ("GET", "/api/v2/spot/trade/orderInfo"),
    "kraken": ("POST", "/0/private/QueryOrders"),
}


async def test_failed_read_back_after_placement_adopts_the_order(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    if fake_venue.name not in READ_BACK:
        pytest.skip("binance returns the fills with the placement: nothing is read back")
    fake_venue.set_price("BTC/USDT", "50000")
    broker = await fake_venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    method, path = READ_BACK[fake_venue.name]
    fake_venue.fake.faults.arm("rate_limit", method, path, retry_after=1)
    done = await buy(webhook_http, user, broker)
    assert done["status"] == "processed", done
    [on_exchange] = fake_venue.exchange_orders(broker)
    ours = (await user.http.get(f"/api/orders/{done['order_id']}")).json()
    # Not recorded as an open order with nothing filled: the retry read the real fill.
    assert ours["status"] == "filled" and ours["exchange_order_id"] == str(on_exchange.order_id)
    assert len(fake_venue.fake.faults.requests("POST", fake_venue.order_path)) == 1


async def test_a_reject_fault_is_the_exchange_own_insufficient_funds_refusal(
    fake_venue: FakeVenue,
) -> None:
    fake_venue.set_price("BTC/USDT", "50000")
    account = fake_venue.fake.add_account({"USDT": "1000", "BTC": "0.01"})
    faults = fake_venue.fake.faults
    pool = HttpPool(timeout=2)
    exchange = connector(fake_venue, account, pool)
    buy = OrderRequest(
        symbol="BTC/USDT",
        side="buy",
        type="market",
        quantity=Decimal("0.001"),
        client_order_id="t" + secrets.token_hex(8),
    )
    stop = OrderRequest(
        symbol="BTC/USDT",
        side="sell",
        type="stop_loss",
        quantity=Decimal("0.01"),
        stop_price=Decimal("45000"),
        client_order_id="t" + secrets.token_hex(8),
    )
    try:
        for request, path in (
            (buy, fake_venue.order_path),
            (stop, PROTECTIVE_ORDER_PATHS[fake_venue.name][0]),
        ):
            faults.arm("reject", "POST", path)
            with pytest.raises(InsufficientFunds) as refused:
                await exchange.create_order(request)
            assert fake_venue.insufficient_funds in refused.value.message
            [answered] = faults.requests("POST", path)[-1:]
            assert answered.status == (200 if fake_venue.name == "kraken" else 400)
        # Refused before reaching the exchange: no order, the balance untouched.
        assert account.orders == {}
        assert (account.free, account.locked) == (
            {"USDT": Decimal(1000), "BTC": Decimal("0.01")},
            {},
        )
    finally:
        await pool.aclose()
