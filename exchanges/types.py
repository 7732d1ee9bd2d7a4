"""Normalized exchange types. Decimal everywhere; the raw payload is kept for inspection."""

from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from exchanges.errors import InvalidOrder
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
    # The exchange's own name for the pair (BTCUSDT, XXBTZUSD); empty for the paper exchange.
    exchange_symbol: str = ""
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

    def check_notional(self, quantity: Decimal, price: Decimal) -> None:
        """Raises InvalidOrder for an order the exchange would refuse by its filters."""
        if quantity <= 0 or quantity < self.min_qty:
            raise InvalidOrder(
                f"order quantity {normalized(quantity)} {self.base} is below the minimum"
                f" {normalized(self.min_qty)} {self.base} for {self.symbol}"
            )
        notional = quantity * price
        if notional < self.min_notional:
            raise InvalidOrder(
                f"order value {normalized(notional.quantize(Decimal('0.00000001')))}"
                f" {self.quote} is below the minimum of {normalized(self.min_notional)}"
                f" {self.quote} for {self.symbol}"
            )


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
    # Limit price; for stop_loss/take_profit the limit price once triggered (None = market).
    price: Decimal | None = None
    # Trigger price of stop_loss/take_profit orders.
    stop_price: Decimal | None = None


class OcoRequest(BaseModel):
    """A take-profit limit and a stop-loss closing the same quantity; one cancels the other."""

    symbol: str
    side: Side
    quantity: Decimal
    client_order_id: str
    take_profit_price: Decimal
    stop_price: Decimal
    # Limit price once the stop triggers (None = a market stop).
    stop_limit_price: Decimal | None = None


class Candle(BaseModel):
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool = True


class Trade(BaseModel):
    """One fill of one of the account's orders."""

    trade_id: str
    exchange_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    time: datetime
    raw: dict[str, Any] = Field(default_factory=dict)


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
    # Native stop-loss / take-profit trigger orders (OrderRequest.type stop_loss/take_profit).
    stop_orders: bool = False
    # One-cancels-the-other take-profit + stop-loss pairs (create_oco).
    oco: bool = False
    # One request for many tickers.
    batched_tickers: bool = False
    # Fee rate charged in the quote asset on top of a buy's cost (Kraken): buying with the
    # whole balance must leave this much room or the exchange refuses the order.
    quote_fee_reserve: Decimal = Decimal(0)
