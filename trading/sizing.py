"""How much to buy or sell for a signal: a share of the balance, rounded down to the lot."""

from decimal import ROUND_DOWN, Decimal

from pydantic import BaseModel

from exchanges.types import Market, floor_to_step
from trading.format import normalized


class SizingError(ValueError):
    """The order cannot be sized (nothing to spend, below the exchange minimum)."""


class OrderSize(BaseModel):
    quantity: Decimal
    # Set for market buys on exchanges that take a quote amount: the exchange then computes
    # the quantity from its own fill price, so slippage cannot make the order unaffordable.
    quote_amount: Decimal | None = None
    reference_price: Decimal


def _share(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * percent / Decimal(100)


def check_minimums(market: Market, quantity: Decimal, price: Decimal) -> None:
    if quantity <= 0 or quantity < market.min_qty:
        raise SizingError(
            f"order quantity {quantity} {market.base} is below the minimum {market.min_qty}"
            f" {market.base} for {market.symbol}"
        )
    notional = quantity * price
    if notional < market.min_notional:
        raise SizingError(
            f"order value {notional.quantize(Decimal('0.00000001'))} {market.quote} is below the"
            f" minimum of {market.min_notional} {market.quote} for {market.symbol}"
        )


def size_buy(
    market: Market,
    quote_free: Decimal,
    percent: Decimal,
    price: Decimal,
    *,
    by_quote_amount: bool,
) -> OrderSize:
    price = market.round_price(price)
    if quote_free <= 0:
        raise SizingError(f"no {market.quote} available to buy {market.base}")
    spend = _share(quote_free, percent)
    quantity = floor_to_step(spend / price, market.amount_step)
    check_minimums(market, quantity, price)
    quote_amount = None
    if by_quote_amount:
        # Whole cents of quote (or the quote's tick) so the exchange never sees more than we have.
        quote_amount = spend.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    return OrderSize(
        quantity=normalized(quantity),
        quote_amount=quote_amount,
        reference_price=price,
    )


def size_sell(market: Market, base_free: Decimal, percent: Decimal, price: Decimal) -> OrderSize:
    price = market.round_price(price)
    if base_free <= 0:
        raise SizingError(f"no {market.base} held to sell")
    quantity = floor_to_step(_share(base_free, percent), market.amount_step)
    check_minimums(market, quantity, price)
    return OrderSize(quantity=normalized(quantity), reference_price=price)
