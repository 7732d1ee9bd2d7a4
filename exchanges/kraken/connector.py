"""KrakenConnector: the ExchangeConnector methods on top of KrakenClient's requests.
Orders are sent with `fciq` so the fee is always charged in the quote asset."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges.errors import InvalidOrder, NotSupported, OrderNotFound, UnknownSymbol
from exchanges.kraken.client import KrakenClient
from exchanges.kraken.client_ids import _FREE_TEXT_MAX, to_cl_ord_id
from exchanges.kraken.errors import EXCHANGE
from exchanges.kraken.parse import parse_balances, parse_candles, parse_tickers, parse_trade
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
    floor_to_step,
)
from trading.format import plain

DEFAULT_BASE_URL = "https://api.kraken.com"

INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
# A market order is usually reported closed a moment after AddOrder answers.
SETTLE_POLLS = 5
SETTLE_DELAY = 0.2


class KrakenConnector(KrakenClient):
    capabilities = Capabilities(
        market_buy_by_quote=True,
        stop_orders=True,
        oco=False,
        batched_tickers=True,
        # fciq: the fee is added in quote on top of a buy's cost (0.40 %: the starter
        # taker rate), so a 100 % buy leaves that much room.
        quote_fee_reserve=Decimal("0.004"),
    )

    # -- markets -------------------------------------------------------------------------

    async def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        if reload:
            self._endpoint.forget("markets")
        return dict((await self._catalog()).markets)

    # -- market data ---------------------------------------------------------------------

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._market(symbol)
        ticker = (await self.fetch_tickers([symbol])).get(symbol)
        if ticker is None:
            raise UnknownSymbol(f"{EXCHANGE} has no ticker for {symbol}")
        return ticker

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        catalog = await self._catalog()
        wanted = {s: catalog.markets[s] for s in symbols if s in catalog.markets}
        if not wanted:
            return {}
        pairs = ",".join(m.exchange_symbol for m in wanted.values())
        result = await self._public("Ticker", {"pair": pairs})
        return parse_tickers(result, catalog, wanted)

    async def fetch_candles(
        self, symbol: str, interval: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        market = await self._market(symbol)
        minutes = INTERVAL_MINUTES.get(interval)
        if minutes is None:
            raise InvalidOrder(
                f"unsupported candle interval {interval!r} (use one of"
                f" {', '.join(INTERVAL_MINUTES)})"
            )
        params = {"pair": market.exchange_symbol, "interval": str(minutes)}
        if since is not None:
            # One second earlier in case `since` is exclusive; rows before it are dropped.
            params["since"] = str(int(since.timestamp()) - 1)
        result = await self._public("OHLC", params)
        candles = parse_candles(result, since)
        return candles[:limit] if since is not None else candles[-limit:]

    # -- account -------------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Balance]:
        catalog = await self._catalog()
        result = await self._private("BalanceEx")
        return parse_balances(result, catalog)

    async def test_connection(self) -> str:
        balances = await self.fetch_balances()
        # Kraken grants querying orders separately from funds and trading: without it,
        # fills could not be read back after placing an order.
        open_orders = await self.fetch_open_orders()
        return (
            f"{EXCHANGE}: API key accepted, {len(balances)} assets with a balance,"
            f" {len(open_orders)} open orders"
        )

    # -- orders --------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        market = await self._market(request.symbol)
        params = await self._order_params(request, market)
        result = await self._private("AddOrder", params, write=True)
        txid = str(result["txid"][0])
        accepted = ExchangeOrder(
            exchange_order_id=txid,
            client_order_id=request.client_order_id,
            symbol=market.symbol,
            side=request.side,
            type=request.type,
            status="open",
            quantity=request.quantity,
            price=request.price,
            created_at=datetime.now(UTC),
            raw=dict(result),
        )
        return await read_back(EXCHANGE, self._settled(txid, request), accepted)

    async def _settled(self, txid: str, request: OrderRequest) -> ExchangeOrder:
        """The order just after placement; a market order is given a moment to fill so
        that its fills and fee are in the answer."""
        order = await self._query_order(txid)
        for _ in range(SETTLE_POLLS):
            if request.type != "market" or order.status not in ("open", "partially_filled"):
                break
            await asyncio.sleep(SETTLE_DELAY)
            order = await self._query_order(txid)
        return order

    async def _order_params(self, request: OrderRequest, market: Market) -> list[tuple[str, str]]:
        cl_ord_id = to_cl_ord_id(request.client_order_id)
        if cl_ord_id is None:
            raise InvalidOrder(
                f"client order id {request.client_order_id!r} is neither a UUID nor at most"
                f" {_FREE_TEXT_MAX} characters, as Kraken requires"
            )
        sell = request.side == "sell"
        flags = ["fciq"]
        price: Decimal | None = None
        price2: Decimal | None = None
        if request.type == "market" and request.quantity is None:
            if sell or not request.quote_amount:
                raise InvalidOrder(f"a market {request.side} needs a quantity of {market.base}")
            volume = await self._quote_volume(request.quote_amount, market)
            flags.append("viqc")  # volume in quote currency: market buys only
            kraken_type = "market"
        else:
            if request.quantity is None:
                raise InvalidOrder(f"a {request.type} order needs a quantity of {market.base}")
            volume = market.round_quantity(request.quantity)
            if request.type == "market":
                kraken_type = "market"
                market.check_notional(volume, (await self.fetch_ticker(market.symbol)).price)
            elif request.type == "limit":
                if request.price is None:
                    raise InvalidOrder("a limit order needs a price")
                kraken_type = "limit"
                price = market.round_price(request.price, up=sell)
                market.check_notional(volume, price)
            else:
                if request.stop_price is None:
                    raise InvalidOrder(f"a {request.type} order needs a stop (trigger) price")
                kraken_type = "stop-loss" if request.type == "stop_loss" else "take-profit"
                # Kraken: price = trigger, price2 = limit price once triggered.
                price = market.round_price(request.stop_price, up=sell)
                if request.price is not None:
                    kraken_type += "-limit"
                    price2 = market.round_price(request.price, up=sell)
                market.check_notional(volume, price2 or price)
        params = [
            ("cl_ord_id", cl_ord_id),
            ("oflags", ",".join(flags)),
            ("ordertype", kraken_type),
            ("pair", market.exchange_symbol),
            ("type", request.side),
            ("volume", plain(volume)),
        ]
        if price is not None:
            params.append(("price", plain(price)))
        if price2 is not None:
            params.append(("price2", plain(price2)))
        return params

    async def _quote_volume(self, quote_amount: Decimal, market: Market) -> Decimal:
        decimals = (await self._catalog()).cost_decimals.get(market.symbol, 8)
        amount = floor_to_step(quote_amount, Decimal(1).scaleb(-decimals))
        if amount <= 0 or amount < market.min_notional:
            raise InvalidOrder(
                f"order value {plain(amount)} {market.quote} is below the minimum of"
                f" {plain(market.min_notional)} {market.quote} for {market.symbol}"
            )
        last = (await self.fetch_ticker(market.symbol)).price
        if market.min_qty and amount / last < market.min_qty:
            raise InvalidOrder(
                f"{plain(amount)} {market.quote} buys about {plain(amount / last)}"
                f" {market.base}, below the minimum {plain(market.min_qty)} {market.base}"
                f" for {market.symbol}"
            )
        return amount

    async def create_oco(self, request: OcoRequest) -> list[ExchangeOrder]:
        raise NotSupported(
            f"{EXCHANGE} spot has no one-cancels-the-other orders: place the stop-loss and"
            " the take-profit separately"
        )

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        if exchange_order_id:
            params = [("txid", exchange_order_id)]
        elif client_order_id:
            cl_ord_id = to_cl_ord_id(client_order_id)
            if cl_ord_id is None:
                raise OrderNotFound(f"{EXCHANGE}: no order with client id {client_order_id}")
            params = [("cl_ord_id", cl_ord_id)]
        else:
            raise ValueError("give exchange_order_id or client_order_id")
        await self._private("CancelOrder", params, write=True)
        return await self.fetch_order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        if exchange_order_id:
            order = await self._query_order(exchange_order_id)
        elif client_order_id:
            order = await self._order_by_client_id(client_order_id)
        else:
            raise ValueError("give exchange_order_id or client_order_id")
        if order.symbol != symbol:
            raise OrderNotFound(
                f"{EXCHANGE}: order {order.exchange_order_id} is on {order.symbol}, not {symbol}"
            )
        return order

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        result = await self._private("OpenOrders", [("trades", "true")])
        orders = [await self._to_order(txid, info) for txid, info in result["open"].items()]
        orders.sort(key=lambda o: o.created_at or datetime.min.replace(tzinfo=UTC))
        return [o for o in orders if symbol is None or o.symbol == symbol]

    async def fetch_closed_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        market = await self._market(symbol)
        catalog = await self._catalog()

        def mine(info: dict[str, Any]) -> bool:
            return catalog.by_name.get((info.get("descr") or {}).get("pair", "")) == market

        rows = await self._pages("ClosedOrders", "closed", mine, since, limit, [("trades", "true")])
        rows.sort(key=lambda row: float(row[1].get("closetm") or row[1]["opentm"]))
        rows = rows[:limit] if since is not None else rows[-limit:]
        return [await self._to_order(txid, info) for txid, info in rows]

    async def fetch_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[Trade]:
        market = await self._market(symbol)
        catalog = await self._catalog()

        def mine(info: dict[str, Any]) -> bool:
            return catalog.by_name.get(info.get("pair", "")) == market

        rows = await self._pages("TradesHistory", "trades", mine, since, limit)
        rows.sort(key=lambda row: float(row[1]["time"]))
        rows = rows[:limit] if since is not None else rows[-limit:]
        base_fee_orders = await self._orders_with_base_fee({r[1]["ordertxid"] for r in rows})
        return [parse_trade(trade_id, info, market, base_fee_orders) for trade_id, info in rows]
