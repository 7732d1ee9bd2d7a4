"""Binance spot (REST v3).

Signed requests carry `timestamp` (the exchange's clock, see `ServerClock`) and
`recvWindow`, then `signature` = hex HMAC-SHA256 of exactly the bytes sent (query string for
GET/DELETE, form body for POST). Orders are placed with `newOrderRespType=FULL` so market
fills (price, fee) come back in the answer; orders looked up later get their fees from
`myTrades`. Binance refuses a `newClientOrderId` only while that order is open, so callers
must look a client id up (fetch_order) before retrying a placement."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from exchanges.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    UnknownSymbol,
)
from exchanges.http import ApiCredentials, Endpoint, retry_after, transport_errors
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

DEFAULT_BASE_URL = "https://api.binance.com"
RECV_WINDOW = 5000
MARKETS_TTL = 600.0
# A market order's minimum-notional pre-check may use a price this old: Binance itself
# checks market orders against a 5-minute average price.
CHECK_PRICE_TTL = 10.0
MAX_ROWS = 1000
QUOTE_STEP = Decimal("0.00000001")  # quoteOrderQty precision (quoteAssetPrecision 8)
INTERVAL_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
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
AUTH_CODES = {-1002, -1022, -2014, -2015}
UNKNOWN_OUTCOME_CODES = {-1000, -1001, -1006, -1007, -1008}


def sign(secret: str, payload: str) -> str:
    """Binance's signature of `payload` (query string + body, no separator)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _text(value: Decimal) -> str:
    return format(normalized(value), "f")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _time(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _body(response: httpx.Response) -> tuple[Any, int, str]:
    """An error answer's JSON, code and message (code 0 when it is not Binance's JSON)."""
    if response.is_success:
        return None, 0, ""
    try:
        body = response.json()
        return body, int(body.get("code", 0)), str(body.get("msg", ""))
    except (ValueError, AttributeError, TypeError):
        return None, 0, response.text[:200]


def _error(response: httpx.Response) -> ExchangeError:
    """The exchange's answer as one of our errors; the message keeps Binance's own text."""
    body, code, msg = _body(response)
    text = (
        f"binance: {msg} (code {code})" if code else f"binance: HTTP {response.status_code} {msg}"
    )
    if response.status_code in (418, 429) or code in (-1003, -1015):
        return RateLimited(text, retry_after=retry_after(response), raw=body)
    if response.status_code >= 500 or code in UNKNOWN_OUTCOME_CODES:
        return ExchangeUnavailable(f"{text}: the outcome is unknown", raw=body)
    if code in AUTH_CODES:
        return AuthenticationFailed(f"authentication failed: {msg}", raw=body)
    if code == -2010:
        if "insufficient balance" in msg:
            return InsufficientFunds(text, raw=body)
        if "Duplicate order" in msg:
            return DuplicateOrder(text, raw=body)
        return InvalidOrder(text, raw=body)
    if code in (-2013, -2026) or (code == -2011 and "Unknown order" in msg):
        return OrderNotFound(text, raw=body)
    if code == -1121:
        return UnknownSymbol(text, raw=body)
    if code == -1021:
        return ExchangeError(f"{text}: check this machine's clock", raw=body)
    if code <= -1100 or code in (-1013, -1014, -1020, -2011):
        return InvalidOrder(text, raw=body)
    return ExchangeError(text, raw=body)


class BinanceConnector:
    capabilities = Capabilities(
        market_buy_by_quote=True, stop_orders=True, oco=True, batched_tickers=True
    )

    def __init__(self, endpoint: Endpoint, credentials: ApiCredentials) -> None:
        self._endpoint = endpoint
        self._credentials = credentials

    # -- transport ---------------------------------------------------------------------

    async def _server_ms(self) -> int:
        return int((await self._request("GET", "/api/v3/time"))["serverTime"])

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        signed: bool = False,
        write: bool = False,
    ) -> Any:
        response = await self._send(method, path, params or {}, signed=signed, write=write)
        if signed and _body(response)[1] == -1021:
            # Refused for its timestamp, so safe to resend: re-measure the clock offset first.
            self._endpoint.clock.invalidate()
            response = await self._send(method, path, params or {}, signed=signed, write=write)
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise ExchangeUnavailable(
                    f"binance: the answer to {path} is not JSON (HTTP {response.status_code}):"
                    " is the base URL a Binance API?"
                ) from None
        raise _error(response)

    async def _send(
        self, method: str, path: str, params: dict[str, Any], *, signed: bool, write: bool
    ) -> httpx.Response:
        query = urlencode(params)
        headers = {}
        if signed:
            timestamp = await self._endpoint.clock.now_ms(self._server_ms)
            query += f"{'&' if query else ''}recvWindow={RECV_WINDOW}&timestamp={timestamp}"
            query += f"&signature={sign(self._credentials.api_secret, query)}"
            headers["X-MBX-APIKEY"] = self._credentials.api_key
        client = self._endpoint.client
        with transport_errors("binance", write=write):
            if method == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                return await client.post(path, content=query.encode(), headers=headers)
            return await client.request(
                method, f"{path}?{query}" if query else path, headers=headers
            )

    # -- markets -----------------------------------------------------------------------

    async def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        if reload:
            self._endpoint.forget("markets")
        markets: dict[str, Market] = await self._endpoint.cached(
            "markets", MARKETS_TTL, self._fetch_markets
        )
        return markets

    async def _fetch_markets(self) -> dict[str, Market]:
        info = await self._request("GET", "/api/v3/exchangeInfo")
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

    async def _market(self, symbol: str) -> Market:
        market = (await self.load_markets()).get(symbol)
        if market is None:
            raise UnknownSymbol(f"unknown symbol {symbol} on binance")
        return market

    async def _symbols(self) -> dict[str, str]:
        """Binance pair id -> unified symbol."""
        return {m.exchange_symbol: s for s, m in (await self.load_markets()).items()}

    # -- market data -------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        market = await self._market(symbol)
        row = await self._request("GET", "/api/v3/ticker/price", {"symbol": market.exchange_symbol})
        return Ticker(symbol=symbol, price=_dec(row["price"]), time=datetime.now(UTC))

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        markets = await self.load_markets()
        ids = {markets[s].exchange_symbol: s for s in symbols if s in markets}
        if not ids:
            return {}
        # Binance refuses the whole batch for one unknown pair: only known ones are asked.
        wanted = json.dumps(sorted(ids), separators=(",", ":"))
        rows = await self._request("GET", "/api/v3/ticker/price", {"symbols": wanted})
        now = datetime.now(UTC)
        return {
            ids[r["symbol"]]: Ticker(symbol=ids[r["symbol"]], price=_dec(r["price"]), time=now)
            for r in rows
        }

    async def fetch_candles(
        self, symbol: str, interval: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        market = await self._market(symbol)
        step = INTERVAL_MS.get(interval)
        if step is None:
            raise InvalidOrder(f"unsupported candle interval {interval!r}: use {list(INTERVAL_MS)}")
        now = int(time.time() * 1000) + self._endpoint.clock.offset_ms
        start = int(since.timestamp() * 1000) if since else None
        if start is None and limit > MAX_ROWS:
            start = (now // step - limit + 1) * step
        rows: list[list[Any]] = []
        while len(rows) < limit:  # Binance answers at most 1000 rows a request
            params: dict[str, Any] = {"symbol": market.exchange_symbol, "interval": interval}
            params["limit"] = min(MAX_ROWS, limit - len(rows))
            if start is not None:
                params["startTime"] = start
            batch = await self._request("GET", "/api/v3/klines", params)
            rows += batch
            if len(batch) < params["limit"] or start is None:
                break
            start = int(batch[-1][0]) + step
        return [
            Candle(
                open_time=_time(r[0]),
                open=_dec(r[1]),
                high=_dec(r[2]),
                low=_dec(r[3]),
                close=_dec(r[4]),
                volume=_dec(r[5]),
                closed=int(r[6]) < now,
            )
            for r in rows
        ]

    # -- account -----------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Balance]:
        account = await self._request(
            "GET", "/api/v3/account", {"omitZeroBalances": "true"}, signed=True
        )
        balances = {}
        for row in account["balances"]:
            free, locked = _dec(row["free"]), _dec(row["locked"])
            if free or locked:
                balances[row["asset"]] = Balance(
                    asset=row["asset"], free=normalized(free), locked=normalized(locked)
                )
        return balances

    async def test_connection(self) -> str:
        account = await self._request(
            "GET", "/api/v3/account", {"omitZeroBalances": "true"}, signed=True
        )
        trading = "enabled" if account.get("canTrade") else "DISABLED for this API key"
        return (
            f"binance {account.get('accountType', 'SPOT').lower()} account: trading {trading},"
            f" {len(account['balances'])} assets with a balance"
        )

    # -- orders ------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        market = await self._market(request.symbol)
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
                    market.check_notional(quantity, await self._check_price(market))
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
        row = await self._request("POST", "/api/v3/order", params, signed=True, write=True)
        return self._order(row, request.symbol)

    async def _check_price(self, market: Market) -> Decimal:
        async def load() -> Decimal:
            row = await self._request(
                "GET", "/api/v3/ticker/price", {"symbol": market.exchange_symbol}
            )
            return _dec(row["price"])

        price: Decimal = await self._endpoint.cached(
            f"check-price:{market.exchange_symbol}", CHECK_PRICE_TTL, load
        )
        return price

    async def create_oco(self, request: OcoRequest) -> list[ExchangeOrder]:
        """Legs get client ids `<id>-tp` and `<id>-sl`; the list itself is `<id>`."""
        market = await self._market(request.symbol)
        sell = request.side == "sell"
        quantity = market.round_quantity(request.quantity)
        take = market.round_price(request.take_profit_price, up=sell)
        stop = market.round_price(request.stop_price, up=sell)
        stop_limit = market.round_price(request.stop_limit_price or request.stop_price, up=sell)
        market.check_notional(quantity, min(take, stop_limit))
        take_leg = {"Type": "LIMIT_MAKER", "Price": _text(take)}
        take_leg["ClientOrderId"] = f"{request.client_order_id}-tp"
        stop_leg = {
            "Type": "STOP_LOSS_LIMIT",
            "StopPrice": _text(stop),
            "Price": _text(stop_limit),
            "TimeInForce": "GTC",
            "ClientOrderId": f"{request.client_order_id}-sl",
        }
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
        result = await self._request(
            "POST", "/api/v3/orderList/oco", params, signed=True, write=True
        )
        return [self._order(row, request.symbol) for row in result["orderReports"]]

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        params = await self._order_ref(symbol, exchange_order_id, client_order_id)
        row = await self._request("DELETE", "/api/v3/order", params, signed=True, write=True)
        return (await self._with_fees([self._order(row, symbol)], symbol))[0]

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        params = await self._order_ref(symbol, exchange_order_id, client_order_id)
        row = await self._request("GET", "/api/v3/order", params, signed=True)
        return (await self._with_fees([self._order(row, symbol)], symbol))[0]

    async def _order_ref(
        self, symbol: str, exchange_order_id: str | None, client_order_id: str | None
    ) -> dict[str, Any]:
        market = await self._market(symbol)
        if exchange_order_id is not None:
            return {"symbol": market.exchange_symbol, "orderId": exchange_order_id}
        if client_order_id is not None:
            return {"symbol": market.exchange_symbol, "origClientOrderId": client_order_id}
        raise InvalidOrder("give exchange_order_id or client_order_id")

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        params = {"symbol": (await self._market(symbol)).exchange_symbol} if symbol else {}
        rows = await self._request("GET", "/api/v3/openOrders", params, signed=True)
        symbols = await self._symbols()
        orders = [self._order(r, symbols.get(r["symbol"], r["symbol"])) for r in rows]
        by_symbol: dict[str, list[ExchangeOrder]] = {}
        for order in orders:
            by_symbol.setdefault(order.symbol, []).append(order)
        groups = await asyncio.gather(
            *(self._with_fees(group, s) for s, group in by_symbol.items())
        )
        return sorted(
            (o for group in groups for o in group),
            key=lambda o: o.created_at or datetime.min.replace(tzinfo=UTC),
        )

    async def fetch_closed_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        """Among the `limit` most recent orders (or the first since `since`), the closed."""
        market = await self._market(symbol)
        params: dict[str, Any] = {"symbol": market.exchange_symbol, "limit": min(limit, MAX_ROWS)}
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        rows = await self._request("GET", "/api/v3/allOrders", params, signed=True)
        closed = [
            self._order(r, symbol)
            for r in rows
            if STATUSES.get(r["status"]) in ("filled", "canceled", "rejected")
        ]
        return await self._with_fees(closed, symbol)

    async def fetch_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[Trade]:
        market = await self._market(symbol)
        params: dict[str, Any] = {"symbol": market.exchange_symbol, "limit": min(limit, MAX_ROWS)}
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        rows = await self._request("GET", "/api/v3/myTrades", params, signed=True)
        return [self._trade(r, symbol) for r in rows]

    async def _with_fees(self, orders: list[ExchangeOrder], symbol: str) -> list[ExchangeOrder]:
        """Order queries carry no fees: take them from the account's trades. One myTrades
        request covers the common case; an order it did not fully cover gets its own."""
        market = await self._market(symbol)
        missing = [o for o in orders if o.filled_quantity and o.fee_asset is None]
        if not missing:
            return orders
        trades: list[dict[str, Any]] = []
        if len(missing) > 1:
            first = min(int(o.raw.get("time") or 0) for o in missing)
            trades = await self._request(
                "GET",
                "/api/v3/myTrades",
                {"symbol": market.exchange_symbol, "startTime": first, "limit": MAX_ROWS},
                signed=True,
            )
        fixed = {}
        for order in missing:
            own = [t for t in trades if str(t["orderId"]) == order.exchange_order_id]
            if sum((_dec(t["qty"]) for t in own), Decimal(0)) < order.filled_quantity:
                own = await self._request(
                    "GET",
                    "/api/v3/myTrades",
                    {"symbol": market.exchange_symbol, "orderId": order.exchange_order_id},
                    signed=True,
                )
            fee, fee_asset = _fees(own)
            fixed[order.exchange_order_id] = order.model_copy(
                update={"fee": fee, "fee_asset": fee_asset}
            )
        return [fixed.get(o.exchange_order_id, o) for o in orders]

    # -- parsing -----------------------------------------------------------------------

    def _order(self, row: dict[str, Any], symbol: str) -> ExchangeOrder:
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

    def _trade(self, row: dict[str, Any], symbol: str) -> Trade:
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
