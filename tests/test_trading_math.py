"""Sizing and position accounting against hand-computed cases."""

from decimal import Decimal as D

import pytest

from exchanges.catalog import PAPER_MARKETS
from trading.positions import Fill, PositionState, apply_buy, apply_sell, unrealized_pnl
from trading.sizing import SizingError, size_buy, size_sell

BTC = PAPER_MARKETS["BTC/USDT"]  # step 0.00001, tick 0.01, min notional 5
DOGE = PAPER_MARKETS["DOGE/USDT"]  # step 1


def test_buy_size_rounds_down_to_the_lot_step() -> None:
    # 1000 USDT x 33 % = 330 USDT; 330 / 50000 = 0.0066 exactly
    assert size_buy(BTC, D(1000), D(33), D(50000), by_quote_amount=False).quantity == D("0.0066")
    # 1000 x 33.3 % = 333 USDT; 333 / 50000 = 0.00666 -> 0.00666 (on the step)
    # 1000 x 33.33 % = 333.3 / 50000 = 0.006666 -> 0.00666 (down, never up)
    assert size_buy(BTC, D(1000), D("33.33"), D(50000), by_quote_amount=False).quantity == D(
        "0.00666"
    )
    # DOGE step 1: 100 USDT / 0.3 = 333.33 -> 333
    assert size_buy(DOGE, D(100), D(100), D("0.3"), by_quote_amount=False).quantity == D(333)


def test_market_buy_by_quote_amount_keeps_the_exact_spend() -> None:
    size = size_buy(BTC, D("1234.5678"), D(50), D(50000), by_quote_amount=True)
    assert size.quote_amount == D("617.2839")
    assert size.quantity == D("0.01234")


def test_sell_size_is_a_share_of_the_held_base() -> None:
    assert size_sell(BTC, D("0.0099"), D(50), D(50000)).quantity == D("0.00495")
    assert size_sell(BTC, D("0.00999"), D(100), D(50000)).quantity == D("0.00999")
    assert size_sell(BTC, D("0.012345678"), D(100), D(50000)).quantity == D("0.01234")


@pytest.mark.parametrize(
    ("quote", "percent", "message"),
    [
        (D(0), D(100), "no USDT available"),
        (D(4), D(100), "below the minimum of 5 USDT"),
        (D(100), D(1), "below the minimum of 5 USDT"),
    ],
)
def test_buy_below_minimums(quote: D, percent: D, message: str) -> None:
    with pytest.raises(SizingError, match=message):
        size_buy(BTC, quote, percent, D(50000), by_quote_amount=True)


def test_sell_with_nothing_held() -> None:
    with pytest.raises(SizingError, match="no BTC held"):
        size_sell(BTC, D(0), D(100), D(50000))


def test_round_trip_with_fees_in_base_then_quote() -> None:
    # Buy 0.1 BTC at 50,000, fee 0.1 % in BTC: 0.0001 BTC. Holds 0.0999 BTC, cost 5,000 USDT.
    state = apply_buy(
        PositionState(),
        Fill(side="buy", quantity=D("0.1"), price=D(50000), fee=D("0.0001"), fee_asset="BTC"),
        "BTC",
    )
    assert state.quantity == D("0.0999")
    assert state.cost_basis == D(5000)
    assert state.entry_price == D(50000)
    assert state.fees_paid == D(5)  # 0.0001 BTC at 50,000
    # At 55,000 the holding is worth 5,494.5: unrealized 494.5
    assert unrealized_pnl(state, D(55000)) == D("494.5")
    # Sell everything at 55,000, fee 0.1 % of 5,494.5 = 5.4945 USDT.
    state, realized = apply_sell(
        state,
        Fill(side="sell", quantity=D("0.0999"), price=D(55000), fee=D("5.4945"), fee_asset="USDT"),
        "BTC",
    )
    # 5,494.5 - 5.4945 - 5,000 = 489.0055 (= 500 gross - 5.5 buy fee at exit price - 5.4945)
    assert realized == D("489.0055")
    assert state.quantity == 0 and state.cost_basis == 0
    assert state.realized_pnl == D("489.0055")


def test_partial_sells_release_cost_pro_rata() -> None:
    state = PositionState()
    for qty, price in ((D(1), D(100)), (D(3), D(200))):  # fee-free buys: avg entry 175
        state = apply_buy(state, Fill(side="buy", quantity=qty, price=price), "SOL")
    assert state.entry_price == D(175) and state.cost_basis == D(700)
    # Sell a quarter at 150 with a 0.15 USDT fee: proceeds 149.85, releases 175 -> -25.15
    state, realized = apply_sell(
        state,
        Fill(side="sell", quantity=D(1), price=D(150), fee=D("0.15"), fee_asset="USDT"),
        "SOL",
    )
    assert realized == D("-25.15")
    assert state.quantity == D(3) and state.cost_basis == D(525)
    # The rest at 250, fee-free: 750 - 525 = 225; total realized 199.85
    state, realized = apply_sell(state, Fill(side="sell", quantity=D(3), price=D(250)), "SOL")
    assert realized == D(225)
    assert state.realized_pnl == D("199.85")


def test_selling_more_than_the_position_realizes_only_the_position() -> None:
    state = apply_buy(PositionState(), Fill(side="buy", quantity=D(1), price=D(10)), "X")
    # 2 sold at 12 with 0.024 fee: half the fill (and half the fee) belongs to the position
    state, realized = apply_sell(
        state,
        Fill(side="sell", quantity=D(2), price=D(12), fee=D("0.024"), fee_asset="USDT"),
        "X",
    )
    assert realized == D("1.988")  # 12 - 0.012 - 10
    assert state.quantity == 0


def test_a_fee_in_a_third_asset_is_not_counted_as_quote() -> None:
    fill = Fill(
        side="buy", quantity=D(1), price=D(100), fee=D("0.01"), fee_asset="BNB", quote="USDT"
    )
    state = apply_buy(PositionState(), fill, "SOL")
    assert (state.quantity, state.cost_basis, state.fees_paid) == (D(1), D(100), D(0))
