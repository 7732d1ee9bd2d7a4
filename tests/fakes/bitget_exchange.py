"""A fake Bitget spot API (REST v2) backed by the shared Ledger.

Same paths, parameter names, envelopes (`{"code":"00000","msg":"success",...}`), error codes
and HTTP statuses as the real API for what the connector uses: server time, symbols,
tickers, candles, assets, place/cancel/orderInfo/unfilled/history orders, fills and plan
(trigger) orders. Private requests are checked like Bitget does: ACCESS-KEY, ACCESS-PASSPHRASE,
ACCESS-TIMESTAMP within 30 s of the fake's clock, and ACCESS-SIGN recomputed from the raw
query string and body received.

Bitget quirks kept on purpose:
- a market buy's `size` is the quote amount to spend;
- `orderInfo?clientOid=` only finds an order while it is unfilled;
- `unfilled-orders` names the order price `priceAvg` and the fill price `basePrice`;
- a plan order records a trigger price only; its direction follows from where the market is
  when it is placed. Once triggered it becomes a spot order with its own id (the sub-order,
  `plan-sub-order`), which is what orderInfo, history-orders and fills show;
- clientOid is unique per account (Ledger default `client_ids_reusable=False`);
- a plan order holds no funds until triggered; one the balance cannot pay for then ends
  `fail_execute`, without a sub-order."""

import base64
import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from typing import Any

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
    plain_decimal,
)

WINDOW_MS = 30_000
QUOTE_PRECISION = 6
DAY_MS = 86_400_000
# granularity -> (milliseconds, offset of the bucket start): Bitget's "1day" starts at UTC+8.
GRANULARITIES = {
    "1min": (60_000, 0),
    "5min": (300_000, 0),
    "15min": (900_000, 0),
    "30min": (1_800_000, 0),
    "1h": (3_600_000, 0),
    "4h": (14_400_000, 0),
    "6h": (21_600_000, 0),
    "12h": (43_200_000, 0),
    "1day": (DAY_MS, -8 * 3_600_000),
    "1Dutc": (DAY_MS, 0),
}
# A delisted pair: listed by public/symbols, never tradable.
OFFLINE_SYMBOL = {"symbol": "LUNAUSDT", "baseCoin": "LUNA", "quoteCoin": "USDT"}

LEDGER_CODES = {
    "insufficient_funds": "43012",
    "duplicate_client_id": "43118",
    "unknown_symbol": "40034",
    "lot_size": "40808",
    "tick_size": "40808",
    "min_notional": "45110",
    "min_qty": "43027",
    "not_found": "43001",
    "bad_request": "40808",
}
PLAN_TYPES = ("stop_loss", "take_profit")


class BitgetError(Exception):
    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _s(value: Decimal | int | None) -> str:
    if value is None:
        return "0"
    return format(Decimal(value).normalize(), "f")


def _decimals(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def _now() -> int:
    return int(time.time() * 1000)


def _envelope(data: Any) -> dict[str, Any]:
    return {"code": "00000", "msg": "success", "requestTime": _now(), "data": data}


class FakeBitget:
    name = "bitget"

    def __init__(self, ledger: Ledger | None = None, faults: Faults | None = None) -> None:
        # Plan orders hold nothing until triggered.
        self.ledger = ledger or Ledger(triggers_reserve=False)
        self.faults = faults or Faults()
        # Every price the market went through: candles are built from it.
        self.tape: list[tuple[int, str, Decimal]] = [
            (0, symbol, price) for symbol, price in self.ledger.prices.items()
        ]
        self._sub_ids: dict[str, str] = {}  # plan order id -> its spot sub-order id
        self._plan_of: dict[str, str] = {}  # spot sub-order id -> plan order id
        self._next_sub = itertools.count(8_000_000_001)
        self.app = FaultMiddleware(
            self._build(),
            self.faults,
            rate_limit_body={
                "code": "429",
                "msg": "Too Many Requests",
                "requestTime": 0,
                "data": None,
            },
            error_body={
                "code": "40015",
                "msg": "System is abnormal, please try again later",
                "requestTime": 0,
                "data": None,
            },
            reject=(
                400,
                {
                    "code": LEDGER_CODES["insufficient_funds"],
                    "msg": "Insufficient balance",
                    "requestTime": 0,
                    "data": None,
                },
            ),
        )

    # -- test controls -----------------------------------------------------------------

    def add_account(self, balances: dict[str, str] | None = None) -> Account:
        return self.ledger.add_account(dict(balances) if balances is not None else None)

    def set_price(self, symbol: str, price: str) -> None:
        self.tape.append((_now(), symbol, Decimal(price)))
        self.ledger.set_price(symbol, price)

    # -- helpers -----------------------------------------------------------------------

    def _market(self, exchange_symbol: str | None) -> FakeMarket:
        for market in self.ledger.markets.values():
            if market.base + market.quote == (exchange_symbol or "").upper():
                return market
        raise BitgetError("40034", f"Parameter {exchange_symbol} does not exist")

    async def _account(self, request: Request) -> Account:
        headers = request.headers
        key, signature = headers.get("ACCESS-KEY"), headers.get("ACCESS-SIGN")
        timestamp, passphrase = headers.get("ACCESS-TIMESTAMP"), headers.get("ACCESS-PASSPHRASE")
        if not key:
            raise BitgetError("40001", "ACCESS_KEY cannot be empty")
        if not signature:
            raise BitgetError("40003", "Signature cannot be empty")
        if not passphrase:
            raise BitgetError("40011", "ACCESS_PASSPHRASE cannot be empty")
        if not timestamp or not timestamp.isdigit():
            raise BitgetError("40005", "Invalid ACCESS_TIMESTAMP")
        account = self.ledger.accounts.get(key)
        if account is None:
            raise BitgetError("40037", "Apikey does not exist")
        if abs(int(timestamp) - self.faults.now_ms()) > WINDOW_MS:
            raise BitgetError("40008", "Request timestamp expired")
        if not hmac.compare_digest(passphrase, account.passphrase):
            raise BitgetError("40012", "apikey/password is incorrect")
        query = request.scope["query_string"].decode()
        body = (await request.body()).decode()
        prehash = timestamp + request.method + request.url.path
        prehash += (f"?{query}" if query else "") + body
        digest = hmac.new(account.api_secret.encode(), prehash.encode(), hashlib.sha256)
        if not hmac.compare_digest(base64.b64encode(digest.digest()).decode(), signature):
            raise BitgetError("40009", "sign signature error")
        return account

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise BitgetError("40808", "Parameter verification exception body") from exc
        if not isinstance(body, dict):
            raise BitgetError("40808", "Parameter verification exception body")
        return body

    @staticmethod
    def _decimal(body: dict[str, Any], name: str, required: bool = True) -> Decimal | None:
        value = body.get(name)
        if value in (None, ""):
            if required:
                raise BitgetError("40019", f"Parameter {name} cannot be empty")
            return None
        number = plain_decimal(value)
        if number is None:  # e.g. 1E-8, or a JSON number instead of a string
            raise BitgetError("40808", f"Parameter verification exception {name}")
        return number

    def _ledger_error(self, exc: LedgerError, market: FakeMarket) -> BitgetError:
        code = LEDGER_CODES[exc.kind]
        messages = {
            "insufficient_funds": "Insufficient balance",
            "duplicate_client_id": "clientOrderId duplicate",
            "min_notional": f"less than the minimum amount {_s(market.min_notional)}"
            f" {market.quote}",
            "min_qty": f"less than the minimum order quantity {_s(market.min_qty)}",
            "not_found": "The order does not exist",
        }
        return BitgetError(code, messages.get(exc.kind, f"Parameter verification exception {exc}"))

    def _sub_id(self, plan: FakeOrder) -> str:
        if plan.order_id not in self._sub_ids:
            sub = str(next(self._next_sub))
            self._sub_ids[plan.order_id] = sub
            self._plan_of[sub] = plan.order_id
        return self._sub_ids[plan.order_id]

    def _spot_orders(self, account: Account) -> list[tuple[str, FakeOrder]]:
        """(spot order id, order): plain orders, and triggered plans as their sub-orders."""
        found = []
        for order in account.orders.values():
            if order.type not in PLAN_TYPES:
                found.append((order.order_id, order))
            elif order.triggered:
                found.append((self._sub_id(order), order))
        return found

    def _plans(self, account: Account) -> list[FakeOrder]:
        return [o for o in account.orders.values() if o.type in PLAN_TYPES]

    @staticmethod
    def _status(order: FakeOrder) -> str:
        if order.status == "filled":
            return "filled"
        if order.status == "canceled":
            return "cancelled"
        return "partially_filled" if order.filled else "live"

    def _spot_fields(self, spot_id: str, order: FakeOrder) -> dict[str, Any]:
        plan = order.type in PLAN_TYPES
        kind = "limit" if order.price is not None and order.type != "market" else "market"
        size = order.quote_amount if order.quantity is None else order.quantity
        return {
            "userId": "1000000001",
            "symbol": order.symbol.replace("/", ""),
            "orderId": spot_id,
            # A triggered plan's sub-order gets a clientOid of Bitget's own.
            "clientOid": spot_id if plan else order.client_id,
            "size": _s(size),
            "orderType": kind,
            "side": order.side,
            "status": self._status(order),
            "baseVolume": _s(order.filled),
            "quoteVolume": _s(order.cost),
            "enterPointSource": "API",
            "orderSource": "market" if kind == "market" else "normal",
            "cTime": str(order.created_ms),
            "uTime": str(order.updated_ms),
        }

    def _order_row(self, spot_id: str, order: FakeOrder) -> dict[str, Any]:
        row = self._spot_fields(spot_id, order)
        fee_detail = ""
        if order.fee_asset is not None:
            fee = float(-order.fee)  # Bitget sends JSON numbers here, negative
            fee_detail = json.dumps(
                {
                    "newFees": {
                        "c": 0,
                        "d": 0,
                        "deduction": False,
                        "r": fee,
                        "t": fee,
                        "totalDeductionFee": 0,
                    },
                    order.fee_asset: {
                        "deduction": False,
                        "feeCoinCode": order.fee_asset,
                        "totalDeductionFee": 0,
                        "totalFee": fee,
                    },
                }
            )
        return row | {
            "price": _s(order.price),
            "priceAvg": _s(order.average_price),
            "feeDetail": fee_detail,
            "cancelReason": "",
        }

    def _open_row(self, spot_id: str, order: FakeOrder) -> dict[str, Any]:
        return self._spot_fields(spot_id, order) | {
            "priceAvg": _s(order.price),
            "basePrice": _s(order.average_price),
            "tpslType": "normal",
            "triggerPrice": None,
        }

    def _plan_row(self, plan: FakeOrder) -> dict[str, Any]:
        if plan.reject_reason is not None:
            status = "fail_execute"  # triggered, but the balance could not pay for it
        elif plan.triggered:
            status = "executed"
        else:
            status = "cancelled" if plan.status == "canceled" else "live"
        return {
            "orderId": plan.order_id,
            "clientOid": plan.client_id,
            "symbol": plan.symbol.replace("/", ""),
            "size": _s(plan.quantity),
            "executePrice": _s(plan.price),
            "triggerPrice": _s(plan.stop_price),
            "status": status,
            "orderType": "limit" if plan.price is not None else "market",
            "side": plan.side,
            "planType": "amount",
            "triggerType": "fill_price",
            "enterPointSource": "API",
            "uTime": str(plan.updated_ms),
            "cTime": str(plan.created_ms),
        }

    def _candles(
        self, symbol: str, granularity: str, start: int | None, end: int | None, limit: int
    ) -> list[list[str]]:
        step, offset = GRANULARITIES[granularity]
        now = _now()
        last_open = (min(end, now) if end else now) - offset
        last_open = last_open // step * step + offset
        if start is not None:
            first = -(-(start - offset) // step) * step + offset
            opens = list(range(first, last_open + 1, step))[:limit]
        else:
            opens = list(range(last_open - (limit - 1) * step, last_open + 1, step))
        tape = [(t, p) for t, s, p in self.tape if s == symbol]
        trades = [
            trade
            for account in self.ledger.accounts.values()
            for order in account.orders.values()
            for trade in order.trades
            if trade.symbol == symbol
        ]
        rows = []
        for opened in opens:
            before = [p for t, p in tape if t < opened]
            inside = [p for t, p in tape if opened <= t < opened + step]
            prices = ([before[-1]] if before else []) + inside
            if not prices:
                continue
            volume = sum(
                (t.quantity for t in trades if opened <= t.time_ms < opened + step), Decimal(0)
            )
            rows.append(
                [
                    str(opened),
                    _s(prices[0]),
                    _s(max(prices)),
                    _s(min(prices)),
                    _s(prices[-1]),
                    _s(volume),
                    _s(volume * prices[-1]),
                    _s(volume * prices[-1]),
                ]
            )
        return rows

    # -- the API -----------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(BitgetError)
        async def bitget_error(request: Request, exc: BitgetError) -> JSONResponse:
            return JSONResponse(
                {"code": exc.code, "msg": exc.msg, "requestTime": _now(), "data": None},
                status_code=exc.status,
            )

        @app.get("/api/v2/public/time")
        async def server_time() -> dict[str, Any]:
            return _envelope({"serverTime": str(self.faults.now_ms())})

        @app.get("/api/v2/spot/public/symbols")
        async def symbols(symbol: str | None = None) -> dict[str, Any]:
            markets = [self._market(symbol)] if symbol else list(self.ledger.markets.values())
            rows = [self._symbol_row(m) for m in markets]
            if not symbol:
                rows.append(self._symbol_row(None))
            return _envelope(rows)

        @app.get("/api/v2/spot/market/tickers")
        async def tickers(symbol: str | None = None) -> dict[str, Any]:
            markets = [self._market(symbol)] if symbol else list(self.ledger.markets.values())
            return _envelope([self._ticker_row(m) for m in markets])

        @app.get("/api/v2/spot/market/candles")
        async def candles(
            symbol: str,
            granularity: str,
            startTime: str | None = None,
            endTime: str | None = None,
            limit: str = "100",
        ) -> dict[str, Any]:
            market = self._market(symbol)
            if granularity not in GRANULARITIES:
                raise BitgetError("40808", "Parameter verification exception granularity")
            count = max(1, min(int(limit), 1000))
            start = int(startTime) if startTime else None
            end = int(endTime) if endTime else None
            return _envelope(self._candles(market.symbol, granularity, start, end, count))

        @app.get("/api/v2/spot/account/assets")
        async def assets(request: Request) -> dict[str, Any]:
            account = await self._account(request)
            coins = sorted(set(account.free) | set(account.locked))
            rows = []
            for coin in coins:
                free, frozen = account.balance(coin), account.locked.get(coin, Decimal(0))
                if free or frozen:
                    rows.append(
                        {
                            "coin": coin,
                            "available": _s(free),
                            "frozen": _s(frozen),
                            "locked": "0",
                            "limitAvailable": "0",
                            "uTime": str(_now()),
                        }
                    )
            return _envelope(rows)

        @app.post("/api/v2/spot/trade/place-order")
        async def place_order(request: Request) -> dict[str, Any]:
            account = await self._account(request)
            body = await self._body(request)
            market = self._market(body.get("symbol"))
            side, kind = body.get("side"), body.get("orderType")
            if side not in ("buy", "sell"):
                raise BitgetError("40808", "Parameter verification exception side")
            if kind not in ("limit", "market"):
                raise BitgetError("40808", "Parameter verification exception orderType")
            size = self._decimal(body, "size")
            assert size is not None
            price = self._decimal(body, "price", required=kind == "limit")
            by_quote = kind == "market" and side == "buy"
            if by_quote and _decimals(size) > QUOTE_PRECISION:
                raise BitgetError(
                    "40808",
                    f"Parameter verification exception size checkBDScale error value={size}"
                    f" checkScale={QUOTE_PRECISION}",
                )
            try:
                order = self.ledger.place(
                    account,
                    market.symbol,
                    side,
                    kind,
                    quantity=None if by_quote else size,
                    quote_amount=size if by_quote else None,
                    price=price if kind == "limit" else None,
                    client_id=body.get("clientOid") or None,
                )
            except LedgerError as exc:
                raise self._ledger_error(exc, market) from exc
            return _envelope({"orderId": order.order_id, "clientOid": order.client_id})

        @app.post("/api/v2/spot/trade/cancel-order")
        async def cancel_order(request: Request) -> dict[str, Any]:
            account = await self._account(request)
            body = await self._body(request)
            market = self._market(body.get("symbol"))
            for spot_id, order in self._spot_orders(account):
                if order.symbol == market.symbol and (
                    spot_id == body.get("orderId")
                    or (body.get("clientOid") and order.client_id == body.get("clientOid"))
                ):
                    try:
                        self.ledger.cancel(account, order)
                    except LedgerError as exc:
                        raise self._ledger_error(exc, market) from exc
                    return _envelope({"orderId": spot_id, "clientOid": order.client_id})
            raise BitgetError("43001", "The order does not exist")

        @app.get("/api/v2/spot/trade/orderInfo")
        async def order_info(
            request: Request,
            orderId: str | None = None,
            clientOid: str | None = None,
        ) -> dict[str, Any]:
            account = await self._account(request)
            if not orderId and not clientOid:
                raise BitgetError("40019", "Parameter orderId cannot be empty")
            for spot_id, order in self._spot_orders(account):
                by_client = (
                    not orderId
                    and order.client_id == clientOid
                    and order.type not in PLAN_TYPES
                    and order.status == "open"
                    and not order.filled
                )
                if spot_id == orderId or by_client:
                    return _envelope([self._order_row(spot_id, order)])
            return _envelope([])

        @app.get("/api/v2/spot/trade/unfilled-orders")
        async def unfilled_orders(
            request: Request, symbol: str | None = None, limit: str = "100"
        ) -> dict[str, Any]:
            account = await self._account(request)
            wanted = self._market(symbol).symbol if symbol else None
            rows = [
                self._open_row(spot_id, order)
                for spot_id, order in self._spot_orders(account)
                if order.status == "open" and wanted in (None, order.symbol)
            ]
            rows.sort(key=lambda r: -int(r["cTime"]))
            return _envelope(rows[: int(limit)])

        @app.get("/api/v2/spot/trade/history-orders")
        async def history_orders(
            request: Request,
            symbol: str | None = None,
            startTime: str | None = None,
            endTime: str | None = None,
            idLessThan: str | None = None,
            limit: str = "100",
        ) -> dict[str, Any]:
            account = await self._account(request)
            wanted = self._market(symbol).symbol if symbol else None
            start, end = int(startTime or 0), int(endTime or 2**62)
            # The page cursor: only orders older than this order id.
            before = int(idLessThan) if idLessThan else 2**62
            rows = [
                self._order_row(spot_id, order)
                for spot_id, order in self._spot_orders(account)
                if order.status != "open"
                and wanted in (None, order.symbol)
                and start <= order.created_ms <= end
                and int(spot_id) < before
            ]
            rows.sort(key=lambda r: -int(r["cTime"]))
            return _envelope(rows[: min(int(limit), 100)])

        @app.get("/api/v2/spot/trade/fills")
        async def fills(
            request: Request,
            symbol: str | None = None,
            orderId: str | None = None,
            startTime: str | None = None,
            limit: str = "100",
        ) -> dict[str, Any]:
            account = await self._account(request)
            wanted = self._market(symbol).symbol if symbol else None
            rows: list[dict[str, Any]] = []
            for spot_id, order in self._spot_orders(account):
                if wanted not in (None, order.symbol) or orderId not in (None, spot_id):
                    continue
                for trade in order.trades:
                    if trade.time_ms < int(startTime or 0):
                        continue
                    rows.append(
                        {
                            "userId": "1000000001",
                            "symbol": trade.symbol.replace("/", ""),
                            "orderId": spot_id,
                            "tradeId": str(trade.trade_id),
                            "orderType": "limit" if order.type == "limit" else "market",
                            "side": trade.side,
                            "priceAvg": _s(trade.price),
                            "size": _s(trade.quantity),
                            "amount": _s(trade.price * trade.quantity),
                            "feeDetail": {
                                "deduction": "no",
                                "feeCoin": trade.fee_asset,
                                "totalDeductionFee": "",
                                "totalFee": _s(-trade.fee),
                            },
                            "tradeScope": "taker",
                            "cTime": str(trade.time_ms),
                            "uTime": str(trade.time_ms),
                        }
                    )
            rows.sort(key=lambda r: -int(r["tradeId"]))
            return _envelope(rows[: min(int(limit), 100)])

        @app.post("/api/v2/spot/trade/place-plan-order")
        async def place_plan_order(request: Request) -> dict[str, Any]:
            account = await self._account(request)
            body = await self._body(request)
            market = self._market(body.get("symbol"))
            side, kind = body.get("side"), body.get("orderType")
            if side not in ("buy", "sell") or kind not in ("limit", "market"):
                raise BitgetError("40808", "Parameter verification exception side/orderType")
            if body.get("planType", "amount") != "amount":
                raise BitgetError("40808", "Parameter verification exception planType")
            if body.get("triggerType") not in ("fill_price", "mark_price"):
                raise BitgetError("40019", "Parameter triggerType cannot be empty")
            trigger = self._decimal(body, "triggerPrice")
            size = self._decimal(body, "size")
            execute = self._decimal(body, "executePrice", required=kind == "limit")
            assert trigger is not None and size is not None
            # The trigger fires when the market reaches it, from wherever it is now.
            last = self.ledger.prices[market.symbol]
            rising = trigger > last
            ledger_type: OrderType = "stop_loss" if rising == (side == "buy") else "take_profit"
            try:
                plan = self.ledger.place(
                    account,
                    market.symbol,
                    side,
                    ledger_type,
                    quantity=size,
                    price=execute if kind == "limit" else None,
                    stop_price=trigger,
                    client_id=body.get("clientOid") or None,
                )
            except LedgerError as exc:
                raise self._ledger_error(exc, market) from exc
            return _envelope({"orderId": plan.order_id, "clientOid": plan.client_id})

        @app.post("/api/v2/spot/trade/cancel-plan-order")
        async def cancel_plan_order(request: Request) -> dict[str, Any]:
            account = await self._account(request)
            body = await self._body(request)
            for plan in self._plans(account):
                wanted = plan.order_id == body.get("orderId") or (
                    body.get("clientOid") and plan.client_id == body.get("clientOid")
                )
                if wanted and plan.status == "open" and not plan.triggered:
                    self.ledger.cancel(account, plan)
                    return _envelope({"result": "success"})
            raise BitgetError("43025", "Plan order does not exist")

        @app.get("/api/v2/spot/trade/current-plan-order")
        async def current_plan_order(
            request: Request, symbol: str | None = None, limit: str = "20"
        ) -> dict[str, Any]:
            account = await self._account(request)
            wanted = self._market(symbol).symbol if symbol else None
            plans = [
                p
                for p in self._plans(account)
                if p.status == "open" and not p.triggered and wanted in (None, p.symbol)
            ]
            return _envelope(self._plan_page(plans, int(limit)))

        @app.get("/api/v2/spot/trade/history-plan-order")
        async def history_plan_order(
            request: Request,
            symbol: str,
            startTime: str,
            endTime: str,
            limit: str = "100",
        ) -> dict[str, Any]:
            account = await self._account(request)
            market = self._market(symbol)
            start, end = int(startTime), int(endTime)
            if end - start > 90 * DAY_MS:
                raise BitgetError("40705", "The start and end time cannot exceed 90 days")
            plans = [
                p
                for p in self._plans(account)
                if p.symbol == market.symbol
                and (p.triggered or p.status != "open")
                and start <= p.created_ms <= end
            ]
            return _envelope(self._plan_page(plans, int(limit)))

        @app.get("/api/v2/spot/trade/plan-sub-order")
        async def plan_sub_order(request: Request, planOrderId: str) -> dict[str, Any]:
            account = await self._account(request)
            for plan in self._plans(account):
                if plan.order_id == planOrderId:
                    if not plan.triggered:
                        return _envelope([])
                    kind = "limit" if plan.price is not None else "market"
                    sub = {
                        "orderId": self._sub_id(plan),
                        "price": _s(plan.price),
                        "type": kind,
                        "status": "success",
                    }
                    return _envelope([sub])
            raise BitgetError("43025", "Plan order does not exist")

        return app

    def _plan_page(self, plans: list[FakeOrder], limit: int) -> dict[str, Any]:
        plans = sorted(plans, key=lambda p: -p.created_ms)[: min(limit, 100)]
        return {
            "nextFlag": False,
            "idLessThan": plans[-1].order_id if plans else "",
            "orderList": [self._plan_row(p) for p in plans],
        }

    def _symbol_row(self, market: FakeMarket | None) -> dict[str, Any]:
        if market is None:
            fields: dict[str, Any] = OFFLINE_SYMBOL | {
                "minTradeAmount": "0",
                "pricePrecision": "4",
                "quantityPrecision": "2",
                "minTradeUSDT": "5",
                "status": "offline",
            }
        else:
            # Bitget states the minimum order value in USDT, whatever the quote asset.
            in_usdt = self.ledger.prices.get(f"{market.quote}/USDT", Decimal(1))
            if market.quote == "USDT":
                in_usdt = Decimal(1)
            fields = {
                "symbol": market.base + market.quote,
                "baseCoin": market.base,
                "quoteCoin": market.quote,
                "minTradeAmount": _s(market.min_qty),
                "pricePrecision": str(_decimals(market.price_tick)),
                "quantityPrecision": str(_decimals(market.amount_step)),
                "minTradeUSDT": _s(market.min_notional * in_usdt),
                "status": "online",
            }
        return fields | {
            "maxTradeAmount": "10000000",
            "takerFeeRate": _s(self.ledger.fee_rate),
            "makerFeeRate": _s(self.ledger.fee_rate),
            "quotePrecision": str(QUOTE_PRECISION),
            "buyLimitPriceRatio": "0.05",
            "sellLimitPriceRatio": "0.05",
            "orderQuantity": "200",
            "areaSymbol": "no",
        }

    def _ticker_row(self, market: FakeMarket) -> dict[str, Any]:
        price = _s(self.ledger.prices[market.symbol])
        return {
            "symbol": market.base + market.quote,
            "high24h": price,
            "open": price,
            "low24h": price,
            "lastPr": price,
            "quoteVolume": "0",
            "baseVolume": "0",
            "usdtVolume": "0",
            "bidPr": price,
            "askPr": price,
            "bidSz": "1",
            "askSz": "1",
            "openUtc": price,
            "ts": str(self.faults.now_ms()),
            "changeUtc24h": "0",
            "change24h": "0",
        }
