"""Stop-loss / take-profit of a long position: which prices make sense, and whether the
orders the exchange holds already match what the position wants."""

from decimal import Decimal

from pydantic import BaseModel

from trading.format import plain

PROTECTIVE_TYPES = ("stop_loss", "take_profit")


def has_protection(stop_loss: Decimal | None, take_profit: Decimal | None) -> bool:
    return stop_loss is not None or take_profit is not None


class Leg(BaseModel):
    """One protective order: a sell `stop_loss` below the market or `take_profit` above."""

    type: str
    stop_price: Decimal


class LiveLeg(Leg):
    order_id: int
    quantity: Decimal | None


def wanted_legs(stop_loss: Decimal | None, take_profit: Decimal | None) -> list[Leg]:
    legs = []
    if stop_loss is not None:
        legs.append(Leg(type="stop_loss", stop_price=stop_loss))
    if take_profit is not None:
        legs.append(Leg(type="take_profit", stop_price=take_profit))
    return legs


def price_problem(
    stop_loss: Decimal | None, take_profit: Decimal | None, market_price: Decimal | None
) -> str | None:
    """Why these prices cannot protect a long at `market_price` (None if they can): a stop
    at or above the market, or a target at or below it, would close the position at once."""
    for name, value in (("stop-loss", stop_loss), ("take-profit", take_profit)):
        if value is not None and value <= 0:
            return f"{name} {plain(value)} must be greater than 0"
    if stop_loss is not None and take_profit is not None and stop_loss >= take_profit:
        return f"stop-loss {plain(stop_loss)} must be below take-profit {plain(take_profit)}"
    if market_price is None:
        return None
    if stop_loss is not None and stop_loss >= market_price:
        return (
            f"stop-loss {plain(stop_loss)} is not below the market price"
            f" {plain(market_price)}: it would sell at once"
        )
    if take_profit is not None and take_profit <= market_price:
        return (
            f"take-profit {plain(take_profit)} is not above the market price"
            f" {plain(market_price)}: it would sell at once"
        )
    return None


def legs_match(live: list[LiveLeg], wanted: list[Leg], quantity: Decimal) -> bool:
    """The exchange already holds exactly the wanted orders, for the whole quantity.
    `wanted` prices are already rounded to the market's tick."""
    if len(live) != len(wanted):
        return False
    by_type = {leg.type: leg for leg in live}
    return all(
        (held := by_type.get(leg.type)) is not None
        and held.stop_price == leg.stop_price
        and held.quantity == quantity
        for leg in wanted
    )


def describe_legs(legs: list[Leg], quantity: Decimal, base: str) -> str:
    if not legs:
        return "no stop-loss or take-profit"
    parts = [f"{leg.type.replace('_', '-')} {plain(leg.stop_price)}" for leg in legs]
    return f"{' and '.join(parts)} for {plain(quantity)} {base}"
