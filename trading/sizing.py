"""How much to buy or sell for a signal: a share of the balance, rounded down to the lot."""

from decimal import ROUND_DOWN, Decimal

from pydantic import BaseModel

from exchanges.errors import InvalidOrder
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
    # The limit price to send, rounded to the tick (None for market orders).
    limit_price: Decimal | None = None


def _checked_price(market: Market, price: Decimal, *, up: bool = False) -> Decimal:
    rounded = market.round_price(price, up=up)
    if rounded <= 0:
        raise SizingError(
            f"price {price} is below the price step {market.price_tick} of {market.symbol}"
        )
    return rounded


def _share(amount: Decimal, percent: Decimal) -> Decimal:
    return amount * percent / Decimal(100)


def check_minimums(market: Market, quantity: Decimal, price: Decimal) -> None:
    try:
        market.check_notional(quantity, price)
    except InvalidOrder as error:
        raise SizingError(error.message) from None


def size_buy(
    market: Market,
    quote_free: Decimal,
    percent: Decimal,
    price: Decimal,
    *,
    by_quote_amount: bool = False,
    limit: bool = False,
    quote_fee_reserve: Decimal = Decimal(0),
) -> OrderSize:
    """`price` is the limit price of a limit order, else the last market price."""
    price = _checked_price(market, price)
    if quote_free <= 0:
        raise SizingError(f"no {market.quote} available to buy {market.base}")
    # Where the fee is added on top in quote, cost + fee must fit in the balance.
    spend = min(_share(quote_free, percent), quote_free / (1 + quote_fee_reserve))
    quantity = floor_to_step(spend / price, market.amount_step)
    check_minimums(market, quantity, price)
    quote_amount = None
    if by_quote_amount:
        # Rounded down to 8 places so the exchange never sees more than we have.
        quote_amount = spend.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    return OrderSize(
        quantity=normalized(quantity),
        quote_amount=quote_amount,
        reference_price=price,
        limit_price=price if limit else None,
    )


def size_sell(
    market: Market, base_free: Decimal, percent: Decimal, price: Decimal, *, limit: bool = False
) -> OrderSize:
    price = _checked_price(market, price, up=limit)
    if base_free <= 0:
        raise SizingError(f"no {market.base} held to sell")
    quantity = floor_to_step(_share(base_free, percent), market.amount_step)
    check_minimums(market, quantity, price)
    return OrderSize(
        quantity=normalized(quantity),
        reference_price=price,
        limit_price=price if limit else None,
    )


def size_given(
    market: Market,
    price: Decimal,
    *,
    quantity: Decimal | None = None,
    quote_amount: Decimal | None = None,
    buy: bool,
    limit: bool = False,
    by_quote_amount: bool = False,
) -> OrderSize:
    """An amount chosen by the user (dashboard, strategy): a base quantity, or a quote amount
    converted at `price` (sent as is for market buys where the exchange takes it)."""
    price = _checked_price(market, price, up=limit and not buy)
    if quantity is None:
        if quote_amount is None or quote_amount <= 0:
            raise SizingError("give a quantity or a quote amount greater than 0")
        quantity = quote_amount / price
    quantity = floor_to_step(quantity, market.amount_step)
    check_minimums(market, quantity, price)
    send_quote = None
    if quote_amount is not None and buy and not limit and by_quote_amount:
        send_quote = quote_amount.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    return OrderSize(
        quantity=normalized(quantity),
        quote_amount=send_quote,
        reference_price=price,
        limit_price=price if limit else None,
    )
