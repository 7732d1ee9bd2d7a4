"""The Bitget connector against the fake Bitget server (which verifies signatures and keeps
its own ledger), plus the signing rule checked on the exact bytes the connector sends."""

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from exchanges.bitget import BitgetConnector, prehash, sign
from exchanges.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    RateLimited,
    UnknownSymbol,
)
from exchanges.http import ApiCredentials, Endpoint, HttpPool
from exchanges.types import OcoRequest, OrderRequest
from tests.fakes.bitget_exchange import FakeBitget
from tests.fakes.ledger import DEFAULT_PRICES, Account
from tests.fakes.server import LoopbackServer

PLACE = "/api/v2/spot/trade/place-order"
PLACE_PLAN = "/api/v2/spot/trade/place-plan-order"


def cid() -> str:
    return "ab" + secrets.token_hex(10)


@pytest.fixture(scope="module")
async def venue() -> AsyncIterator[tuple[FakeBitget, str]]:
    fake = FakeBitget()
    server = await LoopbackServer(fake.app).start()
    yield fake, server.url
    await server.stop()


@pytest.fixture
def fake(venue: tuple[FakeBitget, str]) -> Iterator[FakeBitget]:
    bitget = venue[0]
    bitget.faults.clear()
    for symbol, price in DEFAULT_PRICES.items():
        bitget.set_price(symbol, str(price))
    yield bitget
    bitget.faults.clear()


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    http = HttpPool(timeout=1.0)
    yield http
    await http.aclose()


@pytest.fixture
def connect(venue: tuple[FakeBitget, str], pool: HttpPool, fake: FakeBitget) -> Any:
    def build(account: Account, **override: str) -> BitgetConnector:
        credentials = ApiCredentials(
            api_key=override.get("api_key", account.api_key),
            api_secret=override.get("api_secret", account.api_secret),
            passphrase=override.get("passphrase", account.passphrase),
        )
        return BitgetConnector(pool.endpoint(venue[1]), credentials)

    return build


# -- signing ----------------------------------------------------------------------------


def test_string_to_sign_follows_the_documented_rule() -> None:
    # Bitget's documented GET example, and a POST whose body is appended as sent.
    assert (
        prehash("16273667805456", "GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT", "")
        == "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"
    )
    body = '{"symbol":"BTCUSDT","side":"buy","orderType":"limit","price":"23000","size":"8"}'
    assert (
        prehash("16273667805456", "post", "/api/v2/spot/trade/place-order", "", body)
        == "16273667805456POST/api/v2/spot/trade/place-order" + body
    )
    secret = "a-secret"
    expected = base64.b64encode(
        hmac.new(
            secret.encode(),
            b"16273667805456GET/api/v2/spot/trade/fills?limit=100&symbol=BTCUSDT",
            hashlib.sha256,
        ).digest()
    ).decode()
    query = "limit=100&symbol=BTCUSDT"
    assert sign(secret, "16273667805456", "GET", "/api/v2/spot/trade/fills", query, "") == expected


async def test_the_signature_covers_the_exact_bytes_sent() -> None:
    sent: list[httpx.Request] = []
    symbols = [
        {
            "symbol": "BTCUSDT",
            "baseCoin": "BTC",
            "quoteCoin": "USDT",
            "minTradeAmount": "0.00001",
            "pricePrecision": "2",
            "quantityPrecision": "5",
            "quotePrecision": "6",
            "minTradeUSDT": "5",
            "status": "online",
        }
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        data: Any = {
            "/api/v2/public/time": {"serverTime": str(int(datetime.now(UTC).timestamp() * 1000))},
            "/api/v2/spot/public/symbols": symbols,
            PLACE: {"orderId": "1", "clientOid": "x"},
        }.get(request.url.path, [])
        return httpx.Response(200, json={"code": "00000", "msg": "success", "data": data})

    endpoint = Endpoint("https://api.bitget.test", timeout=1.0)
    await endpoint.client.aclose()
    endpoint.client = httpx.AsyncClient(
        base_url=endpoint.base_url, transport=httpx.MockTransport(answer)
    )
    secret = "s3cr3t"
    connector = BitgetConnector(endpoint, ApiCredentials("key", secret, "phrase"))
    await connector.fetch_trades("BTC/USDT", limit=50)
    # This mock never shows the placed order again: placed, but its outcome unread, the
    # placement says so (retryable) rather than reporting an order it cannot see.
    with pytest.raises(ExchangeUnavailable, match="reading it back failed"):
        await connector.create_order(
            OrderRequest(
                symbol="BTC/USDT",
                side="buy",
                type="limit",
                client_order_id="ab" + "0" * 20,
                quantity=D("0.001234"),
                price=D("50000.129"),
            )
        )
    await endpoint.client.aclose()
    signed = [r for r in sent if "ACCESS-SIGN" in r.headers]
    fills = next(r for r in signed if r.url.path == "/api/v2/spot/trade/fills")
    place = next(r for r in signed if r.url.path == PLACE)
    assert fills.url.query == b"limit=50&symbol=BTCUSDT"  # sorted by key, as sent
    # Rounded before sending: quantity down to the step, a buy price down to the tick.
    assert json.loads(place.content) == {
        "symbol": "BTCUSDT",
        "side": "buy",
        "orderType": "limit",
        "force": "gtc",
        "clientOid": "ab" + "0" * 20,
        "price": "50000.12",
        "size": "0.00123",
    }
    for request in (fills, place):
        timestamp = request.headers["ACCESS-TIMESTAMP"]
        message = (
            timestamp.encode()
            + request.method.encode()
            + request.url.path.encode()
            + (b"?" + request.url.query if request.url.query else b"")
            + request.content
        )
        digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
        assert request.headers["ACCESS-SIGN"] == base64.b64encode(digest).decode()
        assert request.headers["ACCESS-KEY"] == "key"
        assert request.headers["ACCESS-PASSPHRASE"] == "phrase"
        assert request.headers["locale"] == "en-US"
        assert request.headers["Content-Type"] == "application/json"


# -- market data ------------------------------------------------------------------------


async def test_load_markets_reads_bitget_precisions(fake: FakeBitget, connect: Any) -> None:
    markets = await connect(fake.add_account()).load_markets()
    btc = markets["BTC/USDT"]
    assert btc.exchange_symbol == "BTCUSDT"
    assert (btc.amount_step, btc.price_tick) == (D("0.00001"), D("0.01"))
    assert (btc.min_qty, btc.min_notional) == (D("0.00001"), D(5))
    eth_btc = markets["ETH/BTC"]
    assert (eth_btc.base, eth_btc.quote, eth_btc.price_tick) == ("ETH", "BTC", D("0.00001"))
    # minTradeUSDT is in USDT, not in BTC: no client-side notional for this pair.
    assert eth_btc.min_notional == 0
    assert "LUNA/USDT" not in markets  # offline
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "ETH/BTC"}


async def test_ticker_and_batched_tickers(fake: FakeBitget, connect: Any) -> None:
    fake.set_price("SOL/USDT", "123.45")
    connector = connect(fake.add_account())
    ticker = await connector.fetch_ticker("SOL/USDT")
    assert ticker.price == D("123.45") and ticker.time.tzinfo is not None
    fake.faults.log.clear()
    found = await connector.fetch_tickers(["BTC/USDT", "ETH/BTC", "PEPE/USDT"])
    assert set(found) == {"BTC/USDT", "ETH/BTC"}
    assert (found["BTC/USDT"].price, found["ETH/BTC"].price) == (D(50000), D("0.05"))
    assert len(fake.faults.requests("GET", "/api/v2/spot/market/tickers")) == 1


async def test_candles_oldest_first_with_the_open_one_marked(
    fake: FakeBitget, connect: Any
) -> None:
    for price in ("50100", "49900", "50050"):
        fake.set_price("BTC/USDT", price)
    candles = await connect(fake.add_account()).fetch_candles("BTC/USDT", "1m", limit=3)
    assert len(candles) == 3
    assert [c.open_time for c in candles] == sorted(c.open_time for c in candles)
    assert candles[1].open_time - candles[0].open_time == timedelta(minutes=1)
    assert [c.closed for c in candles] == [True, True, False]
    last = candles[-1]
    assert last.close == D(50050) and last.high >= D(50100) and last.low <= D(49900)
    daily = await connect(fake.add_account()).fetch_candles("ETH/USDT", "1d", limit=2)
    assert daily[-1].open_time.hour == 0 and not daily[-1].closed  # the UTC day
    with pytest.raises(InvalidOrder):
        await connect(fake.add_account()).fetch_candles("ETH/USDT", "2m")


# -- account and orders -----------------------------------------------------------------


async def test_balances_and_connection(fake: FakeBitget, connect: Any) -> None:
    connector = connect(fake.add_account({"USDT": "250", "ETH": "1.5", "SOL": "0"}))
    balances = await connector.fetch_balances()
    assert set(balances) == {"USDT", "ETH"}
    assert balances["ETH"].free == D("1.5") and balances["USDT"].total == 250
    summary = await connector.test_connection()
    assert "2 assets" in summary and "ETH" in summary


async def test_market_buy_by_quote_then_sell_with_fees(fake: FakeBitget, connect: Any) -> None:
    fake.set_price("SOL/USDT", "100")
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    buy = await connector.create_order(
        OrderRequest(
            symbol="SOL/USDT",
            side="buy",
            type="market",
            client_order_id=cid(),
            quote_amount=D("500"),
        )
    )
    assert (buy.status, buy.filled_quantity, buy.average_price) == ("filled", 5, 100)
    assert (buy.fee, buy.fee_asset) == (D("0.005"), "SOL")
    assert buy.quantity == 5
    fake.set_price("SOL/USDT", "120")
    sell = await connector.create_order(
        OrderRequest(
            symbol="SOL/USDT",
            side="sell",
            type="market",
            client_order_id=cid(),
            quantity=D("4.995"),
        )
    )
    assert (sell.status, sell.filled_quantity, sell.average_price) == ("filled", D("4.995"), 120)
    assert (sell.fee, sell.fee_asset) == (D("0.5994"), "USDT")
    balances = await connector.fetch_balances()
    assert "SOL" not in balances
    assert balances["USDT"].free == 500 + D("4.995") * 120 - D("0.5994")


async def test_market_buy_by_base_quantity_is_sent_as_a_quote_amount(
    fake: FakeBitget, connect: Any
) -> None:
    account = fake.add_account({"USDT": "1000"})
    order = await connect(account).create_order(
        OrderRequest(
            symbol="BTC/USDT", side="buy", type="market", client_order_id=cid(), quantity=D("0.01")
        )
    )
    [placed] = account.orders.values()
    assert placed.quantity is None and placed.quote_amount == D(500)  # 0.01 at 50000
    assert (order.filled_quantity, order.fee, order.fee_asset) == (D("0.01"), D("0.00001"), "BTC")


async def test_limit_order_rests_then_fills(fake: FakeBitget, connect: Any) -> None:
    fake.set_price("ETH/USDT", "2500")
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    client_id = cid()
    resting = await connector.create_order(
        OrderRequest(
            symbol="ETH/USDT",
            side="buy",
            type="limit",
            client_order_id=client_id,
            quantity=D("0.25"),
            price=D("2000"),
        )
    )
    assert (resting.status, resting.price, resting.quantity) == ("open", 2000, D("0.25"))
    assert resting.client_order_id == client_id
    usdt = (await connector.fetch_balances())["USDT"]
    assert (usdt.free, usdt.locked) == (500, 500)
    [listed] = await connector.fetch_open_orders("ETH/USDT")
    assert (listed.exchange_order_id, listed.price, listed.type) == (
        resting.exchange_order_id,
        2000,
        "limit",
    )
    by_client = await connector.fetch_order("ETH/USDT", client_order_id=client_id)
    assert by_client.exchange_order_id == resting.exchange_order_id

    fake.set_price("ETH/USDT", "1990")
    filled = await connector.fetch_order("ETH/USDT", exchange_order_id=resting.exchange_order_id)
    assert (filled.status, filled.filled_quantity, filled.average_price) == (
        "filled",
        D("0.25"),
        2000,
    )
    assert (filled.fee, filled.fee_asset) == (D("0.00025"), "ETH")
    # orderInfo no longer finds a filled order by clientOid: the history does.
    fake.faults.log.clear()
    adopted = await connector.fetch_order("ETH/USDT", client_order_id=client_id)
    assert (adopted.exchange_order_id, adopted.status) == (resting.exchange_order_id, "filled")
    assert fake.faults.requests("GET", "/api/v2/spot/trade/history-orders")
    assert await connector.fetch_open_orders() == []


async def test_stop_loss_and_take_profit_are_plan_orders(fake: FakeBitget, connect: Any) -> None:
    fake.set_price("ETH/USDT", "2500")
    account = fake.add_account({"ETH": "1", "USDT": "100"})
    connector = connect(account)
    stop_id, take_id = cid(), cid()
    stop = await connector.create_order(
        OrderRequest(
            symbol="ETH/USDT",
            side="sell",
            type="stop_loss",
            client_order_id=stop_id,
            quantity=D("0.5"),
            stop_price=D("2400"),
        )
    )
    take = await connector.create_order(
        OrderRequest(
            symbol="ETH/USDT",
            side="sell",
            type="take_profit",
            client_order_id=take_id,
            quantity=D("0.5"),
            stop_price=D("2700"),
            price=D("2700"),
        )
    )
    assert (stop.type, stop.status, take.type, take.price) == (
        "stop_loss",
        "open",
        "take_profit",
        2700,
    )
    assert len(fake.faults.requests("POST", PLACE_PLAN)) == 2
    assert not fake.faults.requests("POST", PLACE)
    listed = {o.client_order_id: o for o in await connector.fetch_open_orders("ETH/USDT")}
    assert (listed[stop_id].type, listed[take_id].type) == ("stop_loss", "take_profit")
    assert listed[stop_id].exchange_order_id == stop.exchange_order_id

    fake.set_price("ETH/USDT", "2390")
    for found in (
        await connector.fetch_order("ETH/USDT", exchange_order_id=stop.exchange_order_id),
        await connector.fetch_order("ETH/USDT", client_order_id=stop_id),
    ):
        assert (found.exchange_order_id, found.client_order_id) == (stop.exchange_order_id, stop_id)
        assert (found.type, found.status, found.filled_quantity) == (
            "stop_loss",
            "filled",
            D("0.5"),
        )
        assert (found.average_price, found.fee, found.fee_asset) == (2390, D("1.195"), "USDT")

    canceled = await connector.cancel_order("ETH/USDT", client_order_id=take_id)
    assert (canceled.status, canceled.type) == ("canceled", "take_profit")
    again = await connector.fetch_order("ETH/USDT", exchange_order_id=take.exchange_order_id)
    assert again.status == "canceled"
    closed = {o.client_order_id: o for o in await connector.fetch_closed_orders("ETH/USDT")}
    assert (closed[stop_id].type, closed[stop_id].status) == ("stop_loss", "filled")
    assert (closed[take_id].type, closed[take_id].status) == ("take_profit", "canceled")
    assert await connector.fetch_open_orders("ETH/USDT") == []
    with pytest.raises(NotSupported):
        await connector.create_oco(
            OcoRequest(
                symbol="ETH/USDT",
                side="sell",
                quantity=D("0.1"),
                client_order_id=cid(),
                take_profit_price=D("2600"),
                stop_price=D("2300"),
            )
        )


async def test_a_triggered_stop_limit_is_canceled_through_its_spot_order(
    fake: FakeBitget, connect: Any
) -> None:
    fake.set_price("BTC/USDT", "50000")
    account = fake.add_account({"BTC": "0.01"})
    connector = connect(account)
    stop = await connector.create_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="sell",
            type="stop_loss",
            client_order_id=cid(),
            quantity=D("0.01"),
            stop_price=D("49000"),
            price=D("49500"),
        )
    )
    fake.set_price("BTC/USDT", "48900")  # triggered; the sell limit at 49500 waits
    waiting = await connector.fetch_order("BTC/USDT", exchange_order_id=stop.exchange_order_id)
    assert (waiting.status, waiting.type, waiting.price) == ("open", "stop_loss", 49500)
    canceled = await connector.cancel_order("BTC/USDT", exchange_order_id=stop.exchange_order_id)
    assert (canceled.status, canceled.exchange_order_id) == ("canceled", stop.exchange_order_id)
    assert (await connector.fetch_balances())["BTC"].free == D("0.01")


async def test_cancel_and_unknown_orders(fake: FakeBitget, connect: Any) -> None:
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    order = await connector.create_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            client_order_id=cid(),
            quantity=D("0.001"),
            price=D("40000"),
        )
    )
    canceled = await connector.cancel_order("BTC/USDT", exchange_order_id=order.exchange_order_id)
    assert canceled.status == "canceled"
    assert (await connector.fetch_balances())["USDT"].free == 1000
    with pytest.raises(InvalidOrder, match="already canceled"):
        await connector.cancel_order("BTC/USDT", exchange_order_id=order.exchange_order_id)
    with pytest.raises(OrderNotFound):
        await connector.fetch_order("BTC/USDT", exchange_order_id="424242")
    with pytest.raises(OrderNotFound):
        await connector.cancel_order("BTC/USDT", client_order_id=cid())
    with pytest.raises(OrderNotFound):  # right id, wrong symbol
        await connector.fetch_order("ETH/USDT", exchange_order_id=order.exchange_order_id)


async def test_closed_orders_and_trades_oldest_first(fake: FakeBitget, connect: Any) -> None:
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    ids = []
    for side, amount in (("buy", {"quote_amount": D(100)}), ("sell", {"quantity": D("0.001")})):
        placed = await connector.create_order(
            OrderRequest(
                symbol="BTC/USDT", side=side, type="market", client_order_id=cid(), **amount
            )
        )
        ids.append(placed.exchange_order_id)
    closed = await connector.fetch_closed_orders("BTC/USDT")
    assert [o.exchange_order_id for o in closed] == ids
    assert [(o.side, o.status, o.fee_asset) for o in closed] == [
        ("buy", "filled", "BTC"),
        ("sell", "filled", "USDT"),
    ]
    trades = await connector.fetch_trades("BTC/USDT")
    assert [t.exchange_order_id for t in trades] == ids
    assert (trades[0].quantity, trades[0].price, trades[0].fee) == (
        D("0.002"),
        50000,
        D("0.000002"),
    )
    assert (trades[1].fee, trades[1].fee_asset) == (D("0.05"), "USDT")
    assert (
        await connector.fetch_trades("BTC/USDT", since=datetime.now(UTC) + timedelta(hours=1)) == []
    )


# -- errors -----------------------------------------------------------------------------


async def test_insufficient_funds_keeps_bitgets_message(fake: FakeBitget, connect: Any) -> None:
    connector = connect(fake.add_account({"USDT": "100"}))
    with pytest.raises(InsufficientFunds, match="Insufficient balance"):
        await connector.create_order(
            OrderRequest(
                symbol="BTC/USDT",
                side="buy",
                type="market",
                client_order_id=cid(),
                quote_amount=D(500),
            )
        )


async def test_duplicate_client_id(fake: FakeBitget, connect: Any) -> None:
    connector = connect(fake.add_account({"USDT": "1000"}))
    request = OrderRequest(
        symbol="BTC/USDT", side="buy", type="market", client_order_id=cid(), quote_amount=D(50)
    )
    await connector.create_order(request)
    # Bitget refuses a clientOid already used, even by a filled order.
    with pytest.raises(DuplicateOrder, match="duplicate"):
        await connector.create_order(request)


@pytest.mark.parametrize(
    ("override", "bitget_message"),
    [
        ({"api_secret": "wrong"}, "sign signature error"),
        ({"api_key": "unknown-key"}, "Apikey does not exist"),
        ({"passphrase": "wrong"}, "apikey/password is incorrect"),
    ],
)
async def test_bad_credentials(
    fake: FakeBitget, connect: Any, override: dict[str, str], bitget_message: str
) -> None:
    account = fake.add_account()
    with pytest.raises(AuthenticationFailed) as failure:
        await connect(account, **override).fetch_balances()
    assert failure.value.message.startswith("authentication failed: ")
    assert bitget_message in failure.value.message


async def test_unknown_symbol(fake: FakeBitget, connect: Any) -> None:
    connector = connect(fake.add_account())
    with pytest.raises(UnknownSymbol):
        await connector.fetch_ticker("PEPE/USDT")
    with pytest.raises(UnknownSymbol, match="PEPE/USDT"):
        await connector.create_order(
            OrderRequest(
                symbol="PEPE/USDT",
                side="buy",
                type="market",
                client_order_id=cid(),
                quote_amount=D(10),
            )
        )
    assert not fake.faults.requests("POST", PLACE)


async def test_below_the_minimum_is_refused_before_sending(fake: FakeBitget, connect: Any) -> None:
    account = fake.add_account({"USDT": "1000", "BTC": "1"})
    connector = connect(account)
    requests = [
        OrderRequest(
            symbol="BTC/USDT", side="buy", type="market", client_order_id=cid(), quote_amount=D(4)
        ),
        OrderRequest(
            symbol="BTC/USDT",
            side="sell",
            type="market",
            client_order_id=cid(),
            quantity=D("0.00005"),
        ),
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            client_order_id=cid(),
            quantity=D("0.00001"),
            price=D(40000),
        ),
        OrderRequest(
            symbol="BTC/USDT",
            side="sell",
            type="stop_loss",
            client_order_id=cid(),
            quantity=D("0.000009"),  # rounds to 0
            stop_price=D(45000),
        ),
    ]
    for request in requests:
        with pytest.raises(InvalidOrder, match=r"below the minimum|rounds to 0"):
            await connector.create_order(request)
    assert not fake.faults.requests("POST", PLACE)
    assert not fake.faults.requests("POST", PLACE_PLAN)
    assert account.orders == {}


async def test_rate_limit_carries_retry_after(fake: FakeBitget, connect: Any) -> None:
    connector = connect(fake.add_account())
    await connector.load_markets()
    fake.faults.arm("rate_limit", "GET", "/api/v2/spot/account/assets", retry_after=2)
    with pytest.raises(RateLimited) as limited:
        await connector.fetch_balances()
    assert limited.value.retry_after == 2 and limited.value.retryable
    assert "Too Many Requests" in limited.value.message


async def test_server_error_is_unavailable(fake: FakeBitget, connect: Any) -> None:
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    fake.faults.arm("error_5xx", "POST", PLACE, status=503)
    with pytest.raises(ExchangeUnavailable, match="System is abnormal"):
        await connector.create_order(
            OrderRequest(
                symbol="BTC/USDT",
                side="buy",
                type="market",
                client_order_id=cid(),
                quote_amount=D(50),
            )
        )
    assert account.orders == {}


async def test_timeout_after_acceptance_then_adopt_by_client_id(
    fake: FakeBitget, connect: Any
) -> None:
    account = fake.add_account({"USDT": "1000"})
    connector = connect(account)
    request = OrderRequest(
        symbol="BTC/USDT", side="buy", type="market", client_order_id=cid(), quote_amount=D(100)
    )
    fake.faults.arm("accept_then_timeout", "POST", PLACE, seconds=2.0)
    with pytest.raises(ExchangeUnavailable, match="unknown"):
        await connector.create_order(request)
    found = await connector.fetch_order("BTC/USDT", client_order_id=request.client_order_id)
    assert (found.status, found.filled_quantity, found.client_order_id) == (
        "filled",
        D("0.002"),
        request.client_order_id,
    )
    assert len(account.orders) == 1
    with pytest.raises(DuplicateOrder):  # a blind retry cannot trade twice
        await connector.create_order(request)
    assert len(account.orders) == 1


@pytest.mark.parametrize("skew_ms", [5_000, -5_000])
async def test_clock_skew_within_the_window(fake: FakeBitget, connect: Any, skew_ms: int) -> None:
    fake.faults.clock_skew_ms = skew_ms
    connector = connect(fake.add_account({"USDT": "10"}))
    assert (await connector.fetch_balances())["USDT"].free == 10


async def test_expired_timestamp_resyncs_the_clock_and_retries_once(
    fake: FakeBitget, connect: Any
) -> None:
    connector = connect(fake.add_account({"USDT": "10"}))
    await connector.fetch_balances()  # clock synced
    fake.faults.clock_skew_ms = 45_000  # the exchange's clock jumps past the 30 s window
    fake.faults.log.clear()
    assert (await connector.fetch_balances())["USDT"].free == 10
    assets = fake.faults.requests("GET", "/api/v2/spot/account/assets")
    assert [r.status for r in assets] == [400, 200]
    assert len(fake.faults.requests("GET", "/api/v2/public/time")) == 1


async def test_secrets_never_appear_in_errors(fake: FakeBitget, connect: Any) -> None:
    account = fake.add_account({"USDT": "1"})
    secret, passphrase = "S" * 12 + secrets.token_hex(8), "P" * 8 + secrets.token_hex(4)
    failures: list[ExchangeError] = []
    for connector in (
        connect(account, api_secret=secret, passphrase=account.passphrase),
        connect(account, api_secret=account.api_secret, passphrase=passphrase),
        connect(account),
    ):
        try:
            await connector.create_order(
                OrderRequest(
                    symbol="BTC/USDT",
                    side="buy",
                    type="market",
                    client_order_id=cid(),
                    quote_amount=D(50),
                )
            )
        except ExchangeError as exc:
            failures.append(exc)
        assert secret not in repr(connector._credentials)
    assert [type(f) for f in failures] == [
        AuthenticationFailed,
        AuthenticationFailed,
        InsufficientFunds,
    ]
    for failure in failures:
        text = f"{failure} {failure!r} {failure.raw!r}"
        for hidden in (secret, passphrase, account.api_secret, account.passphrase, account.api_key):
            assert hidden not in text
