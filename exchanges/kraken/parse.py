"""Kraken's answers -> Market/Balance/Ticker/Candle/ExchangeOrder/Trade. Kraken's own names
(XXBT, ZUSD, pair XXBTZUSD with altname XBTUSD) are mapped to unified ones through the
Assets and AssetPairs lists."""

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges.kraken.client_ids import from_cl_ord_id
from exchanges.types import (
    Balance,
    Candle,
    ExchangeOrder,
    Market,
    OrderStatus,
    OrderType,
    Ticker,
    Trade,
)

# Kraken's altnames that differ from everyone else's.
ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
# cancel_only / reduce_only pairs cannot take new orders.
TRADABLE_STATUSES = {"online", "post_only", "limit_only"}


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _time(seconds: Any) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def _order_type(kraken_type: str) -> OrderType:
    if kraken_type.startswith(("stop-loss", "trailing-stop")):
        return "stop_loss"
    if kraken_type.startswith("take-profit"):
        return "take_profit"
    if kraken_type in ("market", "settle-position"):
        return "market"
    return "limit"


@dataclass(frozen=True)
class _Catalog:
    """AssetPairs and Assets, read once per endpoint and cached."""

    markets: dict[str, Market]  # unified symbol -> market
    by_name: dict[str, Market]  # pair id, altname and wsname -> market
    cost_decimals: dict[str, int]  # unified symbol -> decimals of quote amounts
    altnames: dict[str, str]  # asset id (XXBT) or altname (XBT) -> unified (BTC)

    def asset(self, kraken_name: str) -> str:
        name = self.altnames.get(kraken_name, kraken_name)
        return ASSET_ALIASES.get(name, name)


def parse_catalog(assets: dict[str, Any], pairs: dict[str, Any]) -> _Catalog:
    """The `result`s of Assets and AssetPairs."""
    altnames: dict[str, str] = {}
    for asset_id, info in assets.items():
        altname = str(info.get("altname") or asset_id)
        altnames[asset_id] = altnames[altname] = altname
    catalog = _Catalog({}, {}, {}, altnames)
    for pair_id, info in pairs.items():
        if info.get("status", "online") not in TRADABLE_STATUSES or pair_id.endswith(".d"):
            continue
        base, quote = catalog.asset(info["base"]), catalog.asset(info["quote"])
        symbol = f"{base}/{quote}"
        if symbol in catalog.markets:
            continue
        tick = info.get("tick_size")
        market = Market(
            symbol=symbol,
            base=base,
            quote=quote,
            exchange_symbol=pair_id,
            amount_step=Decimal(1).scaleb(-int(info["lot_decimals"])),
            price_tick=_dec(tick) if tick else Decimal(1).scaleb(-int(info["pair_decimals"])),
            min_qty=_dec(info.get("ordermin")),
            min_notional=_dec(info.get("costmin")),
        )
        catalog.markets[symbol] = market
        for name in (pair_id, info.get("altname"), info.get("wsname")):
            if name:
                catalog.by_name[name] = market
        catalog.cost_decimals[symbol] = int(info.get("cost_decimals", 8))
    return catalog


def parse_tickers(
    result: dict[str, Any], catalog: _Catalog, wanted: Container[str]
) -> dict[str, Ticker]:
    """The `result` of Ticker, keyed by unified symbol; only the `wanted` symbols."""
    now = datetime.now(UTC)
    tickers: dict[str, Ticker] = {}
    for name, data in result.items():
        market = catalog.by_name.get(name)
        if market is not None and market.symbol in wanted:
            # "c" is the last trade: [price, lot volume]; Kraken gives no timestamp.
            price = _dec(data["c"][0])
            tickers[market.symbol] = Ticker(symbol=market.symbol, price=price, time=now)
    return tickers


def parse_candles(result: dict[str, Any], since: datetime | None) -> list[Candle]:
    """The `result` of OHLC, oldest first, without the rows before `since`."""
    rows: list[list[Any]] = next((v for k, v in result.items() if k != "last"), [])
    candles = []
    for index, row in enumerate(rows):
        open_time = _time(row[0])
        if since is not None and open_time < since:
            continue
        candles.append(
            Candle(
                open_time=open_time,
                open=_dec(row[1]),
                high=_dec(row[2]),
                low=_dec(row[3]),
                close=_dec(row[4]),
                volume=_dec(row[6]),
                # Kraken's last row is the candle still forming.
                closed=index != len(rows) - 1,
            )
        )
    return candles


def parse_balances(result: dict[str, Any], catalog: _Catalog) -> dict[str, Balance]:
    """The `result` of BalanceEx, keyed by unified asset."""
    balances: dict[str, Balance] = {}
    for name, entry in result.items():
        # Earn balances (XBT.F, DOT.S, ...) cannot be traded as they are.
        if "." in name:
            continue
        total, held = _dec(entry.get("balance")), _dec(entry.get("hold_trade"))
        if not total and not held:
            continue
        asset = catalog.asset(name)
        known = balances.get(asset)
        free, locked = max(total - held, Decimal(0)), held
        if known is not None:
            free, locked = free + known.free, locked + known.locked
        balances[asset] = Balance(asset=asset, free=free, locked=locked)
    return balances


def parse_trade(
    trade_id: str, info: dict[str, Any], market: Market, base_fee_orders: set[str]
) -> Trade:
    """One TradesHistory entry; `base_fee_orders` are the orders that pay fees in base."""
    return Trade(
        trade_id=trade_id,
        exchange_order_id=str(info["ordertxid"]),
        symbol=market.symbol,
        side=info["type"],
        price=_dec(info["price"]),
        quantity=_dec(info["vol"]),
        fee=_dec(info.get("fee")),
        fee_asset=market.base if info["ordertxid"] in base_fee_orders else market.quote,
        time=_time(info["time"]),
        raw={"id": trade_id, **info},
    )


def parse_order(
    txid: str, info: dict[str, Any], catalog: _Catalog, fills: list[dict[str, Any]]
) -> ExchangeOrder:
    """One QueryOrders/OpenOrders/ClosedOrders entry; `fills` are its QueryTrades entries,
    read only for a `viqc` order."""
    descr = info.get("descr") or {}
    market = catalog.by_name.get(descr.get("pair", ""))
    kraken_type = str(descr.get("ordertype", ""))
    flags = _flags(info)
    if "viqc" in flags:
        # `vol` (and possibly `vol_exec`) are quote amounts here: count the fills.
        quantity = None
        filled = sum((_dec(t["vol"]) for t in fills), Decimal(0))
        cost = sum((_dec(t["cost"]) for t in fills), Decimal(0))
        fee = sum((_dec(t.get("fee")) for t in fills), Decimal(0))
        average = cost / filled if filled else None
    else:
        quantity = _dec(info.get("vol"))
        filled, fee = _dec(info.get("vol_exec")), _dec(info.get("fee"))
        average = _dec(info.get("price")) or None
    status: OrderStatus
    raw_status = info.get("status")
    if raw_status in ("pending", "open"):
        status = "partially_filled" if filled else "open"
    elif raw_status == "closed":
        status = "filled"
    else:  # canceled, expired
        status = "canceled"
    fee_asset = None
    if market is not None:
        fee_asset = market.base if "fcib" in flags else market.quote
    return ExchangeOrder(
        exchange_order_id=txid,
        client_order_id=from_cl_ord_id(info.get("cl_ord_id")),
        symbol=market.symbol if market else str(descr.get("pair", "")),
        side=descr.get("type", "buy"),
        type=_order_type(kraken_type),
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        price=_limit_price(kraken_type, descr),
        average_price=average,
        fee=fee,
        fee_asset=fee_asset,
        created_at=_time(info["opentm"]) if info.get("opentm") else None,
        raw={"txid": txid, **info},
    )


def _limit_price(kraken_type: str, descr: dict[str, Any]) -> Decimal | None:
    """descr.price is the limit of a limit order but the trigger of a stop or take-profit,
    whose limit (if any) is descr.price2."""
    if kraken_type.endswith("-limit"):
        return _dec(descr.get("price2")) or None
    if _order_type(kraken_type) == "limit":
        return _dec(descr.get("price")) or None
    return None


def _flags(info: dict[str, Any]) -> set[str]:
    return set(str(info.get("oflags") or "").split(","))
