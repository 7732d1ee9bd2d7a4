"""The paper exchange's order rules, without I/O: validation, filters, trigger conditions
and the normalized view of a paper order."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from db.models import PaperOrder
from exchanges.catalog import PAPER_MARKETS
from exchanges.errors import InvalidOrder, UnknownSymbol
from exchanges.symbols import split_symbol
from exchanges.types import ExchangeOrder, Market, OrderRequest

TRIGGER_TYPES = ("stop_loss", "take_profit")
STATUSES = {"new": "open", "filled": "filled", "canceled": "canceled", "rejected": "rejected"}


def now() -> datetime:
    return datetime.now(UTC)


def paper_market(symbol: str) -> Market:
    market = PAPER_MARKETS.get(symbol)
    if market is None:
        known = ", ".join(sorted(PAPER_MARKETS))
        raise UnknownSymbol(f"unknown symbol {symbol} on the paper exchange (known: {known})")
    return market


def waiting(order: PaperOrder) -> bool:
    """A stop-loss / take-profit not triggered yet: it holds no funds."""
    return order.type in TRIGGER_TYPES and order.triggered_at is None


def reached(order: PaperOrder, low: Decimal, high: Decimal) -> bool:
    """Whether a market that traded between low and high reached the trigger: a sell
    stop-loss / buy take-profit on the way down, the other two on the way up."""
    assert order.stop_price is not None
    falling = (order.type == "stop_loss") == (order.side == "sell")
    return low <= order.stop_price if falling else high >= order.stop_price


def window_start(order: PaperOrder) -> datetime:
    """Where to start reading the market for this order. Candles are whole minutes, so the
    one a trigger order was placed in may hold moves from before it: a trigger order reads
    from the next minute on (the current price covers the rest)."""
    if order.type not in TRIGGER_TYPES:
        return order.checked_at
    placed = order.created_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return max(placed, order.checked_at.replace(second=0, microsecond=0))


def check_filters(market: Market, quantity: Decimal, price: Decimal) -> None:
    if quantity <= 0 or quantity < market.min_qty:
        raise InvalidOrder(
            f"Filter failure: LOT_SIZE (quantity {quantity} below the minimum {market.min_qty}"
            f" {market.base})"
        )
    if quantity * price < market.min_notional:
        raise InvalidOrder(
            f"Filter failure: NOTIONAL (order value {quantity * price:.8f} {market.quote} is"
            f" below the minimum {market.min_notional} {market.quote})"
        )


def reserved(order: PaperOrder, market: Market) -> tuple[str, Decimal]:
    """What a resting limit holds: quote at its price for a buy, base for a sell."""
    assert order.quantity is not None and order.price is not None
    if order.side == "buy":
        return market.quote, order.quantity * order.price
    return market.base, order.quantity


def new_order(broker_id: int, request: OrderRequest, market: Market) -> PaperOrder:
    base, _ = split_symbol(request.symbol)
    sell = request.side == "sell"
    quantity = market.round_quantity(request.quantity) if request.quantity else None
    price = market.round_price(request.price, up=sell) if request.price else None
    stop = market.round_price(request.stop_price, up=sell) if request.stop_price else None
    if request.type == "limit" and (price is None or quantity is None):
        raise InvalidOrder("a limit order needs a quantity and a price")
    if request.type in TRIGGER_TYPES and (stop is None or quantity is None):
        raise InvalidOrder(f"a {request.type} order needs a quantity and a stop price")
    by_quote = request.side == "buy" and bool(request.quote_amount)
    if request.type == "market" and quantity is None and not by_quote:
        raise InvalidOrder(f"a market {request.side} needs a quantity of {base}")
    at = now()
    return PaperOrder(
        broker_id=broker_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        status="new",
        quantity=quantity,
        quote_amount=request.quote_amount if quantity is None else None,
        price=price,
        stop_price=stop if request.type in TRIGGER_TYPES else None,
        filled_quantity=Decimal(0),
        fee=Decimal(0),
        created_at=at,
        checked_at=at,
    )


def to_exchange_order(order: PaperOrder) -> ExchangeOrder:
    return ExchangeOrder(
        exchange_order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        status=STATUSES[order.status],
        quantity=order.quantity,
        filled_quantity=order.filled_quantity,
        price=order.price,
        average_price=order.average_price,
        fee=order.fee,
        fee_asset=order.fee_asset,
        created_at=order.created_at,
        raw={
            "orderId": order.id,
            "clientOrderId": order.client_order_id,
            "status": order.status,
            "quoteAmount": str(order.quote_amount) if order.quote_amount else None,
            "stop_price": str(order.stop_price) if order.stop_price is not None else None,
            "triggered_at": order.triggered_at.isoformat() if order.triggered_at else None,
            "reject_reason": order.reject_reason,
        },
    )
