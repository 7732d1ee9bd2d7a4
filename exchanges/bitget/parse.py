"""Bitget's responses -> ExchangeOrder / Trade / Ticker, and the plan-order naming."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges.types import ExchangeOrder, Market, OrderStatus, OrderType, Ticker, Trade
from trading.format import normalized

PLAN_SUFFIX: dict[OrderType, str] = {"stop_loss": "-sl", "take_profit": "-tp"}

STATUS: dict[str, OrderStatus] = {
    "init": "open",
    "new": "open",
    "live": "open",
    "partially_filled": "partially_filled",
    "partially_fill": "partially_filled",
    "filled": "filled",
    "full_fill": "filled",
    "cancelled": "canceled",
    "canceled": "canceled",
}
PLAN_OPEN = {"live", "not_trigger", "executing"}
PLAN_EXECUTED = {"executed", "triggered", "success"}
PLAN_CANCELED = {"cancelled", "canceled", "cancel"}


def _spot_order(
    row: Mapping[str, Any], market: Market, *, open_list: bool = False
) -> ExchangeOrder:
    side = row["side"]
    kind: OrderType = "market" if row["orderType"] == "market" else "limit"
    filled = _dec(row.get("baseVolume"))
    # unfilled-orders names the order price `priceAvg` and the fill price `basePrice`.
    price = _dec(row.get("priceAvg" if open_list else "price"))
    average = _dec(row.get("basePrice" if open_list else "priceAvg"))
    if not average and filled:
        average = _dec(row.get("quoteVolume")) / filled
    size = _dec(row.get("size"))
    received = market.base if side == "buy" else market.quote
    fee, fee_asset = _order_fee(row.get("feeDetail"), received)
    return ExchangeOrder(
        exchange_order_id=str(row["orderId"]),
        client_order_id=row.get("clientOid") or None,
        symbol=market.symbol,
        side=side,
        type=kind,
        status=STATUS.get(str(row.get("status")), "open"),
        # A market buy's size is the quote amount spent: its quantity is what it bought.
        quantity=(filled or None) if kind == "market" and side == "buy" else size,
        filled_quantity=filled,
        price=price if kind == "limit" and price else None,
        average_price=normalized(average) if average else None,
        fee=fee,
        fee_asset=fee_asset,
        created_at=_time(row["cTime"]) if row.get("cTime") else None,
        raw=dict(row),
    )


def _as_plan(plan: Mapping[str, Any], spot: ExchangeOrder) -> ExchangeOrder:
    """A triggered plan order: its identity, with the state and fills of its spot order."""
    our_id, kind = _split_plan_id(plan.get("clientOid"))
    return spot.model_copy(
        update={
            "exchange_order_id": str(plan["orderId"]),
            "client_order_id": our_id,
            "type": kind,
            "quantity": _dec(plan.get("size")) or spot.quantity,
            "created_at": _time(plan["cTime"]) if plan.get("cTime") else spot.created_at,
            "raw": {"plan": dict(plan), "order": spot.raw},
        }
    )


def _split_plan_id(client_oid: str | None) -> tuple[str | None, OrderType]:
    """`ab…-sl` -> (`ab…`, stop_loss). Plans placed elsewhere carry no intent: stop_loss."""
    for kind, suffix in PLAN_SUFFIX.items():
        if client_oid and client_oid.endswith(suffix):
            return client_oid[: -len(suffix)], kind
    return client_oid or None, "stop_loss"


def _order_fee(detail: Any, received: str) -> tuple[Decimal, str | None]:
    """An order's `feeDetail`, a JSON string. With `newFees`, `r` is what was taken from the
    asset received and `d` what was paid in BGB (coupons, `c`, cost nothing); older orders
    list each fee coin with its `totalFee`. Bitget reports fees as negative numbers."""
    if not detail:
        return Decimal(0), None
    parsed = (
        json.loads(detail, parse_float=Decimal, parse_int=Decimal)
        if isinstance(detail, str)
        else detail
    )
    if not isinstance(parsed, dict):
        return Decimal(0), None
    new = parsed.get("newFees")
    if isinstance(new, dict):
        taken, in_bgb = abs(_dec(new.get("r"))), abs(_dec(new.get("d")))
        if in_bgb and not taken:
            return normalized(in_bgb), "BGB"
        return normalized(taken), received
    for value in parsed.values():
        if isinstance(value, dict) and value.get("feeCoinCode"):
            return normalized(abs(_dec(value.get("totalFee")))), str(value["feeCoinCode"]).upper()
    return Decimal(0), None


def _trade(row: Mapping[str, Any], market: Market) -> Trade:
    detail = row.get("feeDetail") or {}
    coin = detail.get("feeCoin")
    return Trade(
        trade_id=str(row["tradeId"]),
        exchange_order_id=str(row["orderId"]),
        symbol=market.symbol,
        side=row["side"],
        price=Decimal(row["priceAvg"]),
        quantity=Decimal(row["size"]),
        fee=normalized(abs(_dec(detail.get("totalFee")))),
        fee_asset=str(coin).upper() if coin else None,
        time=_time(row["cTime"]),
        raw=dict(row),
    )


def _ticker(row: Mapping[str, Any], symbol: str) -> Ticker:
    stamp = row.get("ts")
    return Ticker(
        symbol=symbol,
        price=Decimal(row["lastPr"]),
        time=_time(stamp) if stamp else datetime.now(UTC),
    )


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))


def _time(value: Any) -> datetime:
    stamp = int(value)
    if stamp < 100_000_000_000:  # some list endpoints answer in seconds
        stamp *= 1000
    return datetime.fromtimestamp(stamp / 1000, UTC)
