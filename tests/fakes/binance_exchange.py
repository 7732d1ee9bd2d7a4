"""A fake Binance spot REST API (v3) on top of the shared Ledger.

Same paths, parameter names, response shapes, error codes and HTTP statuses as the real
API for what the Binance connector and ccxt's binance client use: ping, time,
exchangeInfo, ticker/price, klines, account, order (new / query / cancel), openOrders,
allOrders, myTrades and orderList/oco. Signed requests are checked as Binance does:
HMAC-SHA256 (hex) of the raw query string concatenated with the raw body, `X-MBX-APIKEY`,
and `timestamp` within `recvWindow` of the server clock (`faults.now_ms()`, so clock skew
can be simulated). Like the real exchange, a client order id is refused only while an
order with that id is open.
"""

import hashlib
import hmac
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.faults import FaultMiddleware, Faults
from tests.fakes.ledger import (
    Account,
    FakeMarket,
    FakeOrder,
    Ledger,
    LedgerError,
    OrderType,
)

RATE_LIMIT_BODY = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
    " Please use WebSocket Streams for live updates to avoid polling the API.",
}
SERVER_ERROR_BODY = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}
INSUFFICIENT = "Account has insufficient balance for requested action."
MAX_RECV_WINDOW = 60_000
INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
PLAIN_TYPES = {
    "market": "MARKET",
    "limit": "LIMIT",
    "stop_loss": "STOP_LOSS_LIMIT",
    "take_profit": "TAKE_PROFIT_LIMIT",
}
DECIMAL_PARAM = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
# Binance's own order types -> the ledger's.
LEDGER_TYPES = {
    "MARKET": "market",
    "LIMIT": "limit",
    "LIMIT_MAKER": "limit",
    "STOP_LOSS": "stop_loss",
    "STOP_LOSS_LIMIT": "stop_loss",
    "TAKE_PROFIT": "take_profit",
    "TAKE_PROFIT_LIMIT": "take_profit",
}
STATUS = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED"}


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _status(order: FakeOrder) -> str:
    """A resting order some of which has filled is PARTIALLY_FILLED; canceled, it stays
    CANCELED with its executedQty."""
    if order.status == "open" and order.filled:
        return "PARTIALLY_FILLED"
    return STATUS[order.status]


def _mandatory(name: str) -> ApiError:
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _num(value: Decimal | None) -> str:
    return f"{value or Decimal(0):.8f}"


def _ledger_error(error: LedgerError, *, cancel: bool = False) -> ApiError:
    if error.kind == "insufficient_funds":
        return ApiError(-2010, INSUFFICIENT)
    if error.kind == "duplicate_client_id":
        return ApiError(-2010, "Duplicate order sent.")
    if error.kind == "unknown_symbol":
        return ApiError(-1121, "Invalid symbol.")
    if error.kind in ("lot_size", "min_qty"):
        return ApiError(-1013, "Filter failure: LOT_SIZE")
    if error.kind == "tick_size":
        return ApiError(-1013, "Filter failure: PRICE_FILTER")
    if error.kind == "min_notional":
        return ApiError(-1013, "Filter failure: NOTIONAL")
    if error.kind == "not_found":
        if cancel:
            return ApiError(-2011, "Unknown order sent.")
        return ApiError(-2013, "Order does not exist.")
    return ApiError(-1102, error.message)


@dataclass
class OrderList:
    """An OCO: its legs share one reservation of funds (the ledger would lock it twice)."""

    list_id: int
    client_id: str
    api_key: str
    symbol: str
    order_ids: list[str]
    held: tuple[str, Decimal]  # the reservation the list keeps: (asset, amount)
    done: bool = False
    created_ms: int = 0


@dataclass
class _Params:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise _mandatory(name)
        return value

    def decimal(self, name: str) -> Decimal | None:
        value = self.get(name)
        if value is None:
            return None
        if not DECIMAL_PARAM.match(value):
            raise ApiError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is"
                f" '{DECIMAL_PARAM.pattern}'.",
            )
        number = Decimal(value)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -8:
            raise ApiError(-1111, f"Parameter '{name}' has too much precision.")
        return number

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is"
                " '^[0-9]{1,20}$'.",
            ) from None


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """The raw parameters without `signature=...`, and the signature (Binance signs
    everything else, byte for byte)."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def _parse(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))


def _reservation(
    market: FakeMarket, side: str, quantity: Decimal, price: Decimal | None
) -> tuple[str, Decimal]:
    """What a resting order locks, as the ledger computes it: base for a sell, quote for a
    buy (at its limit, else its stop price)."""
    if side in ("sell", "SELL"):
        return market.base, quantity
    return market.quote, quantity * (price or Decimal(0))


class FakeBinance:
    name = "binance"

    def __init__(self, markets: list[FakeMarket] | None = None) -> None:
        # Binance locks the funds of STOP_LOSS / TAKE_PROFIT orders while they wait.
        self.ledger = Ledger(markets, client_ids_reusable=True, triggers_reserve=True)
        self.faults = Faults()
        # Binance names the pair BTCUSDT; the ledger BTC/USDT.
        self.ids = {m.symbol.replace("/", ""): m.symbol for m in self.ledger.markets.values()}
        # Prices over time, for klines: symbol -> [(ms, price)].
        self.tape: dict[str, list[tuple[int, Decimal]]] = {
            s: [(0, p)] for s, p in self.ledger.prices.items()
        }
        # What the ledger does not model: the exact Binance order type, and OCO lists.
        self.order_types: dict[str, str] = {}
        self.lists: dict[int, OrderList] = {}
        self.list_of: dict[str, int] = {}
        self._list_ids = itertools.count(1)
        self.app = FaultMiddleware(
            self._build(),
            self.faults,
            rate_limit_body=RATE_LIMIT_BODY,
            error_body=SERVER_ERROR_BODY,
            reject=(400, {"code": -2010, "msg": INSUFFICIENT}),
        )

    # -- test controls -----------------------------------------------------------------

    def add_account(self, balances: dict[str, str] | None = None) -> Account:
        return self.ledger.add_account(dict(balances) if balances is not None else None)

    def set_price(self, symbol: str, price: str) -> None:
        self.ledger.set_price(symbol, price)
        self.tape[symbol].append((self.faults.now_ms(), Decimal(price)))
        self._settle_lists()

    # -- request plumbing --------------------------------------------------------------

    async def _params(self, request: Request) -> tuple[_Params, str, str]:
        query = request.scope["query_string"].decode()
        body = (await request.body()).decode()
        values = _parse(body)
        values.update(_parse(query))  # a parameter in both: the query string wins
        return _Params(values), query, body

    async def _signed(self, request: Request) -> tuple[Account, _Params]:
        params, query, body = await self._params(request)
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        account = self.ledger.accounts.get(key)
        if account is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        timestamp = params.integer("timestamp")
        if timestamp is None:
            raise _mandatory("timestamp")
        recv_window = params.integer("recvWindow", 5000)
        assert recv_window is not None
        if recv_window > MAX_RECV_WINDOW:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        server = self.faults.now_ms()
        if timestamp >= server + 1000:
            raise ApiError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server - timestamp > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        signed_query, in_query = _strip_signature(query)
        signed_body, in_body = _strip_signature(body)
        signature = in_query or in_body
        if signature is None:
            raise _mandatory("signature")
        expected = hmac.new(
            account.api_secret.encode(), (signed_query + signed_body).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        self._settle_lists()
        return account, params

    def _market(self, params: _Params) -> FakeMarket:
        symbol = self.ids.get(params.required("symbol"))
        if symbol is None:
            raise ApiError(-1121, "Invalid symbol.")
        return self.ledger.markets[symbol]

    # -- JSON shapes -------------------------------------------------------------------

    def _symbol_info(self, market: FakeMarket) -> dict[str, Any]:
        # ETH/BTC keeps the legacy MIN_NOTIONAL filter, the others the newer NOTIONAL.
        if market.quote == "BTC":
            notional: dict[str, Any] = {
                "filterType": "MIN_NOTIONAL",
                "minNotional": _num(market.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            }
        else:
            notional = {
                "filterType": "NOTIONAL",
                "minNotional": _num(market.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            }
        return {
            "symbol": market.symbol.replace("/", ""),
            "status": "TRADING",
            "baseAsset": market.base,
            "baseAssetPrecision": 8,
            "quoteAsset": market.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _num(market.price_tick),
                    "maxPrice": "1000000.00000000",
                    "tickSize": _num(market.price_tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _num(market.min_qty),
                    "maxQty": "9000.00000000",
                    "stepSize": _num(market.amount_step),
                },
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": "100.00000000",
                    "stepSize": "0.00000000",
                },
                notional,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
        }

    def _order_json(self, order: FakeOrder, *, fills: bool | None = None) -> dict[str, Any]:
        """GET /api/v3/order's shape; `fills` set: POST /api/v3/order's (FULL or RESULT)."""
        # Orders placed through the API keep their Binance type; others (placed on the
        # ledger directly, as from Binance's website) get the plain one for their kind.
        kind = self.order_types.get(order.order_id) or PLAIN_TYPES[order.type]
        data: dict[str, Any] = {
            "symbol": order.symbol.replace("/", ""),
            "orderId": int(order.order_id),
            "orderListId": self.list_of.get(order.order_id, -1),
            "clientOrderId": order.client_id,
        }
        if fills is not None:
            data["transactTime"] = order.created_ms
        data |= {
            "price": _num(order.price),
            "origQty": _num(order.quantity if order.quantity is not None else order.filled),
            "executedQty": _num(order.filled),
            "cummulativeQuoteQty": _num(order.cost),
            "status": _status(order),
            "timeInForce": "GTC",
            "type": kind,
            "side": order.side.upper(),
        }
        if order.stop_price is not None or fills is None:
            data["stopPrice"] = _num(order.stop_price)
        if fills is None:
            data |= {
                "icebergQty": "0.00000000",
                "time": order.created_ms,
                "updateTime": order.updated_ms,
                "isWorking": order.stop_price is None or order.triggered,
            }
        data |= {
            "workingTime": order.created_ms,
            "origQuoteOrderQty": _num(order.quote_amount),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if fills:
            data["fills"] = [
                {
                    "price": _num(t.price),
                    "qty": _num(t.quantity),
                    "commission": _num(t.fee),
                    "commissionAsset": t.fee_asset,
                    "tradeId": t.trade_id,
                }
                for t in order.trades
            ]
        return data

    def _new_order_response(self, order: FakeOrder, resp_type: str) -> dict[str, Any]:
        if resp_type == "ACK":
            return {
                "symbol": order.symbol.replace("/", ""),
                "orderId": int(order.order_id),
                "orderListId": self.list_of.get(order.order_id, -1),
                "clientOrderId": order.client_id,
                "transactTime": order.created_ms,
            }
        return self._order_json(order, fills=resp_type == "FULL")

    # -- orders ------------------------------------------------------------------------

    def _client_id(self, params: _Params, name: str) -> str:
        value = params.get(name)
        if value is None:
            return secrets.token_urlsafe(16)[:22]
        if not CLIENT_ID.match(value):
            raise ApiError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is"
                f" '{CLIENT_ID.pattern}'.",
            )
        return value

    def _would_trigger(self, symbol: str, kind: str, side: str, stop: Decimal) -> bool:
        last = self.ledger.prices[symbol]
        falling = kind.startswith("STOP_LOSS") == (side == "SELL")
        return last <= stop if falling else last >= stop

    def _place(
        self,
        account: Account,
        market: FakeMarket,
        side: str,
        kind: str,
        params: _Params,
        *,
        prefix: str = "",
        quantity: Decimal | None = None,
        client_id: str,
    ) -> FakeOrder:
        """Validates one order's parameters as Binance does and places it in the ledger."""
        ledger_type = LEDGER_TYPES.get(kind)
        if ledger_type is None:
            raise ApiError(-1116, "Invalid orderType.")

        def name(field_name: str) -> str:
            return prefix + field_name[0].upper() + field_name[1:] if prefix else field_name

        price = params.decimal(name("price"))
        stop = params.decimal(name("stopPrice"))
        quote_amount = params.decimal("quoteOrderQty") if not prefix else None
        if quantity is None and not (kind == "MARKET" and quote_amount is not None):
            raise _mandatory("quantity")
        if kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            if price is None:
                raise _mandatory(name("price"))
            if kind != "LIMIT_MAKER" and params.get(name("timeInForce")) is None:
                raise _mandatory(name("timeInForce"))
        elif price is not None:
            raise ApiError(-1106, f"Parameter '{name('price')}' sent when not required.")
        if kind.startswith(("STOP_LOSS", "TAKE_PROFIT")):
            if stop is None:
                raise _mandatory(name("stopPrice"))
            if not prefix and self._would_trigger(market.symbol, kind, side, stop):
                raise ApiError(-2010, "Order would trigger immediately.")
        if kind == "LIMIT_MAKER":
            last = self.ledger.prices[market.symbol]
            assert price is not None
            if (side == "BUY" and price >= last) or (side == "SELL" and price <= last):
                raise ApiError(-2010, "Order would immediately match and take.")
        try:
            order = self.ledger.place(
                account,
                market.symbol,
                "buy" if side == "BUY" else "sell",
                cast(OrderType, ledger_type),
                quantity=quantity,
                quote_amount=quote_amount if quantity is None else None,
                price=price,
                stop_price=stop,
                client_id=client_id,
            )
        except LedgerError as exc:
            raise _ledger_error(exc) from None
        self.order_types[order.order_id] = kind
        return order

    def _side(self, params: _Params) -> str:
        side = params.required("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        return side

    def _find(self, account: Account, params: _Params, symbol: str, *, cancel: bool) -> FakeOrder:
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise ApiError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        # A reused client id: the newest order answers, as on Binance.
        for order in reversed(account.orders.values()):
            matches = order.order_id == order_id if order_id else order.client_id == client_id
            if matches and order.symbol == symbol:
                return order
        raise _ledger_error(LedgerError("not_found", "no such order"), cancel=cancel)

    def _release_list(self, account: Account, order_list: OrderList, finished: FakeOrder) -> None:
        """`finished` left the book through the ledger, which released its own reservation:
        settle that against the list's, then take the sibling legs off without releasing
        again."""
        market = self.ledger.markets[order_list.symbol]
        asset, held = order_list.held
        assert finished.quantity is not None
        _, released = _reservation(
            market, finished.side, finished.quantity, finished.price or finished.stop_price
        )
        account.free[asset] = account.balance(asset) + held - released
        account.locked[asset] = account.locked.get(asset, Decimal(0)) - held + released
        for order_id in order_list.order_ids:
            sibling = account.orders[order_id]
            if sibling.status == "open":
                sibling.status = "canceled"
                sibling.held = None  # the list's reservation, settled above
                sibling.updated_ms = finished.updated_ms
        order_list.done = True

    def _settle_lists(self) -> None:
        for order_list in self.lists.values():
            if order_list.done:
                continue
            account = self.ledger.accounts[order_list.api_key]
            legs = [account.orders[i] for i in order_list.order_ids]
            finished = next((leg for leg in legs if leg.status != "open"), None)
            if finished is not None:
                self._release_list(account, order_list, finished)

    def _place_oco(self, account: Account, params: _Params) -> dict[str, Any]:
        market = self._market(params)
        side = self._side(params)
        quantity = params.decimal("quantity")
        if quantity is None:
            raise _mandatory("quantity")
        above, below = params.required("aboveType"), params.required("belowType")
        takes = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        stops = ("STOP_LOSS", "STOP_LOSS_LIMIT")
        if (side == "SELL" and (above not in takes or below not in stops)) or (
            side == "BUY" and (above not in stops or below not in takes)
        ):
            raise ApiError(-1158, "Order type not supported in OCO.")
        last = self.ledger.prices[market.symbol]
        upper = params.decimal("abovePrice") or params.decimal("aboveStopPrice")
        lower = params.decimal("belowStopPrice") or params.decimal("belowPrice")
        if upper is None or lower is None or not (upper > last > lower):
            raise ApiError(-2010, "The relationship of the prices for the orders is not correct.")
        list_client_id = self._client_id(params, "listClientOrderId")
        below_id = self._client_id(params, "belowClientOrderId")
        above_id = self._client_id(params, "aboveClientOrderId")
        first = self._place(
            account,
            market,
            side,
            below,
            params,
            prefix="below",
            quantity=quantity,
            client_id=below_id,
        )
        held = _reservation(market, side, quantity, first.price or first.stop_price)
        # Both legs share one reservation: place the second on a temporary credit of its own.
        asset, second_lock = _reservation(
            market, side, quantity, params.decimal("abovePrice") or params.decimal("aboveStopPrice")
        )
        account.free[asset] = account.balance(asset) + second_lock
        try:
            second = self._place(
                account,
                market,
                side,
                above,
                params,
                prefix="above",
                quantity=quantity,
                client_id=above_id,
            )
        except ApiError:
            account.free[asset] -= second_lock
            self.ledger.cancel(account, first)
            raise
        account.locked[asset] -= second_lock
        order_list = OrderList(
            next(self._list_ids),
            list_client_id,
            account.api_key,
            market.symbol,
            [first.order_id, second.order_id],
            held,
            created_ms=first.created_ms,
        )
        self.lists[order_list.list_id] = order_list
        for order in (first, second):
            self.list_of[order.order_id] = order_list.list_id
        return {
            "orderListId": order_list.list_id,
            "contingencyType": "OCO",
            "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING",
            "listClientOrderId": list_client_id,
            "transactionTime": order_list.created_ms,
            "symbol": market.symbol.replace("/", ""),
            "orders": [
                {
                    "symbol": market.symbol.replace("/", ""),
                    "orderId": int(o.order_id),
                    "clientOrderId": o.client_id,
                }
                for o in (first, second)
            ],
            "orderReports": [
                self._new_order_response(o, params.get("newOrderRespType") or "FULL")
                for o in (first, second)
            ],
        }

    # -- klines ------------------------------------------------------------------------

    def _klines(self, symbol: str, interval_ms: int, start: int, end: int) -> list[list[Any]]:
        tape = self.tape[symbol]
        rows = []
        last = next((p for t, p in reversed(tape) if t < start), tape[0][1])
        for open_ms in range(start, end + 1, interval_ms):
            ticks = [p for t, p in tape if open_ms <= t < open_ms + interval_ms]
            values = [last, *ticks]
            last = values[-1]
            rows.append(
                [
                    open_ms,
                    _num(values[0]),
                    _num(max(values)),
                    _num(min(values)),
                    _num(values[-1]),
                    "1.00000000",
                    open_ms + interval_ms - 1,
                    _num(values[-1]),
                    len(ticks),
                    "0.50000000",
                    _num(values[-1] / 2),
                    "0",
                ]
            )
        return rows

    # -- the app -----------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(ApiError)
        async def api_error(request: Request, exc: ApiError) -> JSONResponse:
            return JSONResponse({"code": exc.code, "msg": exc.msg}, status_code=exc.status)

        @app.get("/api/v3/ping")
        async def ping() -> dict[str, Any]:
            return {}

        @app.get("/api/v3/time")
        async def server_time() -> dict[str, int]:
            return {"serverTime": self.faults.now_ms()}

        @app.get("/api/v3/exchangeInfo")
        async def exchange_info(request: Request) -> dict[str, Any]:
            params, _, _ = await self._params(request)
            wanted, single = params.get("symbols"), params.get("symbol")
            names: list[str] | None = json.loads(wanted) if wanted else None
            if single is not None:
                names = [single]
            if names is not None and any(n not in self.ids for n in names):
                raise ApiError(-1121, "Invalid symbol.")
            markets = [
                m
                for m in self.ledger.markets.values()
                if names is None or m.symbol.replace("/", "") in names
            ]
            return {
                "timezone": "UTC",
                "serverTime": self.faults.now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "DAY",
                        "intervalNum": 1,
                        "limit": 200000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(m) for m in markets]
                + ([self._halted_symbol()] if names is None else []),
            }

        @app.get("/api/v3/ticker/price")
        async def ticker_price(request: Request) -> Any:
            params, _, _ = await self._params(request)
            if params.get("symbol") is not None:
                market = self._market(params)
                return {
                    "symbol": params.get("symbol"),
                    "price": _num(self.ledger.prices[market.symbol]),
                }
            wanted = params.get("symbols")
            names = json.loads(wanted) if wanted else sorted(self.ids)
            if any(n not in self.ids for n in names):
                raise ApiError(-1121, "Invalid symbol.")
            return [{"symbol": n, "price": _num(self.ledger.prices[self.ids[n]])} for n in names]

        @app.get("/api/v3/klines")
        async def klines(request: Request) -> list[list[Any]]:
            params, _, _ = await self._params(request)
            market = self._market(params)
            interval_ms = INTERVAL_MS.get(params.required("interval"))
            if interval_ms is None:
                raise ApiError(-1120, "Invalid interval.")
            limit = params.integer("limit", 500)
            assert limit is not None
            if not 1 <= limit <= 1000:
                raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
            now = self.faults.now_ms()
            end = min(params.integer("endTime") or now, now) // interval_ms * interval_ms
            start_time = params.integer("startTime")
            if start_time is None:
                start = end - (limit - 1) * interval_ms
            else:
                start = -(-start_time // interval_ms) * interval_ms  # the first open >= startTime
            return self._klines(market.symbol, interval_ms, start, end)[:limit]

        @app.get("/api/v3/account")
        async def account_info(request: Request) -> dict[str, Any]:
            account, params = await self._signed(request)
            assets = sorted(set(account.free) | set(account.locked))
            balances = [
                {
                    "asset": a,
                    "free": _num(account.free.get(a)),
                    "locked": _num(account.locked.get(a)),
                }
                for a in assets
            ]
            if params.get("omitZeroBalances") == "true":
                balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
            return {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0.00000000",
                    "seller": "0.00000000",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self.faults.now_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": int(account.api_key[:8], 16),
            }

        @app.post("/api/v3/order")
        async def new_order(request: Request) -> dict[str, Any]:
            account, params = await self._signed(request)
            market = self._market(params)
            side = self._side(params)
            kind = params.required("type")
            client_id = self._client_id(params, "newClientOrderId")
            order = self._place(
                account,
                market,
                side,
                kind,
                params,
                quantity=params.decimal("quantity"),
                client_id=client_id,
            )
            default = "FULL" if kind in ("MARKET", "LIMIT") else "ACK"
            return self._new_order_response(order, params.get("newOrderRespType") or default)

        @app.get("/api/v3/order")
        async def query_order(request: Request) -> dict[str, Any]:
            account, params = await self._signed(request)
            market = self._market(params)
            return self._order_json(self._find(account, params, market.symbol, cancel=False))

        @app.delete("/api/v3/order")
        async def cancel_order(request: Request) -> dict[str, Any]:
            account, params = await self._signed(request)
            market = self._market(params)
            order = self._find(account, params, market.symbol, cancel=True)
            try:
                self.ledger.cancel(account, order)
            except LedgerError as exc:
                raise _ledger_error(exc, cancel=True) from None
            list_id = self.list_of.get(order.order_id)
            if list_id is not None:  # canceling one leg cancels the whole list
                self._release_list(account, self.lists[list_id], order)
            data = self._order_json(order)
            for key in ("time", "updateTime", "isWorking", "workingTime", "icebergQty"):
                data.pop(key)
            if order.stop_price is None:
                data.pop("stopPrice")
            return {
                "symbol": data.pop("symbol"),
                "origClientOrderId": data.pop("clientOrderId"),
                "orderId": data.pop("orderId"),
                "orderListId": data.pop("orderListId"),
                "clientOrderId": self._client_id(params, "newClientOrderId"),
                "transactTime": order.updated_ms,
                **data,
            }

        @app.get("/api/v3/openOrders")
        async def open_orders(request: Request) -> list[dict[str, Any]]:
            account, params = await self._signed(request)
            symbol = self._market(params).symbol if params.get("symbol") else None
            return [
                self._order_json(o)
                for o in account.orders.values()
                if o.status == "open" and symbol in (None, o.symbol)
            ]

        @app.get("/api/v3/allOrders")
        async def all_orders(request: Request) -> list[dict[str, Any]]:
            account, params = await self._signed(request)
            market = self._market(params)
            orders = [o for o in account.orders.values() if o.symbol == market.symbol]
            return [self._order_json(o) for o in self._window(orders, params, "orderId")]

        @app.get("/api/v3/myTrades")
        async def my_trades(request: Request) -> list[dict[str, Any]]:
            account, params = await self._signed(request)
            market = self._market(params)
            order_id = params.get("orderId")
            rows = [
                (t, o)
                for o in account.orders.values()
                if o.symbol == market.symbol and order_id in (None, o.order_id)
                for t in o.trades
            ]
            rows.sort(key=lambda row: row[0].trade_id)
            return [
                {
                    "symbol": market.symbol.replace("/", ""),
                    "id": t.trade_id,
                    "orderId": int(o.order_id),
                    "orderListId": self.list_of.get(o.order_id, -1),
                    "price": _num(t.price),
                    "qty": _num(t.quantity),
                    "quoteQty": _num(t.price * t.quantity),
                    "commission": _num(t.fee),
                    "commissionAsset": t.fee_asset,
                    "time": t.time_ms,
                    "isBuyer": t.side == "buy",
                    "isMaker": o.type != "market",
                    "isBestMatch": True,
                }
                for t, o in self._window(rows, params, "fromId")
            ]

        @app.post("/api/v3/orderList/oco")
        async def new_oco(request: Request) -> dict[str, Any]:
            account, params = await self._signed(request)
            return self._place_oco(account, params)

        return app

    def _window(self, rows: list[Any], params: _Params, from_name: str) -> list[Any]:
        """allOrders / myTrades paging: `from` id or time bounds give the oldest first;
        otherwise the most recent `limit` rows (ascending either way)."""
        limit = params.integer("limit", 500)
        assert limit is not None
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        start, end = params.integer("startTime"), params.integer("endTime")
        if start is not None and end is not None and end - start > 86_400_000:
            raise ApiError(-1127, "More than 24 hours between startTime and endTime.")

        def ident(row: Any) -> int:
            return row[0].trade_id if isinstance(row, tuple) else int(row.order_id)

        def when(row: Any) -> int:
            return row[0].time_ms if isinstance(row, tuple) else int(row.created_ms)

        from_id = params.integer(from_name)
        if from_id is not None:
            rows = [r for r in rows if ident(r) >= from_id]
        rows = [
            r
            for r in rows
            if (start is None or when(r) >= start) and (end is None or when(r) <= end)
        ]
        if from_id is not None or start is not None:
            return rows[:limit]
        return rows[-limit:]

    @staticmethod
    def _halted_symbol() -> dict[str, Any]:
        """A delisted pair: listed by exchangeInfo, not tradable (the connector skips it)."""
        return {
            "symbol": "LUNAUSDT",
            "status": "BREAK",
            "baseAsset": "LUNA",
            "baseAssetPrecision": 8,
            "quoteAsset": "USDT",
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": False,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "amendAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.00010000",
                    "maxPrice": "1000.00000000",
                    "tickSize": "0.00010000",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.01000000",
                    "maxQty": "900000.00000000",
                    "stepSize": "0.01000000",
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE"],
        }
