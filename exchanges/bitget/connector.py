"""The Bitget spot connector: market data, the account, order placement and management,
and the public entry point."""

import asyncio
import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from exchanges.bitget.client import HISTORY_MS, PAGE, BitgetClient
from exchanges.bitget.parse import (
    PLAN_EXECUTED,
    PLAN_OPEN,
    PLAN_SUFFIX,
    _as_plan,
    _dec,
    _split_plan_id,
    _spot_order,
    _ticker,
    _time,
    _trade,
)
from exchanges.errors import (
    ExchangeUnavailable,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    UnknownSymbol,
)
from exchanges.readback import read_back
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
from trading.format import normalized

DEFAULT_BASE_URL = "https://api.bitget.com"

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


class BitgetConnector(BitgetClient):
    capabilities = Capabilities(
        market_buy_by_quote=True, stop_orders=True, oco=False, batched_tickers=True
    )

    # -- markets -------------------------------------------------------------------------

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
                order = await self._with_fee(_spot_order(rows[0], market), market)
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
                return await self._with_fee(_spot_order(row, market), market)
        plan = await self._find_plan(market, plan_matches)
        if plan is not None:
            return await self._plan_order(plan, market)
        if client_order_id is not None:
            # orderInfo finds a clientOid only while the order is unfilled: look through the
            # recent history too, so a retried placement can adopt a filled order.
            closed = await self._history_order(market, client_order_id)
            if closed is not None:
                return await self._with_fee(_spot_order(closed, market), market)
        raise OrderNotFound(
            f"Bitget has no order {exchange_order_id or client_order_id} for {symbol}"
        )

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        catalog = await self._catalog()
        params = {}
        if symbol is not None:
            params["symbol"] = (await self._market(symbol)).exchange_symbol
        rows = await self._call("GET", "/api/v2/spot/trade/unfilled-orders", params)
        orders = [
            _spot_order(row, market, open_list=True)
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
        orders = [_spot_order(row, market) for row in rows]
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


def _created(order: ExchangeOrder) -> datetime:
    return order.created_at or datetime.min.replace(tzinfo=UTC)


def _str(value: Decimal) -> str:
    return format(normalized(value), "f")
