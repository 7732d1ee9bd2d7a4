"""The Kraken connector against the fake Kraken server (real HTTP on loopback)."""

import asyncio
import base64
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

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
from exchanges.http import ApiCredentials, HttpPool
from exchanges.kraken import KrakenConnector, from_cl_ord_id, kraken_error, sign, to_cl_ord_id
from exchanges.types import OcoRequest, OrderRequest
from tests.fakes.kraken_exchange import FakeKraken
from tests.fakes.ledger import Account
from tests.fakes.server import LoopbackServer

CID = "ab0123456789abcdef0123"


class Setup:
    def __init__(self, fake: FakeKraken, pool: HttpPool, url: str) -> None:
        self.fake, self.pool, self.url = fake, pool, url

    def connector(self, account: Account, secret: str | None = None) -> KrakenConnector:
        credentials = ApiCredentials(account.api_key, secret or account.api_secret)
        return KrakenConnector(self.pool.endpoint(self.url), credentials)

    def account(self, balances: dict[str, str] | None = None) -> tuple[Account, KrakenConnector]:
        account = self.fake.add_account(balances or {"USDT": "10000", "USD": "10000"})
        return account, self.connector(account)

    def calls(self, method: str) -> list[dict[str, str]]:
        return [params for name, params in self.fake.calls if name == method]


@pytest.fixture
async def kraken() -> AsyncIterator[Setup]:
    fake = FakeKraken()
    server = await LoopbackServer(fake.app).start()
    pool = HttpPool(timeout=1.0)
    yield Setup(fake, pool, server.url)
    await pool.aclose()
    await server.stop()


def order(**fields: object) -> OrderRequest:
    values: dict[str, object] = {"symbol": "BTC/USDT", "client_order_id": CID, **fields}
    return OrderRequest.model_validate(values)


# -- signing and identifiers -------------------------------------------------------------


def test_official_add_order_signing_vector() -> None:
    secret = base64.b64decode(
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    )
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert sign(secret, "/0/private/AddOrder", 1616492376594, body) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_client_ids_travel_as_uuid_and_come_back() -> None:
    cl_ord_id = to_cl_ord_id(CID)
    assert cl_ord_id is not None
    parsed = uuid.UUID(cl_ord_id)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert from_cl_ord_id(cl_ord_id) == CID
    assert to_cl_ord_id(CID) == cl_ord_id  # deterministic
    assert to_cl_ord_id("short-text") == "short-text"
    other = str(uuid.uuid4())
    assert to_cl_ord_id(other) == other and from_cl_ord_id(other) == other
    assert to_cl_ord_id("x" * 19) is None


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EOrder:Insufficient funds", InsufficientFunds),
        ("EAPI:Invalid key", AuthenticationFailed),
        ("EGeneral:Permission denied", AuthenticationFailed),
        ("EAPI:Rate limit exceeded", RateLimited),
        ("EOrder:Rate limit exceeded", RateLimited),
        ("EService:Unavailable", ExchangeUnavailable),
        ("EService:Busy", ExchangeUnavailable),
        ("EOrder:Unknown order", OrderNotFound),
        ("EQuery:Unknown asset pair", UnknownSymbol),
        ("EOrder:Order minimum not met", InvalidOrder),
        ("EOrder:Cost minimum not met", InvalidOrder),
        ("EGeneral:Invalid arguments", InvalidOrder),
    ],
)
def test_error_strings_map_to_the_hierarchy(error: str, kind: type[ExchangeError]) -> None:
    exc = kraken_error([error])
    assert type(exc) is kind
    assert error in exc.message


# -- market data -------------------------------------------------------------------------


async def test_markets_are_mapped_from_krakens_names(kraken: Setup) -> None:
    _, connector = kraken.account()
    markets = await connector.load_markets()
    assert markets["BTC/USD"].exchange_symbol == "XXBTZUSD"
    assert markets["BTC/USDT"].exchange_symbol == "XBTUSDT"
    assert markets["ETH/BTC"].exchange_symbol == "XETHXXBT"
    btc_usd = markets["BTC/USD"]
    assert (btc_usd.base, btc_usd.quote) == ("BTC", "USD")
    assert btc_usd.amount_step == Decimal("0.00000001")
    assert btc_usd.price_tick == Decimal("0.1")
    assert btc_usd.min_qty == Decimal("0.00005")
    assert btc_usd.min_notional == Decimal("0.5")
    assert markets["ETH/BTC"].price_tick == Decimal("0.00001")
    # Cached on the endpoint: a second call costs no request.
    await connector.load_markets()
    assert len(kraken.fake.faults.requests("GET", "/0/public/AssetPairs")) == 1


async def test_tickers_are_batched_and_unknown_symbols_left_out(kraken: Setup) -> None:
    _, connector = kraken.account()
    kraken.fake.set_price("ETH/BTC", "0.06")
    tickers = await connector.fetch_tickers(["BTC/USD", "ETH/BTC", "NOPE/USD"])
    assert set(tickers) == {"BTC/USD", "ETH/BTC"}
    assert tickers["BTC/USD"].price == Decimal("50000")
    assert tickers["ETH/BTC"].price == Decimal("0.06")
    assert len(kraken.fake.faults.requests("GET", "/0/public/Ticker")) == 1
    assert (await connector.fetch_ticker("BTC/USDT")).price == Decimal("50000")
    with pytest.raises(UnknownSymbol):
        await connector.fetch_ticker("NOPE/USD")


async def test_candles_oldest_first_with_the_forming_one_marked(kraken: Setup) -> None:
    _, connector = kraken.account()
    kraken.fake.set_price("BTC/USD", "51000")
    kraken.fake.set_price("BTC/USD", "49000")
    kraken.fake.set_price("BTC/USD", "50500")
    candles = await connector.fetch_candles("BTC/USD", "1m", limit=5)
    assert len(candles) == 5
    assert [c.open_time for c in candles] == sorted(c.open_time for c in candles)
    assert [c.closed for c in candles] == [True, True, True, True, False]
    last = candles[-1]
    assert (last.high, last.low, last.close) == (Decimal(51000), Decimal(49000), Decimal(50500))
    since = candles[1].open_time
    later = await connector.fetch_candles("BTC/USD", "1m", since=since, limit=2)
    assert [c.open_time for c in later] == [candles[1].open_time, candles[2].open_time]
    hourly = await connector.fetch_candles("BTC/USD", "1h", limit=3)
    assert hourly[1].open_time - hourly[0].open_time == timedelta(hours=1)
    with pytest.raises(InvalidOrder):
        await connector.fetch_candles("BTC/USD", "2m")


# -- account -----------------------------------------------------------------------------


async def test_balances_use_unified_asset_names(kraken: Setup) -> None:
    _, connector = kraken.account({"BTC": "1.5", "USD": "1000", "USDT": "20", "DOGE": "300"})
    balances = await connector.fetch_balances()
    assert set(balances) == {"BTC", "USD", "USDT", "DOGE"}
    assert balances["BTC"].free == Decimal("1.5")
    assert balances["DOGE"].free == Decimal("300")
    # Kraken's own names were on the wire.
    assert all(k not in balances for k in ("XXBT", "ZUSD", "XXDG"))
    await connector.create_order(
        order(symbol="BTC/USD", side="sell", type="limit", quantity=Decimal("0.5"), price=60000)
    )
    btc = (await connector.fetch_balances())["BTC"]
    assert (btc.free, btc.locked) == (Decimal("1.0"), Decimal("0.5"))
    summary = await connector.test_connection()
    assert "Kraken" in summary and "4 assets" in summary


async def test_concurrent_private_calls_keep_nonces_in_order(kraken: Setup) -> None:
    account, connector = kraken.account({"USDT": "100"})
    results = await asyncio.gather(*(connector.fetch_balances() for _ in range(20)))
    assert all(r["USDT"].free == Decimal("100") for r in results)
    assert len(kraken.calls("BalanceEx")) == 20
    # A second connector on the same key and endpoint shares the nonce source.
    twin = kraken.connector(account)
    await asyncio.gather(connector.fetch_balances(), twin.fetch_balances())


async def test_a_nonce_refused_once_is_retried_with_a_fresh_one(kraken: Setup) -> None:
    account, connector = kraken.account()
    await connector.load_markets()
    # Another client of the same key just used a nonce 20 ms ahead of ours.
    kraken.fake.last_nonce[account.api_key] = time.time_ns() // 1000 + 20_000
    kraken.fake.faults.arm("latency", "POST", "/0/private/BalanceEx", seconds=0.05)
    assert "USDT" in await connector.fetch_balances()
    assert len(kraken.fake.faults.requests("POST", "/0/private/BalanceEx")) == 2
    assert len(kraken.calls("BalanceEx")) == 1  # only the retry passed the nonce check


# -- orders ------------------------------------------------------------------------------


async def test_market_buy_by_quote_amount(kraken: Setup) -> None:
    _, connector = kraken.account({"USDT": "2000"})
    placed = await connector.create_order(
        order(side="buy", type="market", quote_amount=Decimal("1000"))
    )
    assert placed.status == "filled"
    assert placed.quantity is None
    assert placed.filled_quantity == Decimal("0.02")
    assert placed.average_price == Decimal("50000")
    assert placed.fee == Decimal("1")  # 0.1 % of the cost, in the quote asset
    assert placed.fee_asset == "USDT"
    assert placed.client_order_id == CID
    sent = kraken.calls("AddOrder")[0]
    assert sent["oflags"] == "fciq,viqc" and sent["volume"] == "1000"
    assert sent["pair"] == "XBTUSDT"
    assert uuid.UUID(sent["cl_ord_id"]) and sent["cl_ord_id"] != CID
    balances = await connector.fetch_balances()
    assert balances["BTC"].free == Decimal("0.02")
    assert balances["USDT"].free == Decimal("999")


async def test_market_buy_and_sell_by_quantity_with_fees_in_quote(kraken: Setup) -> None:
    _, connector = kraken.account({"USD": "2000"})
    bought = await connector.create_order(
        order(symbol="BTC/USD", side="buy", type="market", quantity=Decimal("0.0100000049"))
    )
    assert bought.filled_quantity == Decimal("0.01")  # rounded down to lot_decimals 8
    assert bought.fee == Decimal("0.5") and bought.fee_asset == "USD"
    kraken.fake.set_price("BTC/USD", "60000")
    sold = await connector.create_order(
        order(
            symbol="BTC/USD",
            side="sell",
            type="market",
            quantity=Decimal("0.01"),
            client_order_id="ab" + "1" * 20,
        )
    )
    assert sold.status == "filled"
    assert sold.average_price == Decimal("60000")
    assert sold.fee == Decimal("0.6") and sold.fee_asset == "USD"
    assert (await connector.fetch_balances())["USD"].free == Decimal("2098.9")


async def test_limit_order_rests_then_fills_when_crossed(kraken: Setup) -> None:
    _, connector = kraken.account()
    placed = await connector.create_order(
        order(side="buy", type="limit", quantity=Decimal("0.1"), price=Decimal("45000.009"))
    )
    assert placed.status == "open"
    assert placed.price == Decimal("45000")  # a buy is rounded down to the tick
    assert placed.type == "limit" and placed.quantity == Decimal("0.1")
    opened = await connector.fetch_open_orders("BTC/USDT")
    assert [o.exchange_order_id for o in opened] == [placed.exchange_order_id]
    assert await connector.fetch_open_orders("ETH/USDT") == []
    kraken.fake.set_price("BTC/USDT", "44999")
    filled = await connector.fetch_order("BTC/USDT", exchange_order_id=placed.exchange_order_id)
    assert filled.status == "filled"
    assert filled.filled_quantity == Decimal("0.1")
    assert filled.average_price == Decimal("45000")
    assert filled.fee == Decimal("4.5") and filled.fee_asset == "USDT"
    assert await connector.fetch_open_orders() == []


async def test_stop_loss_and_take_profit_trigger_orders(kraken: Setup) -> None:
    _, connector = kraken.account({"BTC": "1"})
    stop = await connector.create_order(
        order(
            symbol="BTC/USD",
            side="sell",
            type="stop_loss",
            quantity=Decimal("0.2"),
            stop_price=Decimal("45000"),
            price=Decimal("44900"),
        )
    )
    profit = await connector.create_order(
        order(
            symbol="BTC/USD",
            side="sell",
            type="take_profit",
            quantity=Decimal("0.3"),
            stop_price=Decimal("55000"),
            client_order_id="ab" + "2" * 20,
        )
    )
    sent = kraken.calls("AddOrder")
    assert (sent[0]["ordertype"], sent[0]["price"], sent[0]["price2"]) == (
        "stop-loss-limit",
        "45000",
        "44900",
    )
    assert (sent[1]["ordertype"], sent[1]["price"]) == ("take-profit", "55000")
    assert "price2" not in sent[1]
    assert (stop.type, stop.status, stop.price) == ("stop_loss", "open", Decimal("44900"))
    assert (profit.type, profit.status, profit.price) == ("take_profit", "open", None)
    # Triggered at or below 45000, then a limit sell at 44900 that the market still pays.
    kraken.fake.set_price("BTC/USD", "44950")
    stopped = await connector.fetch_order("BTC/USD", exchange_order_id=stop.exchange_order_id)
    assert stopped.status == "filled" and stopped.average_price == Decimal("44900")
    still = await connector.fetch_order("BTC/USD", client_order_id="ab" + "2" * 20)
    assert still.status == "open"
    kraken.fake.set_price("BTC/USD", "56000")
    took = await connector.fetch_order("BTC/USD", client_order_id="ab" + "2" * 20)
    assert took.status == "filled" and took.average_price == Decimal("56000")
    assert took.fee == Decimal("0.3") * 56000 / 1000 and took.fee_asset == "USD"


async def test_oco_is_not_supported(kraken: Setup) -> None:
    _, connector = kraken.account()
    assert not connector.capabilities.oco
    with pytest.raises(NotSupported):
        await connector.create_oco(
            OcoRequest(
                symbol="BTC/USDT",
                side="sell",
                quantity=Decimal("0.1"),
                client_order_id=CID,
                take_profit_price=Decimal("60000"),
                stop_price=Decimal("40000"),
            )
        )


async def test_cancel_by_exchange_id_and_by_client_id(kraken: Setup) -> None:
    _, connector = kraken.account()
    first = await connector.create_order(
        order(side="buy", type="limit", quantity=Decimal("0.01"), price=Decimal("40000"))
    )
    second_id = "ab" + "3" * 20
    await connector.create_order(
        order(
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            price=Decimal("41000"),
            client_order_id=second_id,
        )
    )
    canceled = await connector.cancel_order("BTC/USDT", exchange_order_id=first.exchange_order_id)
    assert canceled.status == "canceled"
    canceled = await connector.cancel_order("BTC/USDT", client_order_id=second_id)
    assert canceled.status == "canceled" and canceled.client_order_id == second_id
    assert kraken.calls("CancelOrder")[1]["cl_ord_id"] == to_cl_ord_id(second_id)
    assert (await connector.fetch_balances())["USDT"].locked == 0
    with pytest.raises(OrderNotFound, match="EOrder:Unknown order"):
        await connector.cancel_order("BTC/USDT", exchange_order_id=first.exchange_order_id)


async def test_fetch_order_by_client_id_open_and_filled(kraken: Setup) -> None:
    _, connector = kraken.account()
    placed = await connector.create_order(
        order(side="buy", type="limit", quantity=Decimal("0.01"), price=Decimal("49000"))
    )
    found = await connector.fetch_order("BTC/USDT", client_order_id=CID)
    assert found.exchange_order_id == placed.exchange_order_id
    assert found.status == "open" and found.client_order_id == CID
    kraken.fake.set_price("BTC/USDT", "48000")
    found = await connector.fetch_order("BTC/USDT", client_order_id=CID)
    assert found.status == "filled" and found.exchange_order_id == placed.exchange_order_id
    assert found.filled_quantity == Decimal("0.01")
    with pytest.raises(OrderNotFound):
        await connector.fetch_order("BTC/USDT", client_order_id="ab" + "9" * 20)
    with pytest.raises(OrderNotFound):
        await connector.fetch_order("ETH/USDT", client_order_id=CID)
    with pytest.raises(OrderNotFound):
        await connector.fetch_order("BTC/USDT", exchange_order_id="OAAAAA-BBBBB-CCCCCC")


async def test_duplicate_client_id_of_an_open_order_is_refused(kraken: Setup) -> None:
    _, connector = kraken.account()
    request = order(side="buy", type="limit", quantity=Decimal("0.01"), price=Decimal("40000"))
    await connector.create_order(request)
    with pytest.raises(DuplicateOrder):
        await connector.create_order(request)
    assert len(kraken.fake.ledger.accounts[connector._credentials.api_key].orders) == 1


async def test_closed_orders_and_trades_oldest_first(kraken: Setup) -> None:
    _, connector = kraken.account({"USDT": "10000", "ETH": "1"})
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [f"ab{n:020x}" for n in range(3)]
    for cid in ids:
        await connector.create_order(
            order(side="buy", type="market", quantity=Decimal("0.01"), client_order_id=cid)
        )
    await connector.create_order(
        order(symbol="ETH/USDT", side="sell", type="market", quantity=Decimal("0.5"))
    )
    canceled = await connector.create_order(
        order(
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            price=Decimal("30000"),
            client_order_id="ab" + "4" * 20,
        )
    )
    await connector.cancel_order("BTC/USDT", exchange_order_id=canceled.exchange_order_id)
    closed = await connector.fetch_closed_orders("BTC/USDT")
    assert [o.client_order_id for o in closed] == [*ids, "ab" + "4" * 20]
    assert [o.status for o in closed] == ["filled", "filled", "filled", "canceled"]
    assert len(await connector.fetch_closed_orders("BTC/USDT", since=start, limit=2)) == 2
    trades = await connector.fetch_trades("BTC/USDT")
    assert len(trades) == 3
    assert [t.exchange_order_id for t in trades] == [o.exchange_order_id for o in closed[:3]]
    assert all(t.quantity == Decimal("0.01") and t.price == Decimal("50000") for t in trades)
    assert all(t.fee == Decimal("0.5") and t.fee_asset == "USDT" for t in trades)
    assert trades == sorted(trades, key=lambda t: t.time)
    eth = await connector.fetch_trades("ETH/USDT", since=start)
    assert len(eth) == 1 and eth[0].side == "sell" and eth[0].fee_asset == "USDT"


# -- errors ------------------------------------------------------------------------------


async def test_insufficient_funds_keeps_krakens_message(kraken: Setup) -> None:
    _, connector = kraken.account({"USDT": "10"})
    with pytest.raises(InsufficientFunds, match="EOrder:Insufficient funds"):
        await connector.create_order(order(side="buy", type="market", quantity=Decimal("0.01")))


async def test_bad_credentials(kraken: Setup) -> None:
    account, _ = kraken.account()
    wrong_secret = base64.b64encode(b"x" * 64).decode()
    with pytest.raises(AuthenticationFailed, match=r"^authentication failed: EAPI:Invalid sig"):
        await kraken.connector(account, wrong_secret).fetch_balances()
    stranger = KrakenConnector(
        kraken.pool.endpoint(kraken.url), ApiCredentials("nobody", account.api_secret)
    )
    with pytest.raises(AuthenticationFailed, match=r"^authentication failed: EAPI:Invalid key"):
        await stranger.test_connection()
    sent = len(kraken.fake.faults.log)
    with pytest.raises(AuthenticationFailed, match=r"^authentication failed: .*base64"):
        await kraken.connector(account, "not base64!").fetch_balances()
    assert len(kraken.fake.faults.log) == sent  # refused before sending


async def test_unknown_symbol_and_filters_are_refused_before_sending(kraken: Setup) -> None:
    _, connector = kraken.account()
    with pytest.raises(UnknownSymbol):
        await connector.create_order(
            order(symbol="NOPE/USDT", side="buy", type="market", quantity=Decimal("1"))
        )
    with pytest.raises(InvalidOrder, match="below the minimum"):
        await connector.create_order(
            order(side="buy", type="limit", quantity=Decimal("0.00001"), price=Decimal("40000"))
        )
    with pytest.raises(InvalidOrder, match="below the minimum"):
        await connector.create_order(order(side="buy", type="market", quote_amount=Decimal("4")))
    with pytest.raises(InvalidOrder):  # rounds to 0 at lot_decimals
        await connector.create_order(
            order(side="sell", type="market", quantity=Decimal("0.000001"))
        )
    assert kraken.fake.faults.requests("POST", "/0/private/AddOrder") == []


async def test_http_429_is_rate_limited_with_retry_after(kraken: Setup) -> None:
    _, connector = kraken.account()
    kraken.fake.faults.arm("rate_limit", "POST", "/0/private/BalanceEx", retry_after=2)
    with pytest.raises(RateLimited) as caught:
        await connector.fetch_balances()
    assert caught.value.retry_after == 2
    assert "EAPI:Rate limit exceeded" in caught.value.message
    assert caught.value.retryable


async def test_5xx_is_exchange_unavailable(kraken: Setup) -> None:
    _, connector = kraken.account()
    kraken.fake.faults.arm("error_5xx", "GET", "/0/public/Ticker", status=502)
    with pytest.raises(ExchangeUnavailable, match="HTTP 502"):
        await connector.fetch_ticker("BTC/USDT")
    kraken.fake.faults.arm("accept_then_5xx", "POST", "/0/private/AddOrder")
    with pytest.raises(ExchangeUnavailable, match="EService:Unavailable"):
        await connector.create_order(order(side="buy", type="market", quantity=Decimal("0.01")))
    adopted = await connector.fetch_order("BTC/USDT", client_order_id=CID)
    assert adopted.status == "filled"


async def test_timed_out_placement_is_adopted_by_client_id(kraken: Setup) -> None:
    account, connector = kraken.account()
    kraken.fake.faults.arm("accept_then_timeout", "POST", "/0/private/AddOrder", seconds=1.5)
    with pytest.raises(ExchangeUnavailable, match="outcome is unknown"):
        await connector.create_order(order(side="buy", type="market", quantity=Decimal("0.01")))
    found = await connector.fetch_order("BTC/USDT", client_order_id=CID)
    assert found.status == "filled" and found.filled_quantity == Decimal("0.01")
    assert list(account.orders) == [found.exchange_order_id]
    assert re.fullmatch(r"O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}", found.exchange_order_id)


@pytest.mark.parametrize("skew_ms", [5000, -5000])
async def test_clock_skew_does_not_matter(kraken: Setup, skew_ms: int) -> None:
    kraken.fake.faults.clock_skew_ms = skew_ms
    _, connector = kraken.account()
    placed = await connector.create_order(
        order(side="buy", type="market", quantity=Decimal("0.01"))
    )
    assert placed.status == "filled"
    assert "USDT" in await connector.fetch_balances()


async def test_secrets_never_appear_in_errors(kraken: Setup) -> None:
    account, connector = kraken.account({"USDT": "1"})
    failures: list[ExchangeError] = []
    attempts = [
        connector.create_order(order(side="buy", type="market", quantity=Decimal("0.01"))),
        kraken.connector(account, base64.b64encode(b"y" * 64).decode()).fetch_balances(),
        kraken.connector(account, account.api_secret + "!").fetch_balances(),
        connector.fetch_order("BTC/USDT", exchange_order_id="OAAAAA-BBBBB-CCCCCC"),
    ]
    for attempt in attempts:
        try:
            await attempt
        except ExchangeError as exc:
            failures.append(exc)
    kraken.fake.faults.arm("accept_then_timeout", "POST", "/0/private/BalanceEx", seconds=1.5)
    try:
        await connector.fetch_balances()
    except ExchangeError as exc:
        failures.append(exc)
    assert len(failures) == 5
    texts = [str(e) + repr(e) + repr(e.raw) for e in failures] + [repr(connector)]
    for text in texts:
        assert account.api_secret not in text
        assert account.api_key not in text


async def test_a_key_that_cannot_read_orders_still_reports_the_placed_order(
    kraken: Setup,
) -> None:
    """Trading without "query orders" permission: the order stands and is reported as
    accepted (never as a failure that would record it rejected), and Test connection says
    what the key lacks."""
    account, connector = kraken.account()
    kraken.fake.deny(account, "QueryOrders", "QueryTrades", "OpenOrders", "ClosedOrders")
    placed = await connector.create_order(
        order(side="buy", type="market", quantity=Decimal("0.01"))
    )
    [on_exchange] = account.orders.values()
    assert on_exchange.status == "filled"
    assert placed.exchange_order_id == on_exchange.order_id and placed.client_order_id == CID
    assert (
        placed.status == "open" and placed.filled_quantity == 0
    )  # not read back: reconciled later
    with pytest.raises(AuthenticationFailed, match="Permission denied"):
        await connector.test_connection()
