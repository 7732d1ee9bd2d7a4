"""Position accounting for spot longs.

- A buy adds the base quantity actually received (fees in base are deducted) and its quote
  cost (fees in quote are added) to the cost basis; the entry price is the average fill
  price.
- A sell releases the sold share of the cost basis; realized P&L is the proceeds (after fee)
  minus that share. Unrealized P&L is quantity x price minus the remaining cost basis.
"""

from decimal import Decimal

from pydantic import BaseModel


class Fill(BaseModel):
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    # The market's quote asset, to tell a quote fee from a third-asset fee (None: any fee
    # not in base is in quote).
    quote: str | None = None


class PositionState(BaseModel):
    quantity: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    cost_basis: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fees_paid: Decimal = Decimal(0)
    # Gross quantity bought, the weight of the average entry price.
    bought_quantity: Decimal = Decimal(0)


def fee_in_quote(fill: Fill, base: str) -> Decimal:
    """The fee in quote currency. A fee paid in a third asset (e.g. BNB on Binance) has no
    price here and counts as 0 until the connectors convert it."""
    if fill.fee_asset == base:
        return fill.fee * fill.price
    if fill.quote is None or fill.fee_asset in (None, fill.quote):
        return fill.fee
    return Decimal(0)


def apply_buy(state: PositionState, fill: Fill, base: str) -> PositionState:
    received = fill.quantity - (fill.fee if fill.fee_asset == base else 0)
    cost = fill.quantity * fill.price + (0 if fill.fee_asset == base else fee_in_quote(fill, base))
    bought = state.bought_quantity + fill.quantity
    entry = (state.entry_price * state.bought_quantity + fill.price * fill.quantity) / bought
    return state.model_copy(
        update={
            "quantity": state.quantity + received,
            "cost_basis": state.cost_basis + cost,
            "entry_price": entry,
            "bought_quantity": bought,
            "fees_paid": state.fees_paid + fee_in_quote(fill, base),
        }
    )


def apply_sell(state: PositionState, fill: Fill, base: str) -> tuple[PositionState, Decimal]:
    """Returns the new state and the P&L this sell realized."""
    if state.quantity <= 0:
        return state, Decimal(0)
    sold = min(fill.quantity, state.quantity)
    share = sold / fill.quantity  # the part of this fill that belongs to the position
    fee = fee_in_quote(fill, base) * share
    proceeds = sold * fill.price - fee
    released = state.cost_basis * sold / state.quantity
    realized = proceeds - released
    remaining = state.quantity - sold
    return (
        state.model_copy(
            update={
                "quantity": remaining,
                "cost_basis": state.cost_basis - released,
                "realized_pnl": state.realized_pnl + realized,
                "fees_paid": state.fees_paid + fee,
            }
        ),
        realized,
    )


def unrealized_pnl(state: PositionState, price: Decimal) -> Decimal:
    return state.quantity * price - state.cost_basis
