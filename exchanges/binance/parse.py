"""Binance's answers -> Market, Balance, Candle, ExchangeOrder and Trade (Decimal, UTC)."""

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges.types import (
    Balance,
    Candle,
    ExchangeOrder,
    Market,
    OrderStatus,
    OrderType,
    Trade,
)
from trading.format import normalized

STATUSES: dict[str, OrderStatus] = {
    "NEW": "open",
    "PENDING_NEW": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "PENDING_CANCEL": "open",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "canceled",
    "EXPIRED_IN_MATCH": "canceled",
    "REJECTED": "rejected",
}
TYPES: dict[str, OrderType] = {
    "MARKET": "market",
    "LIMIT": "limit",
    "LIMIT_MAKER": "limit",
    "STOP_LOSS": "stop_loss",
    "STOP_LOSS_LIMIT": "stop_loss",
    "TAKE_PROFIT": "take_profit",
    "TAKE_PROFIT_LIMIT": "take_profit",
}


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _time(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _markets(info: dict[str, Any]) -> dict[str, Market]:
    """`/api/v3/exchangeInfo` -> the spot pairs open for trading, by unified symbol."""
    markets = {}
    for row in info["symbols"]:
        if row.get("status") != "TRADING" or not row.get("isSpotTradingAllowed", True):
            continue
        filters = {f["filterType"]: f for f in row.get("filters", [])}
        lot = filters.get("LOT_SIZE", {})
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        symbol = f"{row['baseAsset']}/{row['quoteAsset']}"
        markets[symbol] = Market(
            symbol=symbol,
            base=row["baseAsset"],
            quote=row["quoteAsset"],
            exchange_symbol=row["symbol"],
            amount_step=normalized(_dec(lot.get("stepSize", 0))),
            price_tick=normalized(_dec(filters.get("PRICE_FILTER", {}).get("tickSize", 0))),
            min_qty=normalized(_dec(lot.get("minQty", 0))),
            min_notional=normalized(_dec(notional.get("minNotional", 0))),
        )
    return markets


def _candle(row: list[Any], now: int) -> Candle:
    """One `/api/v3/klines` row; unclosed while its close time is still ahead of `now`."""
    return Candle(
        open_time=_time(row[0]),
        open=_dec(row[1]),
        high=_dec(row[2]),
        low=_dec(row[3]),
        close=_dec(row[4]),
        volume=_dec(row[5]),
        closed=int(row[6]) < now,
    )


def _balances(account: dict[str, Any]) -> dict[str, Balance]:
    balances = {}
    for row in account["balances"]:
        free, locked = _dec(row["free"]), _dec(row["locked"])
        if free or locked:
            balances[row["asset"]] = Balance(
                asset=row["asset"], free=normalized(free), locked=normalized(locked)
            )
    return balances


def _order(row: dict[str, Any], symbol: str) -> ExchangeOrder:
    filled = _dec(row.get("executedQty", 0))
    cost = _dec(row.get("cummulativeQuoteQty", 0))
    quantity = _dec(row.get("origQty", 0))
    price = _dec(row.get("price", 0))
    fee, fee_asset = _fees(row["fills"]) if row.get("fills") else (Decimal(0), None)
    created = row.get("time") or row.get("transactTime") or row.get("workingTime")
    return ExchangeOrder(
        exchange_order_id=str(row["orderId"]),
        # A cancel answer's clientOrderId names the cancel request, not the order.
        client_order_id=row.get("origClientOrderId") or row.get("clientOrderId"),
        symbol=symbol,
        side="buy" if row["side"] == "BUY" else "sell",
        type=TYPES.get(row["type"], "limit"),
        status=STATUSES.get(row["status"], "open"),
        quantity=normalized(quantity) if quantity else None,
        filled_quantity=normalized(filled),
        price=normalized(price) if price else None,
        average_price=normalized(cost / filled) if filled and cost else None,
        fee=fee,
        fee_asset=fee_asset,
        created_at=_time(created) if created else None,
        raw=row,
    )


def _trade(row: dict[str, Any], symbol: str) -> Trade:
    return Trade(
        trade_id=str(row["id"]),
        exchange_order_id=str(row["orderId"]),
        symbol=symbol,
        side="buy" if row["isBuyer"] else "sell",
        price=normalized(_dec(row["price"])),
        quantity=normalized(_dec(row["qty"])),
        fee=normalized(_dec(row["commission"])),
        fee_asset=row["commissionAsset"],
        time=_time(row["time"]),
        raw=row,
    )


def _fees(fills: Iterable[dict[str, Any]]) -> tuple[Decimal, str | None]:
    """Total commission and its asset. Fees split over two assets (BNB ran out mid-order)
    are reported in the first fill's asset; `raw` keeps every fill."""
    rows = list(fills)
    if not rows:
        return Decimal(0), None
    asset = rows[0]["commissionAsset"]
    total = sum((_dec(r["commission"]) for r in rows if r["commissionAsset"] == asset), Decimal(0))
    return normalized(total), asset
