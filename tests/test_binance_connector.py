"""The Binance connector against the fake Binance spot API (no Temporal, no database)."""

import itertools
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from exchanges.binance import BinanceConnector, sign
from exchanges.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    UnknownSymbol,
)
from exchanges.http import ApiCredentials, HttpPool
from exchanges.types import OcoRequest, OrderRequest
from tests.fakes.binance_exchange import FakeBinance
from tests.fakes.ledger import DEFAULT_PRICES, Account
from tests.fakes.server import LoopbackServer

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[FakeBinance, str]]:
    fake = FakeBinance()
    server = await LoopbackServer(fake.app).start()
    yield fake, server.url
    await server.stop()


@pytest.fixture
def fake(served: tuple[FakeBinance, str]) -> Iterator[FakeBinance]:
    served[0].faults.clear()
    yield served[0]
    served[0].faults.clear()
    for symbol, price in DEFAULT_PRICES.items():
        served[0].set_price(symbol, str(price))


@pytest.fixture
async def pool() -> AsyncIterator[HttpPool]:
    # A pool per test: each test measures the (possibly skewed) server clock afresh.
    pool = HttpPool(timeout=1.0)
    yield pool
    await pool.aclose()


def connect(pool: HttpPool, url: str, account: Account) -> BinanceConnector:
    return BinanceConnector(
        pool.endpoint(url), ApiCredentials(api_key=account.api_key, api_secret=account.api_secret)
    )


@pytest.fixture
def account(fake: FakeBinance) -> Account:
    return fake.add_account({"USDT": "10000", "BTC": "1"})


@pytest.fixture
def binance(pool: HttpPool, served: tuple[FakeBinance, str], account: Account) -> BinanceConnector:
    return connect(pool, served[1], account)


def cid() -> str:
    return "ab" + secrets.token_hex(10)


def order(**fields: object) -> OrderRequest:
    return OrderRequest(**{"symbol": "BTC/USDT", "client_order_id": cid(), **fields})


# -- signing ---------------------------------------------------------------------------


def test_official_signing_vectors() -> None:
    body = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    body += "&recvWindow=5000&timestamp=1499827319559"
    assert sign(DOC_SECRET, body) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    rest = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert sign(DOC_SECRET, query + rest) == (
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    )


# -- market data -----------------------------------------------------------------------


async def test_load_markets_reads_filters_and_skips_halted_pairs(
    binance: BinanceConnector,
) -> None:
    markets = await binance.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "ETH/BTC"}  # not LUNA/USDT
    btc = markets["BTC/USDT"]
    assert (btc.exchange_symbol, btc.base, btc.quote) == ("BTCUSDT", "BTC", "USDT")
    assert (btc.amount_step, btc.price_tick, btc.min_qty, btc.min_notional) == (
        D("0.00001"),
        D("0.01"),
        D("0.00001"),
        D(5),
    )
    # ETH/BTC carries the legacy MIN_NOTIONAL filter instead of NOTIONAL.
    assert markets["ETH/BTC"].min_notional == D("0.0001")


async def test_markets_are_cached_per_endpoint(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    await binance.load_markets()
    await binance.fetch_ticker("BTC/USDT")
    await binance.load_markets()
    assert len(fake.faults.requests("GET", "/api/v3/exchangeInfo")) == 1


async def test_tickers_batched_in_one_request(fake: FakeBinance, binance: BinanceConnector) -> None:
    fake.set_price("ETH/USDT", "2600.5")
    ticker = await binance.fetch_ticker("ETH/USDT")
    assert (ticker.symbol, ticker.price) == ("ETH/USDT", D("2600.5"))
    assert ticker.time.tzinfo is not None
    fake.faults.log.clear()
    tickers = await binance.fetch_tickers(["BTC/USDT", "ETH/USDT", "NOPE/USDT"])
    assert {s: t.price for s, t in tickers.items()} == {
        "BTC/USDT": D(50000),
        "ETH/USDT": D("2600.5"),
    }
    assert len(fake.faults.requests("GET", "/api/v3/ticker/price")) == 1
    assert await binance.fetch_tickers(["NOPE/USDT"]) == {}


async def test_candles_oldest_first_with_the_unclosed_last(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    for price in ("51000", "49000", "50500"):
        fake.set_price("BTC/USDT", price)
    candles = await binance.fetch_candles("BTC/USDT", "1m", limit=5)
    assert len(candles) == 5
    assert [c.open_time for c in candles] == sorted(c.open_time for c in candles)
    last = candles[-1]
    assert not last.closed and all(c.closed for c in candles[:-1])
    assert last.high >= D(51000) and last.low <= D(49000) and last.close == D(50500)

    since = datetime.now(UTC) - timedelta(hours=3)
    hourly = await binance.fetch_candles("BTC/USDT", "1h", since=since, limit=2)
    assert len(hourly) == 2 and hourly[0].open_time >= since
    assert hourly[1].open_time - hourly[0].open_time == timedelta(hours=1)

    with pytest.raises(InvalidOrder, match="interval"):
        await binance.fetch_candles("BTC/USDT", "7m")


async def test_candles_past_1000_rows_are_paged(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    candles = await binance.fetch_candles("BTC/USDT", "1m", limit=1500)
    assert len(candles) == 1500
    steps = {b.open_time - a.open_time for a, b in itertools.pairwise(candles)}
    assert steps == {timedelta(minutes=1)}
    assert len(fake.faults.requests("GET", "/api/v3/klines")) == 2


# -- account ---------------------------------------------------------------------------


async def test_balances_and_connection(fake: FakeBinance, binance: BinanceConnector) -> None:
    balances = await binance.fetch_balances()
    assert {a: (b.free, b.locked) for a, b in balances.items()} == {
        "USDT": (D(10000), D(0)),
        "BTC": (D(1), D(0)),
    }
    summary = await binance.test_connection()
    assert "trading enabled" in summary and "2 assets" in summary


# -- orders ----------------------------------------------------------------------------


async def test_market_buy_by_quote_and_sell_with_fees(
    fake: FakeBinance, binance: BinanceConnector, account: Account
) -> None:
    bought = await binance.create_order(order(side="buy", type="market", quote_amount=D("100")))
    assert (bought.status, bought.type, bought.filled_quantity, bought.average_price) == (
        "filled",
        "market",
        D("0.002"),
        D(50000),
    )
    assert (bought.fee, bought.fee_asset) == (D("0.000002"), "BTC")

    sold = await binance.create_order(order(side="sell", type="market", quantity=D("0.0012345")))
    # 0.0012345 rounds down to the 0.00001 step.
    assert (sold.status, sold.filled_quantity, sold.average_price) == (
        "filled",
        D("0.00123"),
        D(50000),
    )
    assert (sold.fee, sold.fee_asset) == (D("0.0615"), "USDT")
    balances = await binance.fetch_balances()
    assert balances["BTC"].free == D(1) + D("0.002") - D("0.000002") - D("0.00123")
    assert balances["USDT"].free == D(10000) - D(100) + D("61.5") - D("0.0615")


async def test_limit_order_rests_then_fills_with_fee_from_trades(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    request = order(side="buy", type="limit", quantity=D("0.01"), price=D("49000.019"))
    placed = await binance.create_order(request)
    assert (placed.status, placed.price, placed.quantity) == ("open", D("49000.01"), D("0.01"))
    assert placed.client_order_id == request.client_order_id
    assert (await binance.fetch_balances())["USDT"].locked == D("490.0001")

    open_orders = await binance.fetch_open_orders("BTC/USDT")
    assert [o.exchange_order_id for o in open_orders] == [placed.exchange_order_id]
    assert placed.exchange_order_id in {
        o.exchange_order_id for o in await binance.fetch_open_orders()
    }

    fake.set_price("BTC/USDT", "48900")
    filled = await binance.fetch_order("BTC/USDT", exchange_order_id=placed.exchange_order_id)
    assert (filled.status, filled.filled_quantity, filled.average_price) == (
        "filled",
        D("0.01"),
        D("49000.01"),
    )
    # GET /api/v3/order has no fills: the fee comes from myTrades.
    assert (filled.fee, filled.fee_asset) == (D("0.00001"), "BTC")
    assert await binance.fetch_open_orders("BTC/USDT") == []

    by_client_id = await binance.fetch_order("BTC/USDT", client_order_id=request.client_order_id)
    assert by_client_id.exchange_order_id == placed.exchange_order_id

    trades = await binance.fetch_trades("BTC/USDT")
    assert [
        (t.exchange_order_id, t.side, t.quantity, t.price, t.fee, t.fee_asset) for t in trades
    ] == [(placed.exchange_order_id, "buy", D("0.01"), D("49000.01"), D("0.00001"), "BTC")]


async def test_closed_orders_with_fees_in_one_trades_request(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    first = await binance.create_order(order(side="buy", type="market", quantity=D("0.001")))
    second = await binance.create_order(order(side="sell", type="market", quantity=D("0.002")))
    resting = await binance.create_order(
        order(side="buy", type="limit", quantity=D("0.001"), price=D(30000))
    )
    await binance.cancel_order("BTC/USDT", exchange_order_id=resting.exchange_order_id)
    fake.faults.log.clear()
    closed = await binance.fetch_closed_orders("BTC/USDT")
    assert [(o.exchange_order_id, o.status) for o in closed] == [
        (first.exchange_order_id, "filled"),
        (second.exchange_order_id, "filled"),
        (resting.exchange_order_id, "canceled"),
    ]
    assert [(o.fee, o.fee_asset) for o in closed] == [
        (D("0.000001"), "BTC"),
        (D("0.1"), "USDT"),
        (D(0), None),
    ]
    assert len(fake.faults.requests("GET", "/api/v3/myTrades")) == 1
    since = await binance.fetch_closed_orders(
        "BTC/USDT", since=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert since == []


async def test_stop_loss_market_and_take_profit_limit_trigger(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    stop = await binance.create_order(
        order(side="sell", type="stop_loss", quantity=D("0.1"), stop_price=D(48000))
    )
    take = await binance.create_order(
        order(
            side="sell", type="take_profit", quantity=D("0.1"), stop_price=D(52000), price=D(52000)
        )
    )
    assert (stop.type, stop.status, take.type, take.status) == (
        "stop_loss",
        "open",
        "take_profit",
        "open",
    )
    assert (stop.raw["type"], take.raw["type"]) == ("STOP_LOSS", "TAKE_PROFIT_LIMIT")

    fake.set_price("BTC/USDT", "52500")
    taken = await binance.fetch_order("BTC/USDT", exchange_order_id=take.exchange_order_id)
    assert (taken.status, taken.average_price, taken.fee, taken.fee_asset) == (
        "filled",
        D(52000),
        D("5.2"),
        "USDT",
    )
    fake.set_price("BTC/USDT", "47000")
    stopped = await binance.fetch_order("BTC/USDT", exchange_order_id=stop.exchange_order_id)
    assert (stopped.status, stopped.average_price) == ("filled", D(47000))

    with pytest.raises(InvalidOrder, match="Order would trigger immediately"):
        await binance.create_order(
            order(side="sell", type="stop_loss", quantity=D("0.1"), stop_price=D(48000))
        )


async def test_oco_one_leg_fills_the_other_is_canceled(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    request = OcoRequest(
        symbol="BTC/USDT",
        side="sell",
        quantity=D("0.5"),
        client_order_id=cid(),
        take_profit_price=D(55000),
        stop_price=D(45000),
        stop_limit_price=D(44900),
    )
    legs = await binance.create_oco(request)
    by_type = {leg.type: leg for leg in legs}
    assert set(by_type) == {"limit", "stop_loss"}
    assert by_type["limit"].client_order_id == f"{request.client_order_id}-tp"
    assert by_type["stop_loss"].client_order_id == f"{request.client_order_id}-sl"
    assert all(leg.status == "open" for leg in legs)
    # One reservation for both legs.
    assert (await binance.fetch_balances())["BTC"].locked == D("0.5")

    fake.set_price("BTC/USDT", "55000")
    take = await binance.fetch_order("BTC/USDT", client_order_id=f"{request.client_order_id}-tp")
    stop = await binance.fetch_order("BTC/USDT", client_order_id=f"{request.client_order_id}-sl")
    assert (take.status, take.average_price, stop.status) == ("filled", D(55000), "canceled")
    balances = await binance.fetch_balances()
    assert (balances["BTC"].free, balances["BTC"].locked) == (D("0.5"), D(0))
    assert balances["USDT"].free == D(10000) + D(27500) - D("27.5")


async def test_buy_oco_cancel_one_leg_cancels_both_then_stop_fills(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    def buy_oco() -> OcoRequest:
        return OcoRequest(
            symbol="BTC/USDT",
            side="buy",
            quantity=D("0.1"),
            client_order_id=cid(),
            take_profit_price=D(45000),
            stop_price=D(55000),
            stop_limit_price=D(55100),
        )

    first = buy_oco()
    await binance.create_oco(first)
    # A buy takes profit below the market, so the reservation is at that leg's price.
    assert (await binance.fetch_balances())["USDT"].locked == D(4500)
    await binance.cancel_order("BTC/USDT", client_order_id=f"{first.client_order_id}-tp")
    stop = await binance.fetch_order("BTC/USDT", client_order_id=f"{first.client_order_id}-sl")
    assert stop.status == "canceled"
    usdt = (await binance.fetch_balances())["USDT"]
    assert (usdt.free, usdt.locked) == (D(10000), D(0))

    second = buy_oco()
    await binance.create_oco(second)
    fake.set_price("BTC/USDT", "56000")  # triggers the stop; its 55100 limit is not reached
    fake.set_price("BTC/USDT", "55050")
    stop = await binance.fetch_order("BTC/USDT", client_order_id=f"{second.client_order_id}-sl")
    take = await binance.fetch_order("BTC/USDT", client_order_id=f"{second.client_order_id}-tp")
    assert (stop.status, stop.average_price, take.status) == ("filled", D(55100), "canceled")
    usdt = (await binance.fetch_balances())["USDT"]
    assert (usdt.free, usdt.locked) == (D(10000) - D(5510), D(0))


async def test_cancel_and_lookups_by_client_id(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    request = order(side="buy", type="limit", quantity=D("0.001"), price=D(40000))
    placed = await binance.create_order(request)
    found = await binance.fetch_order("BTC/USDT", client_order_id=request.client_order_id)
    assert (found.exchange_order_id, found.status) == (placed.exchange_order_id, "open")

    with pytest.raises(DuplicateOrder, match="Duplicate order sent"):
        await binance.create_order(request)

    canceled = await binance.cancel_order("BTC/USDT", client_order_id=request.client_order_id)
    assert (canceled.status, canceled.client_order_id) == ("canceled", request.client_order_id)
    assert (await binance.fetch_balances())["USDT"].locked == D(0)
    with pytest.raises(OrderNotFound, match="Unknown order sent"):
        await binance.cancel_order("BTC/USDT", exchange_order_id=placed.exchange_order_id)
    with pytest.raises(OrderNotFound, match="Order does not exist"):
        await binance.fetch_order("BTC/USDT", client_order_id=cid())


# -- errors ----------------------------------------------------------------------------


async def test_insufficient_funds_keeps_the_exchange_message(binance: BinanceConnector) -> None:
    with pytest.raises(InsufficientFunds) as caught:
        await binance.create_order(order(side="buy", type="market", quote_amount=D(20000)))
    assert "Account has insufficient balance for requested action." in str(caught.value)


async def test_bad_credentials(
    pool: HttpPool, served: tuple[FakeBinance, str], account: Account
) -> None:
    endpoint = pool.endpoint(served[1])
    unknown_key = BinanceConnector(endpoint, ApiCredentials("nobody", account.api_secret))
    with pytest.raises(AuthenticationFailed, match=r"^authentication failed: Invalid API-key"):
        await unknown_key.fetch_balances()
    wrong_secret = BinanceConnector(endpoint, ApiCredentials(account.api_key, "not-the-secret"))
    with pytest.raises(AuthenticationFailed, match=r"^authentication failed: Signature"):
        await wrong_secret.test_connection()


async def test_unknown_symbol(fake: FakeBinance, binance: BinanceConnector) -> None:
    with pytest.raises(UnknownSymbol):
        await binance.create_order(
            order(symbol="DOGE/USDT", side="buy", type="market", quantity=D(1))
        )
    with pytest.raises(UnknownSymbol):
        await binance.fetch_ticker("LUNA/USDT")
    assert fake.faults.requests("POST", "/api/v3/order") == []


async def test_below_minimums_rejected_before_sending(
    fake: FakeBinance, binance: BinanceConnector
) -> None:
    with pytest.raises(InvalidOrder, match="below the minimum"):
        await binance.create_order(order(side="buy", type="market", quantity=D("0.00002")))
    with pytest.raises(InvalidOrder, match="below the minimum"):
        await binance.create_order(order(side="buy", type="market", quote_amount=D("4.99")))
    with pytest.raises(InvalidOrder, match="below the minimum"):
        await binance.create_order(
            order(side="sell", type="limit", quantity=D("0.000001"), price=D(60000))
        )
    assert fake.faults.requests("POST", "/api/v3/order") == []


async def test_rate_limit_with_retry_after(fake: FakeBinance, binance: BinanceConnector) -> None:
    fake.faults.arm("rate_limit", "GET", "/api/v3/account", retry_after=2)
    with pytest.raises(RateLimited) as caught:
        await binance.fetch_balances()
    assert caught.value.retry_after == 2
    assert "Too much request weight used" in str(caught.value)


async def test_server_errors_are_unavailable(fake: FakeBinance, binance: BinanceConnector) -> None:
    fake.faults.arm("error_5xx", "GET", "/api/v3/account", status=503)
    with pytest.raises(ExchangeUnavailable):
        await binance.fetch_balances()
    # A 5xx on an order: it may have been executed, and it was.
    request = order(side="buy", type="market", quantity=D("0.001"))
    fake.faults.arm("accept_then_5xx", "POST", "/api/v3/order", status=502)
    with pytest.raises(ExchangeUnavailable, match="outcome is unknown"):
        await binance.create_order(request)
    found = await binance.fetch_order("BTC/USDT", client_order_id=request.client_order_id)
    assert found.status == "filled"


async def test_timeout_after_acceptance_then_adopted_by_client_id(
    fake: FakeBinance, binance: BinanceConnector, account: Account
) -> None:
    await binance.load_markets()
    request = order(side="buy", type="market", quantity=D("0.001"))
    fake.faults.arm("accept_then_timeout", "POST", "/api/v3/order", seconds=1.5)
    with pytest.raises(ExchangeUnavailable, match="outcome is unknown"):
        await binance.create_order(request)
    found = await binance.fetch_order("BTC/USDT", client_order_id=request.client_order_id)
    assert (found.status, found.filled_quantity) == ("filled", D("0.001"))
    assert (found.fee, found.fee_asset) == (D("0.000001"), "BTC")
    placed = [o for o in account.orders.values() if o.client_id == request.client_order_id]
    assert len(placed) == 1


# Past the 5 s recvWindow behind, past the 1 s tolerance ahead: never at the boundary.
@pytest.mark.parametrize("skew_ms", [7000, -5000])
async def test_clock_skew_is_measured_and_retried(
    fake: FakeBinance, binance: BinanceConnector, skew_ms: int
) -> None:
    await binance.fetch_balances()  # measures the offset while the clocks agree
    fake.faults.clock_skew_ms = skew_ms
    fake.faults.log.clear()
    assert "USDT" in await binance.fetch_balances()
    # Refused once (-1021), the clock re-measured, the request signed again.
    assert [r.status for r in fake.faults.requests("GET", "/api/v3/account")] == [400, 200]
    assert len(fake.faults.requests("GET", "/api/v3/time")) == 1
    placed = await binance.create_order(order(side="buy", type="market", quantity=D("0.001")))
    assert placed.status == "filled"


async def test_secrets_never_leak(
    fake: FakeBinance, pool: HttpPool, served: tuple[FakeBinance, str], account: Account
) -> None:
    binance = connect(pool, served[1], account)
    wrong = BinanceConnector(
        pool.endpoint(served[1]), ApiCredentials(account.api_key, "bad" + account.api_secret)
    )
    fake.faults.arm("rate_limit", "GET", "/api/v3/openOrders")
    fake.faults.arm("error_5xx", "GET", "/api/v3/allOrders")
    fake.faults.arm("accept_then_timeout", "POST", "/api/v3/order", seconds=1.5)
    attempts = [
        wrong.fetch_balances(),
        binance.fetch_open_orders(),
        binance.fetch_closed_orders("BTC/USDT"),
        binance.create_order(order(side="buy", type="market", quantity=D("0.001"))),
        binance.create_order(order(side="buy", type="market", quote_amount=D(999999))),
        binance.fetch_order("BTC/USDT", client_order_id=cid()),
    ]
    errors: list[ExchangeError] = []
    for attempt in attempts:
        with pytest.raises(ExchangeError) as caught:
            await attempt
        errors.append(caught.value)
    assert len({type(e) for e in errors}) == 5  # 5xx and timeout: both ExchangeUnavailable
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(e.raw) for e in errors]
    texts.append(repr(binance))
    for text in texts:
        assert account.api_secret not in text
        assert account.api_key not in text
        assert "signature=" not in text
    assert account.api_secret not in repr(binance._credentials)
