"""BinanceConnector: the ExchangeConnector methods on Binance spot REST v3."""

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges.binance.orders import _oco_params, _order_params
from exchanges.binance.parse import (
    STATUSES,
    _balances,
    _candle,
    _dec,
    _fees,
    _markets,
    _order,
    _trade,
)
from exchanges.binance.transport import _Transport
from exchanges.errors import InvalidOrder, UnknownSymbol
from exchanges.types import (
    Balance,
    Candle,
    Capabilities,
    ExchangeOrder,
    Market,
    OcoRequest,
    OrderRequest,
    Ticker,
    Trade,
)

DEFAULT_BASE_URL = "https://api.binance.com"
MARKETS_TTL = 600.0
# A market order's minimum-notional pre-check may use a price this old: Binance itself
# checks market orders against a 5-minute average price.
CHECK_PRICE_TTL = 10.0
MAX_ROWS = 1000
INTERVAL_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


class BinanceConnector(_Transport):
    capabilities = Capabilities(
        market_buy_by_quote=True, stop_orders=True, oco=True, batched_tickers=True
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
        return _markets(info)

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
        return [_candle(r, now) for r in rows]

    # -- account -----------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Balance]:
        account = await self._request(
            "GET", "/api/v3/account", {"omitZeroBalances": "true"}, signed=True
        )
        return _balances(account)

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
        params = await _order_params(request, market, self._check_price)
        row = await self._request("POST", "/api/v3/order", params, signed=True, write=True)
        return _order(row, request.symbol)

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
        params = _oco_params(request, market)
        result = await self._request(
            "POST", "/api/v3/orderList/oco", params, signed=True, write=True
        )
        return [_order(row, request.symbol) for row in result["orderReports"]]

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        params = await self._order_ref(symbol, exchange_order_id, client_order_id)
        row = await self._request("DELETE", "/api/v3/order", params, signed=True, write=True)
        return (await self._with_fees([_order(row, symbol)], symbol))[0]

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        params = await self._order_ref(symbol, exchange_order_id, client_order_id)
        row = await self._request("GET", "/api/v3/order", params, signed=True)
        return (await self._with_fees([_order(row, symbol)], symbol))[0]

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
        orders = [_order(r, symbols.get(r["symbol"], r["symbol"])) for r in rows]
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
            _order(r, symbol)
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
        return [_trade(r, symbol) for r in rows]

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
