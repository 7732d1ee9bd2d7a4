"""The paper exchange: fills, fees, slippage, filters, resting limits, persistence."""

import asyncio
import secrets
from decimal import Decimal as D

import pytest

from exchanges.errors import (
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    UnknownSymbol,
)
from exchanges.paper import PaperExchange
from exchanges.types import OrderRequest
from tests.conftest import insert_paper_broker
from tests.fakes.binance_market import MarketState
from workers.stack import Stack


async def new_account(
    stack: Stack, balances: dict[str, str], fee: str = "0.001", slippage: str = "0"
) -> PaperExchange:
    broker_id = await insert_paper_broker(stack, balances)
    assert stack.runtime is not None
    runtime = stack.runtime
    return PaperExchange(broker_id, runtime.sessions, runtime.prices, D(fee), D(slippage))


def order(**fields: object) -> OrderRequest:
    defaults: dict[str, object] = {"client_order_id": secrets.token_hex(8)}
    return OrderRequest(**{**defaults, **fields})


async def free(paper: PaperExchange) -> dict[str, D]:
    return {a: b.free for a, b in (await paper.fetch_balances()).items()}


async def test_market_buy_with_slippage_and_fee(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("BNBUSDT", "600")
    paper = await new_account(stack, {"USDT": "1000"}, slippage="0.01")
    filled = await paper.create_order(
        order(symbol="BNB/USDT", side="buy", type="market", quantity=D("1.2345"))
    )
    # quantity floored to the 0.001 step; price 600 x 1.01 = 606
    assert (filled.status, filled.filled_quantity, filled.average_price) == (
        "filled",
        D("1.234"),
        D(606),
    )
    assert (filled.fee, filled.fee_asset) == (D("0.001234"), "BNB")
    assert await free(paper) == {"USDT": D(1000) - D("1.234") * 606, "BNB": D("1.232766")}


async def test_quote_amount_buy_never_spends_more_than_asked(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("BTCUSDT", "43210.99")
    paper = await new_account(stack, {"USDT": "100"})
    filled = await paper.create_order(
        order(symbol="BTC/USDT", side="buy", type="market", quote_amount=D(100))
    )
    assert filled.filled_quantity == D("0.00231")  # 100 / 43210.99 = 0.0023142 -> 0.00231
    spent = D(100) - (await free(paper))["USDT"]
    assert spent == D("0.00231") * D("43210.99") <= 100


async def test_filters_and_unknown_symbols(stack: Stack, market: tuple[MarketState, str]) -> None:
    market[0].set_price("BTCUSDT", "50000")
    paper = await new_account(stack, {"USDT": "1000"})
    with pytest.raises(InvalidOrder, match="NOTIONAL"):
        await paper.create_order(
            order(symbol="BTC/USDT", side="buy", type="market", quantity=D("0.00005"))
        )
    with pytest.raises(InvalidOrder, match="LOT_SIZE"):
        await paper.create_order(
            order(symbol="BTC/USDT", side="buy", type="market", quantity=D("0.000001"))
        )
    with pytest.raises(UnknownSymbol, match="unknown symbol"):
        await paper.create_order(
            order(symbol="NOPE/USDT", side="buy", type="market", quantity=D(1))
        )
    with pytest.raises(InsufficientFunds, match="insufficient balance"):
        await paper.create_order(order(symbol="BTC/USDT", side="buy", type="market", quantity=D(1)))
    with pytest.raises(InsufficientFunds):
        await paper.create_order(
            order(symbol="BTC/USDT", side="sell", type="market", quantity=D("0.001"))
        )
    assert await free(paper) == {"USDT": D(1000)}  # nothing moved


async def test_limit_rests_until_the_market_crosses(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"USDT": "1000"})
    resting = await paper.create_order(
        order(symbol="ETH/USDT", side="buy", type="limit", quantity=D("0.2"), price=D("2400.005"))
    )
    assert resting.status == "open" and resting.price == D("2400")  # floored to the tick
    balances = await paper.fetch_balances()
    assert (balances["USDT"].free, balances["USDT"].locked) == (D(520), D(480))
    # The price dips through 2400 and comes back: the order filled on the way.
    await asyncio.sleep(0.01)
    state.set_price("ETHUSDT", "2399")
    state.set_price("ETHUSDT", "2550")
    fetched = await paper.fetch_order("ETH/USDT", exchange_order_id=resting.exchange_order_id)
    assert (fetched.status, fetched.average_price) == ("filled", D(2400))
    assert await free(paper) == {"USDT": D(520), "ETH": D("0.1998")}
    assert await paper.fetch_open_orders() == []


async def test_cancel_releases_the_locked_funds(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("SOLUSDT", "150")
    paper = await new_account(stack, {"SOL": "10"})
    resting = await paper.create_order(
        order(symbol="SOL/USDT", side="sell", type="limit", quantity=D(4), price=D(500))
    )
    assert (await paper.fetch_balances())["SOL"].locked == D(4)
    assert [o.client_order_id for o in await paper.fetch_open_orders("SOL/USDT")] == [
        resting.client_order_id
    ]
    canceled = await paper.cancel_order("SOL/USDT", client_order_id=resting.client_order_id)
    assert canceled.status == "canceled"
    assert await free(paper) == {"SOL": D(10)}
    with pytest.raises(InvalidOrder, match="already canceled"):
        await paper.cancel_order("SOL/USDT", exchange_order_id=resting.exchange_order_id)
    with pytest.raises(OrderNotFound):
        await paper.cancel_order("SOL/USDT", client_order_id="missing")


async def test_client_ids_are_unique_and_state_persists(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("XRPUSDT", "0.5")
    paper = await new_account(stack, {"USDT": "100"})
    request = order(symbol="XRP/USDT", side="buy", type="market", quantity=D(20))
    placed = await paper.create_order(request)
    with pytest.raises(DuplicateOrder):
        await paper.create_order(request)
    # A new connector (a restarted worker) sees the same account and order.
    assert stack.runtime is not None
    again = PaperExchange(paper.broker_id, stack.runtime.sessions, stack.runtime.prices)
    found = await again.fetch_order("XRP/USDT", client_order_id=request.client_order_id)
    assert found.exchange_order_id == placed.exchange_order_id
    assert (await again.fetch_balances())["XRP"].free == D("19.98")
    with pytest.raises(OrderNotFound):
        await again.fetch_order("XRP/USDT", client_order_id="never-placed")


# -- stop-loss / take-profit -------------------------------------------------------------


def trigger(
    kind: str, side: str, quantity: str, stop: str, price: str | None = None
) -> OrderRequest:
    return order(
        symbol="ETH/USDT",
        side=side,
        type=kind,
        quantity=D(quantity),
        stop_price=D(stop),
        price=D(price) if price else None,
    )


async def locked(paper: PaperExchange) -> dict[str, D]:
    return {a: b.locked for a, b in (await paper.fetch_balances()).items() if b.locked}


async def test_stop_loss_waits_unreserved_then_fills_after_the_price_falls(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "1"}, slippage="0.01")
    # A stop-loss and a take-profit for the whole position: neither holds the ETH.
    stop = await paper.create_order(trigger("stop_loss", "sell", "1", "2400"))
    target = await paper.create_order(trigger("take_profit", "sell", "1", "2800"))
    assert (stop.status, stop.type, stop.price, stop.raw["stop_price"]) == (
        "open",
        "stop_loss",
        None,
        "2400",
    )
    assert await locked(paper) == {} and await free(paper) == {"ETH": D(1)}
    assert {(o.type, o.status) for o in await paper.fetch_open_orders("ETH/USDT")} == {
        ("stop_loss", "open"),
        ("take_profit", "open"),
    }
    state.set_price("ETHUSDT", "2450")  # not there yet
    assert (await paper.fetch_order("ETH/USDT", client_order_id=stop.client_order_id)).status == (
        "open"
    )
    state.set_price("ETHUSDT", "2350")
    filled = await paper.fetch_order("ETH/USDT", exchange_order_id=stop.exchange_order_id)
    # Triggered at the stop, filled as a market sell: 2400 - 1 % slippage, fee in USDT.
    assert (filled.status, filled.filled_quantity, filled.average_price) == (
        "filled",
        D(1),
        D(2376),
    )
    assert (filled.fee, filled.fee_asset) == (D("2.376"), "USDT")
    assert await free(paper) == {"USDT": D("2373.624")}
    # The take-profit is still open: the exchange does not know they belong together.
    assert [o.client_order_id for o in await paper.fetch_open_orders()] == [target.client_order_id]


async def test_take_profit_fills_after_the_price_rises(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "2"})
    target = await paper.create_order(trigger("take_profit", "sell", "2", "2700"))
    state.set_price("ETHUSDT", "2650")
    assert (await paper.fetch_order("ETH/USDT", client_order_id=target.client_order_id)).status == (
        "open"
    )
    state.set_price("ETHUSDT", "2720")
    filled = await paper.fetch_order("ETH/USDT", client_order_id=target.client_order_id)
    assert (filled.status, filled.type, filled.average_price) == ("filled", "take_profit", D(2700))
    assert await free(paper) == {"USDT": D(5400) - D("5.4")}


async def test_triggered_stop_limit_rests_as_a_limit(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    """A buy stop-loss (a short's protection) triggers on the way up, then waits at its limit."""
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"USDT": "1000"})
    stop = await paper.create_order(trigger("stop_loss", "buy", "0.2", "2600", price="2590"))
    assert (stop.price, stop.raw["stop_price"]) == (D(2590), "2600")
    assert await locked(paper) == {}
    state.set_price("ETHUSDT", "2610")
    resting = await paper.fetch_order("ETH/USDT", client_order_id=stop.client_order_id)
    assert resting.status == "open" and resting.raw["triggered_at"] is not None
    assert await locked(paper) == {"USDT": D(518)}  # now on the book: 0.2 x 2590
    state.set_price("ETHUSDT", "2580")
    filled = await paper.fetch_order("ETH/USDT", client_order_id=stop.client_order_id)
    assert (filled.status, filled.average_price) == ("filled", D(2590))
    assert await free(paper) == {"USDT": D(482), "ETH": D("0.1998")}


async def test_cancel_a_waiting_stop_releases_nothing(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "1", "USDT": "100"})
    stop = await paper.create_order(trigger("stop_loss", "sell", "1", "2400"))
    canceled = await paper.cancel_order("ETH/USDT", client_order_id=stop.client_order_id)
    assert (canceled.status, canceled.type) == ("canceled", "stop_loss")
    assert await free(paper) == {"ETH": D(1), "USDT": D(100)} and await locked(paper) == {}
    with pytest.raises(InvalidOrder, match="already canceled"):
        await paper.cancel_order("ETH/USDT", exchange_order_id=stop.exchange_order_id)
    state.set_price("ETHUSDT", "2300")  # a canceled stop never triggers
    assert await paper.fetch_open_orders() == []
    assert await free(paper) == {"ETH": D(1), "USDT": D(100)}


async def test_a_stop_the_balance_no_longer_covers_is_rejected(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "1"})
    with pytest.raises(InsufficientFunds, match="insufficient balance"):  # checked when placed
        await paper.create_order(trigger("stop_loss", "sell", "1.5", "2400"))
    stop = await paper.create_order(trigger("stop_loss", "sell", "1", "2400"))
    # Half the ETH is sold while the stop waits (it held nothing).
    await paper.create_order(
        order(symbol="ETH/USDT", side="sell", type="market", quantity=D("0.5"))
    )
    state.set_price("ETHUSDT", "2300")
    rejected = await paper.fetch_order("ETH/USDT", client_order_id=stop.client_order_id)
    assert rejected.status == "rejected" and rejected.filled_quantity == 0
    assert "insufficient balance when triggered at 2400" in rejected.raw["reject_reason"]
    assert (await free(paper))["ETH"] == D("0.5")  # never negative
    assert await paper.fetch_open_orders() == []


async def test_a_move_before_placement_does_not_trigger(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    state.set_price("ETHUSDT", "2300")  # dips below the stop, before the order exists
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "1"})
    stop = await paper.create_order(trigger("stop_loss", "sell", "1", "2400"))
    await asyncio.sleep(0.01)
    assert (await paper.fetch_order("ETH/USDT", client_order_id=stop.client_order_id)).status == (
        "open"
    )
    assert await free(paper) == {"ETH": D(1)}


async def test_a_stop_already_reached_triggers_when_placed(
    stack: Stack, market: tuple[MarketState, str]
) -> None:
    state, _ = market
    state.set_price("ETHUSDT", "2500")
    paper = await new_account(stack, {"ETH": "1"})
    # A sell stop above the market: it is reached already, so it sells at the market now.
    placed = await paper.create_order(trigger("stop_loss", "sell", "1", "2600"))
    assert (placed.status, placed.average_price) == ("filled", D(2500))
    assert await free(paper) == {"USDT": D("2497.5")}
