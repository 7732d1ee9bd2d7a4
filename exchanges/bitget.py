"""Bitget spot connector (REST v2, https://www.bitget.com/api-doc/spot/intro).

Orders: `place-order` for market/limit (a market buy is sized in the QUOTE asset), and
plan orders (`place-plan-order`) for stop-loss / take-profit: Bitget has no native OCO on
spot. A plan order only records a trigger price, not whether it is a stop or a take-profit,
so that intent travels in the plan's clientOid as a suffix of our id (`-sl` / `-tp`) and is
stripped again when the order is read back. Once triggered, a plan becomes an ordinary spot
order (its "sub-order"), whose fills and fees are read through `orderInfo`."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from exchanges.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    RateLimited,
    UnknownSymbol,
)
from exchanges.http import ApiCredentials, Endpoint, retry_after, transport_errors
from exchanges.readback import read_back
from exchanges.types import (
    Balance,
    Candle,
    Capabilities,
    ExchangeOrder,
    Market,
    OcoRequest,
    OrderRequest,
    OrderStatus,
    OrderType,
    Ticker,
    Trade,
)
from trading.format import normalized

DEFAULT_BASE_URL = "https://api.bitget.com"

SUCCESS = "00000"
# Bitget's granularity names. The daily candle uses the UTC day ("1day" starts at UTC+8).
GRANULARITY = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h", "1d": "1Dutc"}
INTERVAL_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
MAX_CANDLES = 1000
# History endpoints answer at most 90 days and 100 rows per page.
HISTORY_MS = 90 * 86_400_000
PAGE = 100
# How far back a client order id is looked for among closed orders: 1,000 orders.
HISTORY_PAGES = 10
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

AUTH_CODES = {"40001", "40002", "40003", "40006", "40009", "40011", "40012", "40014", "40037"}
TIMESTAMP_EXPIRED = "40008"
INSUFFICIENT_CODES = {"43012", "40754", "40762"}
NOT_FOUND_CODES = {"43001", "43025", "40109", "40768"}
DUPLICATE_CODES = {"43118", "40786"}
SYMBOL_CODES = {"40034"}
MINIMUM_CODES = {"45110", "43027", "43006"}
PARAM_CODES = {"40808", "43111", "40017", "40019", "43011", "41103"}
MAINTENANCE_CODES = {"40015", "40200", "41114", "43115"}


def prehash(timestamp: str, method: str, request_path: str, query: str, body: str) -> str:
    """The string Bitget signs: timestamp + METHOD + path (+ "?" + query) + body."""
    return timestamp + method.upper() + request_path + (f"?{query}" if query else "") + body


def sign(secret: str, timestamp: str, method: str, request_path: str, query: str, body: str) -> str:
    message = prehash(timestamp, method, request_path, query, body)
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class _Catalog:
    markets: dict[str, Market]
    by_id: dict[str, Market]
    # Decimals allowed in a quote amount (the size of a market buy).
    quote_decimals: dict[str, int]


class BitgetConnector:
    capabilities = Capabilities(
        market_buy_by_quote=True, stop_orders=True, oco=False, batched_tickers=True
    )

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

    async def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        if reload:
            self._endpoint.forget("markets")
        return dict((await self._catalog()).markets)

    # -- market data ---------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        market = await self._market(symbol)
        rows = await self._call(
            "GET", "/api/v2/spot/market/tickers", {"symbol": market.exchange_symbol}, signed=False
        )
        if not rows:
            raise UnknownSymbol(f"Bitget has no ticker for {symbol}")
        return _ticker(rows[0], symbol)

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        catalog = await self._catalog()
        wanted = {
            catalog.markets[s].exchange_symbol.upper(): s for s in symbols if s in catalog.markets
        }
        rows = await self._call("GET", "/api/v2/spot/market/tickers", signed=False)
        found = {}
        for row in rows:
            symbol = wanted.get(row["symbol"].upper())
            if symbol is not None:
                found[symbol] = _ticker(row, symbol)
        return found

    async def fetch_candles(
        self, symbol: str, interval: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        if interval not in GRANULARITY:
            raise InvalidOrder(f"unsupported candle interval {interval!r}")
        market = await self._market(symbol)
        params = {
            "symbol": market.exchange_symbol,
            "granularity": GRANULARITY[interval],
            "limit": str(max(1, min(limit, MAX_CANDLES))),
        }
        if since is not None:
            params["startTime"] = str(int(since.timestamp() * 1000))
        rows = await self._call("GET", "/api/v2/spot/market/candles", params, signed=False)
        now_ms = int(time.time() * 1000) + self._endpoint.clock.offset_ms
        step = INTERVAL_MS[interval]
        return [
            Candle(
                open_time=_time(row[0]),
                open=Decimal(row[1]),
                high=Decimal(row[2]),
                low=Decimal(row[3]),
                close=Decimal(row[4]),
                volume=Decimal(row[5]),
                closed=int(row[0]) + step <= now_ms,
            )
            for row in sorted(rows, key=lambda r: int(r[0]))
        ]

    # -- account -------------------------------------------------------------------------

    async def _assets(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._call("GET", "/api/v2/spot/account/assets")
        return rows

    async def fetch_balances(self) -> dict[str, Balance]:
        balances = {}
        for row in await self._assets():
            asset = row["coin"].upper()
            # frozen: held by open orders; locked: held by Bitget (fiat merchant, etc.).
            balance = Balance(
                asset=asset,
                free=_dec(row.get("available")),
                locked=_dec(row.get("frozen")) + _dec(row.get("locked")),
            )
            if balance.total:
                balances[asset] = balance
        return balances

    async def test_connection(self) -> str:
        held = sorted(
            row["coin"].upper()
            for row in await self._assets()
            if _dec(row.get("available")) + _dec(row.get("frozen")) + _dec(row.get("locked"))
        )
        shown = ", ".join(held[:8]) + (" ..." if len(held) > 8 else "")
        return f"Bitget spot account reachable: {len(held)} assets held" + (
            f" ({shown})" if held else ""
        )

    # -- orders --------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        market = await self._market(request.symbol)
        if request.type in PLAN_SUFFIX:
            return await self._create_plan_order(market, request)
        body = {
            "symbol": market.exchange_symbol,
            "side": request.side,
            "orderType": request.type,
            "force": "gtc",
            "clientOid": request.client_order_id,
        }
        if request.type == "limit":
            if request.price is None or request.quantity is None:
                raise InvalidOrder("a limit order needs a quantity and a price")
            price = market.round_price(request.price, up=request.side == "sell")
            quantity = market.round_quantity(request.quantity)
            market.check_notional(quantity, price)
            body |= {"price": _str(price), "size": _str(quantity)}
        elif request.side == "buy":
            body["size"] = _str(await self._market_buy_size(market, request))
        else:
            if request.quantity is None:
                raise InvalidOrder(f"a market sell needs a quantity of {market.base}")
            quantity = market.round_quantity(request.quantity)
            market.check_notional(quantity, (await self.fetch_ticker(market.symbol)).price)
            body["size"] = _str(quantity)
        buy_by_quote = request.type == "market" and request.side == "buy"
        data = await self._call("POST", "/api/v2/spot/trade/place-order", body=body, write=True)
        order_id = str(data["orderId"])
        accepted = ExchangeOrder(
            exchange_order_id=order_id,
            client_order_id=request.client_order_id,
            symbol=market.symbol,
            side=request.side,
            type=request.type,
            status="open",
            price=Decimal(body["price"]) if "price" in body else None,
            # A market buy's size is a quote amount.
            quantity=None if buy_by_quote else Decimal(body["size"]),
            created_at=datetime.now(UTC),
            raw=dict(data),
        )
        settled = self._settled(market, order_id, market_order=request.type == "market")
        return await read_back("bitget", settled, accepted)

    async def _market_buy_size(self, market: Market, request: OrderRequest) -> Decimal:
        """Bitget sizes a market buy in the quote asset."""
        decimals = (await self._catalog()).quote_decimals[market.symbol]
        if request.quote_amount is not None:
            amount = request.quote_amount
        elif request.quantity is not None:
            # Asked for a base quantity: converted to the quote amount at the last price, so
            # the fill may differ slightly from the quantity asked for.
            last = (await self.fetch_ticker(market.symbol)).price
            amount = market.round_quantity(request.quantity) * last
        else:
            raise InvalidOrder(f"a market buy needs a quantity of {market.base} or an amount")
        amount = normalized(amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))
        if amount <= 0:
            raise InvalidOrder(f"the amount of {market.quote} to spend rounds to 0")
        if market.min_notional and amount < market.min_notional:
            raise InvalidOrder(
                f"order value {amount} {market.quote} is below the minimum"
                f" {normalized(market.min_notional)} for {market.symbol}"
            )
        return amount

    async def _settled(self, market: Market, order_id: str, *, market_order: bool) -> ExchangeOrder:
        """The order as Bitget reports it just after placement; a market order is given a
        moment to fill so that its fills and fee are in the answer."""
        for attempt in range(5):
            rows = await self._order_info({"orderId": order_id})
            if rows:
                order = await self._with_fee(self._spot_order(rows[0], market), market)
                if not market_order or order.status not in ("open", "partially_filled"):
                    return order
            await asyncio.sleep(0.1 * (attempt + 1))
        raise ExchangeUnavailable(f"Bitget order {order_id} not settled yet")

    async def _create_plan_order(self, market: Market, request: OrderRequest) -> ExchangeOrder:
        if request.stop_price is None or request.quantity is None:
            raise InvalidOrder(f"a {request.type} order needs a quantity and a stop price")
        sell = request.side == "sell"
        trigger = market.round_price(request.stop_price, up=sell)
        limit = market.round_price(request.price, up=sell) if request.price is not None else None
        quantity = market.round_quantity(request.quantity)
        market.check_notional(quantity, limit or trigger)
        body = {
            "symbol": market.exchange_symbol,
            "side": request.side,
            "triggerPrice": _str(trigger),
            "orderType": "limit" if limit is not None else "market",
            "planType": "amount",  # size in the base asset, for buys too
            "size": _str(quantity),
            "triggerType": "fill_price",
            "clientOid": request.client_order_id + PLAN_SUFFIX[request.type],
            "force": "gtc",
        }
        if limit is not None:
            body["executePrice"] = _str(limit)
        data = await self._call(
            "POST", "/api/v2/spot/trade/place-plan-order", body=body, write=True
        )
        return ExchangeOrder(
            exchange_order_id=str(data["orderId"]),
            client_order_id=request.client_order_id,
            symbol=market.symbol,
            side=request.side,
            type=request.type,
            status="open",
            quantity=quantity,
            price=limit,
            created_at=datetime.now(UTC),
            raw={"plan": dict(data), "triggerPrice": _str(trigger)},
        )

    async def create_oco(self, request: OcoRequest) -> list[ExchangeOrder]:
        raise NotSupported(
            "Bitget spot has no one-cancels-the-other orders: place a stop_loss and a"
            " take_profit order instead"
        )

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        order = await self.fetch_order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )
        if order.status not in ("open", "partially_filled"):
            raise InvalidOrder(f"order {order.exchange_order_id} is already {order.status}")
        market = await self._market(symbol)
        plan = order.raw.get("plan")
        spot = order.raw.get("order") if plan is not None else order.raw
        if spot is None:  # a plan not triggered yet
            await self._call(
                "POST",
                "/api/v2/spot/trade/cancel-plan-order",
                body={"orderId": order.exchange_order_id},
                write=True,
            )
            return order.model_copy(update={"status": "canceled"})
        # A spot order, or the spot order a triggered plan became.
        await self._call(
            "POST",
            "/api/v2/spot/trade/cancel-order",
            body={"symbol": market.exchange_symbol, "orderId": str(spot["orderId"])},
            write=True,
        )
        return await self.fetch_order(symbol, exchange_order_id=order.exchange_order_id)

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        market = await self._market(symbol)
        if exchange_order_id is not None:
            query = {"orderId": exchange_order_id}
        elif client_order_id is not None:
            query = {"clientOid": client_order_id}
        else:
            raise ValueError("give exchange_order_id or client_order_id")

        def plan_matches(plan: dict[str, Any]) -> bool:
            if exchange_order_id is not None:
                return str(plan["orderId"]) == exchange_order_id
            return _split_plan_id(plan.get("clientOid"))[0] == client_order_id

        for row in await self._order_info(query):
            if row["symbol"].upper() == market.exchange_symbol.upper():
                return await self._with_fee(self._spot_order(row, market), market)
        plan = await self._find_plan(market, plan_matches)
        if plan is not None:
            return await self._plan_order(plan, market)
        if client_order_id is not None:
            # orderInfo finds a clientOid only while the order is unfilled: look through the
            # recent history too, so a retried placement can adopt a filled order.
            closed = await self._history_order(market, client_order_id)
            if closed is not None:
                return await self._with_fee(self._spot_order(closed, market), market)
        raise OrderNotFound(
            f"Bitget has no order {exchange_order_id or client_order_id} for {symbol}"
        )

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

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        catalog = await self._catalog()
        params = {}
        if symbol is not None:
            params["symbol"] = (await self._market(symbol)).exchange_symbol
        rows = await self._call("GET", "/api/v2/spot/trade/unfilled-orders", params)
        orders = [
            self._spot_order(row, market, open_list=True)
            for row in rows
            if (market := catalog.by_id.get(row["symbol"].upper())) is not None
        ]
        plans = await self._call(
            "GET", "/api/v2/spot/trade/current-plan-order", params | {"limit": str(PAGE)}
        )
        for plan in plans.get("orderList") or []:
            market = catalog.by_id.get(plan["symbol"].upper())
            if market is not None and plan.get("status") in PLAN_OPEN:
                orders.append(await self._plan_order(plan, market))
        return sorted(orders, key=_created)

    async def fetch_closed_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        market = await self._market(symbol)
        now = int(time.time() * 1000)
        start = now - HISTORY_MS + 60_000  # Bitget keeps 90 days
        if since is not None:
            start = max(start, int(since.timestamp() * 1000))
        params = {"symbol": market.exchange_symbol, "limit": str(PAGE), "startTime": str(start)}
        rows = await self._call("GET", "/api/v2/spot/trade/history-orders", params)
        orders = [self._spot_order(row, market) for row in rows]
        orders = [o for o in orders if o.status in ("filled", "canceled", "rejected")]
        position = {o.exchange_order_id: i for i, o in enumerate(orders)}
        plans = await self._call(
            "GET",
            "/api/v2/spot/trade/history-plan-order",
            params | {"endTime": str(now + 60_000)},
        )
        for plan in plans.get("orderList") or []:
            status = plan.get("status")
            if status in PLAN_OPEN:
                continue
            if status in PLAN_EXECUTED:
                # Its spot sub-order is in the history: shown as the stop / take-profit it was.
                spot_id = await self._plan_spot_id(plan["orderId"])
                if spot_id in position:
                    index = position[spot_id]
                    orders[index] = _as_plan(plan, orders[index])
                continue
            orders.append(await self._plan_order(plan, market))
        orders = [await self._with_fee(o, market) for o in orders]
        return sorted(orders, key=_created)[-limit:]

    async def fetch_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[Trade]:
        market = await self._market(symbol)
        params = {"symbol": market.exchange_symbol, "limit": str(max(1, min(limit, PAGE)))}
        if since is not None:
            params["startTime"] = str(int(since.timestamp() * 1000))
        rows = await self._call("GET", "/api/v2/spot/trade/fills", params)
        trades = [_trade(row, market) for row in rows]
        return sorted(trades, key=lambda t: (t.time, t.trade_id))

    # -- order reading -------------------------------------------------------------------

    async def _order_info(self, query: dict[str, str]) -> list[dict[str, Any]]:
        try:
            rows = await self._call("GET", "/api/v2/spot/trade/orderInfo", query)
        except OrderNotFound:
            return []
        return list(rows or [])

    def _spot_order(
        self, row: Mapping[str, Any], market: Market, *, open_list: bool = False
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
                spot = await self._with_fee(self._spot_order(rows[0], market), market)
                return _as_plan(plan, spot)
        return order


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


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def _data(response: httpx.Response, payload: Any) -> Any:
    """The envelope's `data`, or the mapped error."""
    status = response.status_code
    code = str(payload.get("code")) if isinstance(payload, dict) else ""
    message = str(payload.get("msg") or "") if isinstance(payload, dict) else ""
    if status == 429 or code == "429":
        raise RateLimited(
            f"Bitget rate limit: {message or 'Too Many Requests'}",
            retry_after=retry_after(response),
            raw=payload,
        )
    if status >= 500:
        raise ExchangeUnavailable(
            f"Bitget is unavailable (HTTP {status}): {message or response.reason_phrase}",
            raw=payload,
        )
    if not code:
        raise ExchangeError(f"unexpected answer from Bitget (HTTP {status})", raw=payload)
    if code == SUCCESS:
        return payload.get("data")
    raise _error(code, message, payload)


def _error(code: str, message: str, payload: Any) -> ExchangeError:
    """Bitget's error codes mapped to the unified errors, keeping Bitget's own message."""
    text = f"{message} (Bitget {code})"
    lowered = message.lower()
    if code in AUTH_CODES:
        return AuthenticationFailed(f"authentication failed: {text}", raw=payload)
    if code == TIMESTAMP_EXPIRED:
        return ExchangeUnavailable(f"request time rejected, check the clock: {text}", raw=payload)
    if code in INSUFFICIENT_CODES:
        return InsufficientFunds(text, raw=payload)
    if code in DUPLICATE_CODES or ("duplicate" in lowered and "client" in lowered):
        return DuplicateOrder(text, raw=payload)
    if code in NOT_FOUND_CODES:
        return OrderNotFound(text, raw=payload)
    if code in SYMBOL_CODES:
        return UnknownSymbol(text, raw=payload)
    if code in MINIMUM_CODES or code in PARAM_CODES:
        return InvalidOrder(text, raw=payload)
    if code in MAINTENANCE_CODES:
        return ExchangeUnavailable(text, raw=payload)
    return ExchangeError(text, raw=payload)


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))


def _str(value: Decimal) -> str:
    return format(normalized(value), "f")


def _time(value: Any) -> datetime:
    stamp = int(value)
    if stamp < 100_000_000_000:  # some list endpoints answer in seconds
        stamp *= 1000
    return datetime.fromtimestamp(stamp / 1000, UTC)


def _created(order: ExchangeOrder) -> datetime:
    return order.created_at or datetime.min.replace(tzinfo=UTC)
