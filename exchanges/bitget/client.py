"""Bitget's REST API as the connector uses it: signed requests, the server clock, the
response envelope, the cached market catalog (symbol naming, filters), and the readers of
spot orders, plan orders and the spot orders they became, and fees."""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from exchanges.bitget.errors import TIMESTAMP_EXPIRED, _data
from exchanges.bitget.parse import (
    PLAN_CANCELED,
    PLAN_EXECUTED,
    PLAN_OPEN,
    _as_plan,
    _dec,
    _split_plan_id,
    _spot_order,
    _time,
    _trade,
)
from exchanges.bitget.signing import sign
from exchanges.errors import OrderNotFound, UnknownSymbol
from exchanges.http import ApiCredentials, Endpoint, transport_errors
from exchanges.types import ExchangeOrder, Market
from trading.format import normalized

# History endpoints answer at most 90 days and 100 rows per page.
HISTORY_MS = 90 * 86_400_000
PAGE = 100
# How far back a client order id is looked for among closed orders: 1,000 orders.
HISTORY_PAGES = 10


@dataclass(frozen=True)
class _Catalog:
    markets: dict[str, Market]
    by_id: dict[str, Market]
    # Decimals allowed in a quote amount (the size of a market buy).
    quote_decimals: dict[str, int]


class BitgetClient:
    def __init__(self, endpoint: Endpoint, credentials: ApiCredentials) -> None:
        self._endpoint = endpoint
        self._credentials = credentials

    # -- transport -----------------------------------------------------------------------

    async def _server_ms(self) -> int:
        data = await self._call("GET", "/api/v2/public/time", signed=False)
        return int(data["serverTime"])

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        *,
        signed: bool = True,
        write: bool = False,
    ) -> Any:
        # Built here and sent as is, so the signed bytes are the sent bytes. Our parameter
        # values (ids, symbols, numbers) never need percent-encoding; Bitget signs the raw query.
        query = "&".join(f"{key}={value}" for key, value in sorted((params or {}).items()))
        content = json.dumps(body, separators=(",", ":")) if body is not None else ""
        url = f"{path}?{query}" if query else path
        for attempt in (1, 2):
            headers = {"Content-Type": "application/json", "locale": "en-US"}
            if signed:
                timestamp = str(await self._endpoint.clock.now_ms(self._server_ms))
                headers |= {
                    "ACCESS-KEY": self._credentials.api_key,
                    "ACCESS-SIGN": sign(
                        self._credentials.api_secret, timestamp, method, path, query, content
                    ),
                    "ACCESS-TIMESTAMP": timestamp,
                    "ACCESS-PASSPHRASE": self._credentials.passphrase,
                }
            with transport_errors("Bitget", write=write):
                response = await self._endpoint.client.request(
                    method, url, content=content.encode() if content else None, headers=headers
                )
            payload = _json(response)
            code = str(payload.get("code")) if isinstance(payload, dict) else ""
            if signed and code == TIMESTAMP_EXPIRED and attempt == 1:
                # Refused, so safe to send again once the clock offset is re-measured.
                self._endpoint.clock.invalidate()
                continue
            return _data(response, payload)
        raise AssertionError("unreachable")

    # -- markets -------------------------------------------------------------------------

    async def _catalog(self) -> _Catalog:
        catalog: _Catalog = await self._endpoint.cached("markets", 600, self._load_catalog)
        return catalog

    async def _load_catalog(self) -> _Catalog:
        rows = await self._call("GET", "/api/v2/spot/public/symbols", signed=False)
        markets, quote_decimals = {}, {}
        for row in rows:
            if row.get("status") != "online":
                continue
            base, quote = row["baseCoin"].upper(), row["quoteCoin"].upper()
            symbol = f"{base}/{quote}"
            markets[symbol] = Market(
                symbol=symbol,
                base=base,
                quote=quote,
                exchange_symbol=row["symbol"],
                amount_step=Decimal(1).scaleb(-int(row["quantityPrecision"])),
                price_tick=Decimal(1).scaleb(-int(row["pricePrecision"])),
                min_qty=_dec(row.get("minTradeAmount")),
                # minTradeUSDT is a USDT value: a minimum notional only for USDT-quoted pairs
                # (elsewhere the exchange's own check applies).
                min_notional=_dec(row.get("minTradeUSDT")) if quote == "USDT" else Decimal(0),
            )
            quote_decimals[symbol] = int(row.get("quotePrecision") or row["pricePrecision"])
        by_id = {m.exchange_symbol.upper(): m for m in markets.values()}
        return _Catalog(markets, by_id, quote_decimals)

    async def _market(self, symbol: str) -> Market:
        market = (await self._catalog()).markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"{symbol} is not traded on bitget (unknown symbol)")
        return market

    # -- order reading -------------------------------------------------------------------

    async def _order_info(self, query: dict[str, str]) -> list[dict[str, Any]]:
        try:
            rows = await self._call("GET", "/api/v2/spot/trade/orderInfo", query)
        except OrderNotFound:
            return []
        return list(rows or [])

    async def _with_fee(self, order: ExchangeOrder, market: Market) -> ExchangeOrder:
        """Adds the fee from the order's fills when the order itself does not carry it."""
        if not order.filled_quantity or order.fee_asset is not None:
            return order
        spot_id = order.raw.get("order", {}).get("orderId", order.exchange_order_id)
        rows = await self._call(
            "GET",
            "/api/v2/spot/trade/fills",
            {"symbol": market.exchange_symbol, "orderId": str(spot_id)},
        )
        fees: dict[str, Decimal] = {}
        for trade in (_trade(row, market) for row in rows):
            if trade.fee_asset:
                fees[trade.fee_asset] = fees.get(trade.fee_asset, Decimal(0)) + trade.fee
        if not fees:
            return order
        received = market.base if order.side == "buy" else market.quote
        asset = received if received in fees else next(iter(fees))
        return order.model_copy(update={"fee": normalized(fees[asset]), "fee_asset": asset})

    async def _find_plan(
        self, market: Market, matches: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The latest page of live plan orders, then of finished ones (90 days)."""
        params = {"symbol": market.exchange_symbol, "limit": str(PAGE)}
        live = await self._call("GET", "/api/v2/spot/trade/current-plan-order", params)
        for plan in live.get("orderList") or []:
            if matches(plan):
                return dict(plan)
        now = int(time.time() * 1000)
        window = {"startTime": str(now - HISTORY_MS + 60_000), "endTime": str(now + 60_000)}
        done = await self._call("GET", "/api/v2/spot/trade/history-plan-order", params | window)
        for plan in done.get("orderList") or []:
            if matches(plan):
                return dict(plan)
        return None

    async def _plan_spot_id(self, plan_id: str) -> str | None:
        rows = await self._call(
            "GET", "/api/v2/spot/trade/plan-sub-order", {"planOrderId": plan_id}
        )
        for row in rows or []:
            if row.get("orderId") and row.get("status") in (None, "success"):
                return str(row["orderId"])
        return None

    async def _plan_order(self, plan: Mapping[str, Any], market: Market) -> ExchangeOrder:
        our_id, kind = _split_plan_id(plan.get("clientOid"))
        status = str(plan.get("status"))
        order = ExchangeOrder(
            exchange_order_id=str(plan["orderId"]),
            client_order_id=our_id,
            symbol=market.symbol,
            side=plan["side"],
            type=kind,
            status="canceled" if status in PLAN_CANCELED else "open",
            quantity=_dec(plan.get("size")),
            price=_dec(plan.get("executePrice")) if plan.get("orderType") == "limit" else None,
            created_at=_time(plan["cTime"]) if plan.get("cTime") else None,
            raw={"plan": dict(plan)},
        )
        if status not in PLAN_OPEN | PLAN_EXECUTED | PLAN_CANCELED:
            return order.model_copy(update={"status": "rejected"})  # fail_execute and the like
        if status in PLAN_EXECUTED:
            spot_id = await self._plan_spot_id(order.exchange_order_id)
            rows = await self._order_info({"orderId": spot_id}) if spot_id else []
            if rows:
                spot = await self._with_fee(_spot_order(rows[0], market), market)
                return _as_plan(plan, spot)
        return order

    async def _history_order(self, market: Market, client_order_id: str) -> dict[str, Any] | None:
        """Pages back through the symbol's recent closed orders (newest first)."""
        params = {"symbol": market.exchange_symbol, "limit": str(PAGE)}
        for _ in range(HISTORY_PAGES):
            rows = await self._call("GET", "/api/v2/spot/trade/history-orders", params)
            for row in rows:
                if row.get("clientOid") == client_order_id:
                    return dict(row)
            if len(rows) < PAGE:
                return None
            params["idLessThan"] = str(min(int(r["orderId"]) for r in rows))
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None
