"""A manual order checked before it is sent: the market's rules from the broker's catalog,
the last price and the free balances from the broker's exchange, and the order rounded
and sized exactly as the order path will (trading.sizing.size_given).

Estimated fee: the notional times the broker's fee rate: the paper broker's own rate, else
the exchange's standard spot taker rate at the lowest volume tier (Binance 0.1 %, Bitget
0.1 %, Kraken 0.4 %); discounts (BNB, VIP tiers, maker rebates) are not known here."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from fastapi import HTTPException, status
from pydantic import BaseModel, Field, field_validator, model_validator

from db.models import Broker
from exchanges.errors import ExchangeError, UnknownSymbol
from exchanges.protocol import ExchangeConnector
from exchanges.symbols import SymbolError, normalize_symbol
from exchanges.types import Balance, Market
from trading.catalog import as_market, catalog_size, find_market
from trading.format import normalized, plain
from trading.sizing import OrderSize, SizingError, size_given
from workers.runtime import Runtime

FEE_RATES = {"binance": Decimal("0.001"), "bitget": Decimal("0.001"), "kraken": Decimal("0.004")}
# Within the Money columns (NUMERIC(38, 18)).
Amount = Field(default=None, gt=0, lt=Decimal(10) ** 20, decimal_places=18)


class OrderBody(BaseModel):
    """A manual order as the dashboard or an API client sends it: a base `quantity` or a
    `quote_amount` (exactly one), and a `price` for limit orders."""

    broker_id: int
    symbol: str = Field(max_length=40, examples=["BTC/USDT"])
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: Decimal | None = Amount
    quote_amount: Decimal | None = Amount
    price: Decimal | None = Amount

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        try:
            return normalize_symbol(value)
        except SymbolError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _amounts(self) -> "OrderBody":
        if (self.quantity is None) == (self.quote_amount is None):
            raise ValueError("give either a quantity or a quote_amount (one of them)")
        if self.type == "limit" and self.price is None:
            raise ValueError("a limit order needs a price")
        if self.type == "market" and self.price is not None:
            raise ValueError("a market order takes no price: it fills at the market")
        return self


class MarketInfo(BaseModel):
    """What the order form needs: the market's rules, its last price and the free
    balances of both assets."""

    broker_id: int
    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_qty: Decimal
    min_notional: Decimal
    price: Decimal
    base_free: Decimal
    base_locked: Decimal
    quote_free: Decimal
    fee_rate: Decimal
    market_buy_by_quote: bool
    # Share of a buy's cost the exchange adds as a fee in quote (Kraken), else 0.
    quote_fee_reserve: Decimal

    def market(self) -> Market:
        rules = ("base", "quote", "amount_step", "price_tick", "min_qty", "min_notional")
        return Market(symbol=self.symbol, **{name: getattr(self, name) for name in rules})


class Preview(BaseModel):
    symbol: str
    side: str
    type: str
    base: str
    quote: str
    quantity: Decimal
    quote_amount: Decimal
    # The limit price (rounded to the tick in the user's favour); None for market orders.
    price: Decimal | None
    # The exchange's last price: what a market order is estimated at.
    reference_price: Decimal
    notional: Decimal
    estimated_fee: Decimal
    fee_rate: Decimal
    base_free: Decimal
    quote_free: Decimal
    min_qty: Decimal
    min_notional: Decimal
    warnings: list[str]
    confirmation: str = ""
    expires_at: datetime | None = None
    # How long the confirmation is valid: the dashboard counts down from its own clock.
    valid_seconds: int = 0


def refused(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def fee_rate(broker: Broker) -> Decimal:
    return broker.paper_fee_rate if broker.exchange == "paper" else FEE_RATES[broker.exchange]


async def broker_market(runtime: Runtime, broker: Broker, symbol: str) -> Market:
    """As the order path finds it: the broker's catalog, the paper exchange's built-in list,
    or the exchange's list for a broker never synced."""
    market, known = None, 0
    if broker.exchange != "paper":
        async with runtime.sessions() as session:
            row = await find_market(session, broker.id, symbol)
            known = await catalog_size(session, broker.id) if row is None else 1
        if row is not None and not row.active:
            raise refused(f"{symbol} was delisted from {broker.exchange} (last symbol sync)")
        if row is not None:
            return as_market(row)
    if broker.exchange == "paper" or known == 0:
        try:
            market = (await runtime.connectors.connector(broker).load_markets()).get(symbol)
        except ExchangeError as exc:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from exc
    if market is None:
        raise refused(
            f"{symbol} is not traded on {broker.exchange} (broker '{broker.name}'): check the"
            " symbol, or sync the broker's symbols if it was listed recently"
        )
    return market


async def market_info(runtime: Runtime, broker: Broker, symbol: str) -> MarketInfo:
    try:
        market = await broker_market(runtime, broker, symbol)
        connector = runtime.connectors.connector(broker)
        price, balances = await _price_and_balances(connector, symbol)
    except UnknownSymbol as exc:
        raise refused(exc.message) from exc
    except ExchangeError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from exc
    base, quote = balances.get(market.base), balances.get(market.quote)
    return MarketInfo(
        broker_id=broker.id,
        symbol=market.symbol,
        base=market.base,
        quote=market.quote,
        amount_step=normalized(market.amount_step),
        price_tick=normalized(market.price_tick),
        min_qty=normalized(market.min_qty),
        min_notional=normalized(market.min_notional),
        price=price,
        base_free=base.free if base else Decimal(0),
        base_locked=base.locked if base else Decimal(0),
        quote_free=quote.free if quote else Decimal(0),
        fee_rate=fee_rate(broker),
        market_buy_by_quote=connector.capabilities.market_buy_by_quote,
        quote_fee_reserve=connector.capabilities.quote_fee_reserve,
    )


async def _price_and_balances(
    connector: ExchangeConnector, symbol: str
) -> tuple[Decimal, dict[str, Balance]]:
    ticker = await connector.fetch_ticker(symbol)
    return ticker.price, await connector.fetch_balances()


def preview(info: MarketInfo, body: OrderBody) -> Preview:
    """Raises 422 in plain words for an order the exchange or our checks would refuse."""
    buy, limit = body.side == "buy", body.type == "limit"
    by_quote = buy and not limit and info.market_buy_by_quote
    try:
        size = size_given(
            info.market(),
            body.price if limit and body.price is not None else info.price,
            quantity=body.quantity,
            quote_amount=body.quote_amount,
            buy=buy,
            limit=limit,
            by_quote_amount=by_quote,
        )
    except SizingError as exc:
        raise refused(str(exc)) from None
    price = size.reference_price
    notional = size.quote_amount if size.quote_amount is not None else size.quantity * price
    fee = notional * info.fee_rate
    _check_funds(info, body, size, notional)
    return Preview(
        symbol=info.symbol,
        side=body.side,
        type=body.type,
        base=info.base,
        quote=info.quote,
        quantity=size.quantity,
        quote_amount=normalized(notional),
        price=size.limit_price,
        reference_price=info.price,
        notional=normalized(notional),
        estimated_fee=normalized(fee.quantize(Decimal("0.00000001"))),
        fee_rate=info.fee_rate,
        base_free=info.base_free,
        quote_free=info.quote_free,
        min_qty=info.min_qty,
        min_notional=info.min_notional,
        warnings=_warnings(info, body, size),
    )


def _check_funds(info: MarketInfo, body: OrderBody, size: OrderSize, notional: Decimal) -> None:
    if body.side == "buy":
        # Where the fee is charged in quote on top of the cost (Kraken), it must fit too.
        needed = notional * (1 + info.quote_fee_reserve)
        if needed > info.quote_free:
            raise refused(
                f"not enough {info.quote}: the order needs {plain(needed)} {info.quote},"
                f" {plain(info.quote_free)} {info.quote} is free"
            )
        return
    held = info.base_free + info.base_locked
    if size.quantity > held:
        raise refused(
            f"not enough {info.base}: selling {plain(size.quantity)} {info.base},"
            f" {plain(held)} {info.base} held"
        )


def _warnings(info: MarketInfo, body: OrderBody, size: OrderSize) -> list[str]:
    notes = []
    if body.quantity is not None and size.quantity != body.quantity:
        notes.append(
            f"quantity rounded down to the lot step {plain(info.amount_step)} {info.base}:"
            f" {plain(body.quantity)} → {plain(size.quantity)}"
        )
    if body.price is not None and size.limit_price is not None and size.limit_price != body.price:
        notes.append(
            f"price rounded to the tick {plain(info.price_tick)} {info.quote} in your favour:"
            f" {plain(body.price)} → {plain(size.limit_price)}"
        )
    if body.type == "limit" and size.limit_price is not None:
        marketable = (
            size.limit_price >= info.price if body.side == "buy" else size.limit_price <= info.price
        )
        if marketable:
            notes.append(
                f"the limit price is {'at or above' if body.side == 'buy' else 'at or below'}"
                f" the last price {plain(info.price)}: it fills at once, at the market"
            )
    elif body.type == "market":
        notes.append(
            f"a market order fills at the market: {plain(info.price)} {info.quote} is the last"
            " price, the fill may differ"
        )
    if body.side == "sell" and size.quantity > info.base_free:
        notes.append(
            f"part of the {info.base} is held by open orders: a stop-loss/take-profit is freed"
            " before the sell, other orders are not"
        )
    return notes
