"""Our order requests -> Binance's order parameters, rounded to the market's filters and
checked against its minimums before anything is sent."""

from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from exchanges.errors import InvalidOrder
from exchanges.types import Market, OcoRequest, OrderRequest
from trading.format import normalized

QUOTE_STEP = Decimal("0.00000001")  # quoteOrderQty precision (quoteAssetPrecision 8)


def _text(value: Decimal) -> str:
    return format(normalized(value), "f")


async def _order_params(
    request: OrderRequest, market: Market, check_price: Callable[[Market], Awaitable[Decimal]]
) -> dict[str, Any]:
    """`/api/v3/order` parameters; `check_price` prices a market order's notional check."""
    sell = request.side == "sell"
    params: dict[str, Any] = {
        "symbol": market.exchange_symbol,
        "side": request.side.upper(),
        "newClientOrderId": request.client_order_id,
        "newOrderRespType": "FULL",
    }
    quantity = market.round_quantity(request.quantity) if request.quantity else None
    price = market.round_price(request.price, up=sell) if request.price else None
    if request.type == "market":
        if quantity is not None:
            if market.min_notional:
                market.check_notional(quantity, await check_price(market))
            params |= {"type": "MARKET", "quantity": _text(quantity)}
        elif request.side == "buy" and request.quote_amount:
            spend = request.quote_amount.quantize(QUOTE_STEP, rounding=ROUND_DOWN)
            if spend <= 0 or spend < market.min_notional:
                raise InvalidOrder(
                    f"order value {_text(spend)} {market.quote} is below the minimum of"
                    f" {_text(market.min_notional)} {market.quote} for {market.symbol}"
                )
            params |= {"type": "MARKET", "quoteOrderQty": _text(spend)}
        else:
            raise InvalidOrder(f"a market {request.side} needs a quantity of {market.base}")
    elif request.type == "limit":
        if quantity is None or price is None:
            raise InvalidOrder("a limit order needs a quantity and a price")
        market.check_notional(quantity, price)
        params |= {
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": _text(quantity),
            "price": _text(price),
        }
    else:
        if quantity is None or request.stop_price is None:
            raise InvalidOrder(f"a {request.type} order needs a quantity and a stop price")
        stop = market.round_price(request.stop_price, up=sell)
        market.check_notional(quantity, price or stop)
        kind = "STOP_LOSS" if request.type == "stop_loss" else "TAKE_PROFIT"
        params |= {"quantity": _text(quantity), "stopPrice": _text(stop)}
        if price is None:
            params["type"] = kind  # a market order once triggered
        else:
            params |= {"type": f"{kind}_LIMIT", "timeInForce": "GTC", "price": _text(price)}
    return params


def _oco_params(request: OcoRequest, market: Market) -> dict[str, Any]:
    """`/api/v3/orderList/oco` parameters."""
    sell = request.side == "sell"
    quantity = market.round_quantity(request.quantity)
    take = market.round_price(request.take_profit_price, up=sell)
    stop = market.round_price(request.stop_price, up=sell)
    take_leg = {"Type": "LIMIT_MAKER", "Price": _text(take)}
    take_leg["ClientOrderId"] = f"{request.client_order_id}-tp"
    stop_leg = {"StopPrice": _text(stop), "ClientOrderId": f"{request.client_order_id}-sl"}
    if request.stop_limit_price is None:
        # A market stop: it exits even when the price gaps through the stop.
        stop_leg["Type"] = "STOP_LOSS"
        market.check_notional(quantity, min(take, stop))
    else:
        stop_limit = market.round_price(request.stop_limit_price, up=sell)
        market.check_notional(quantity, min(take, stop_limit))
        stop_leg |= {"Type": "STOP_LOSS_LIMIT", "Price": _text(stop_limit), "TimeInForce": "GTC"}
    # A sell takes profit above the market and stops out below it; a buy the reverse.
    above, below = (take_leg, stop_leg) if sell else (stop_leg, take_leg)
    params: dict[str, Any] = {
        "symbol": market.exchange_symbol,
        "side": request.side.upper(),
        "quantity": _text(quantity),
        "listClientOrderId": request.client_order_id,
        "newOrderRespType": "FULL",
    }
    params |= {f"above{k}": v for k, v in above.items()}
    params |= {f"below{k}": v for k, v in below.items()}
    return params
