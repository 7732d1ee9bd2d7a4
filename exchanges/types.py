"""Normalized exchange types. Decimal everywhere; the raw payload is kept for inspection."""

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trading.format import normalized

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop_loss", "take_profit"]
OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "rejected"]


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of `step` (lot size or tick)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


class Market(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str  # unified, e.g. BTC/USDT
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)

    def round_quantity(self, quantity: Decimal) -> Decimal:
        return normalized(floor_to_step(quantity, self.amount_step))

    def round_price(self, price: Decimal, *, up: bool = False) -> Decimal:
        """To the tick: down for buys, up for sells (never worse than the user's price)."""
        rounded = floor_to_step(price, self.price_tick)
        if up and rounded < price:
            rounded += self.price_tick
        return normalized(rounded)


class Balance(BaseModel):
    asset: str
    free: Decimal
    locked: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Ticker(BaseModel):
    symbol: str
    price: Decimal
    time: datetime


class OrderRequest(BaseModel):
    symbol: str
    side: Side
    type: OrderType
    client_order_id: str
    quantity: Decimal | None = None
    # Market buys may be expressed as a quote amount (Binance quoteOrderQty, Bitget size).
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None


class ExchangeOrder(BaseModel):
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    quantity: Decimal | None = None
    filled_quantity: Decimal = Decimal(0)
    price: Decimal | None = None
    average_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    created_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class Capabilities(BaseModel):
    """What an exchange can do beyond the Protocol's common ground."""

    market_buy_by_quote: bool = False
