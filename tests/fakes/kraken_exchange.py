"""A fake Kraken spot REST API (v0) on top of the shared Ledger.

Same paths, parameter names, envelopes and error strings as Kraken: every answer is HTTP
200 with `{"error": [...], "result": ...}`. It speaks Kraken's own names: assets XXBT /
ZUSD / XXDG, pairs XXBTZUSD (altname XBTUSD), XBTUSDT, XETHXXBT, so a connector has to map
them. Private calls are checked as Kraken does: API-Key, API-Sign recomputed from the raw
body, and a nonce strictly greater than the key's previous one."""

import base64
import hashlib
import hmac
import itertools
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.faults import FaultMiddleware, Faults
from tests.fakes.ledger import (
    DEFAULT_MARKETS,
    Account,
    FakeMarket,
    FakeOrder,
    FakeTrade,
    Ledger,
    LedgerError,
    OrderType,
    plain_decimal,
)

# Unified asset -> (Kraken asset id, altname).
ASSETS = {
    "BTC": ("XXBT", "XBT"),
    "ETH": ("XETH", "ETH"),
    "DOGE": ("XXDG", "XDG"),
    "USD": ("ZUSD", "USD"),
    "EUR": ("ZEUR", "EUR"),
    "USDT": ("USDT", "USDT"),
    "SOL": ("SOL", "SOL"),
}
# Kraken's real BTC/USD filters: lot_decimals 8, tick 0.1, ordermin 0.00005, costmin 0.5.
BTC_USD = FakeMarket(
    "BTC/USD", "BTC", "USD", Decimal("1E-8"), Decimal("0.1"), Decimal("0.00005"), Decimal("0.5")
)
COST_DECIMALS = 5
OHLC_INTERVALS = {1, 5, 15, 30, 60, 240, 1440, 10080, 21600}
PAGE_SIZE = 50
ORDER_TYPES: dict[str, OrderType] = {
    "market": "market",
    "limit": "limit",
    "stop-loss": "stop_loss",
    "stop-loss-limit": "stop_loss",
    "take-profit": "take_profit",
    "take-profit-limit": "take_profit",
}
LEDGER_ERRORS = {
    "insufficient_funds": "EOrder:Insufficient funds",
    "duplicate_client_id": "EOrder:Duplicate order",
    "unknown_symbol": "EQuery:Unknown asset pair",
    "lot_size": "EGeneral:Invalid arguments:volume",
    "tick_size": "EOrder:Tick size check failed",
    "min_notional": "EOrder:Cost minimum not met",
    "min_qty": "EOrder:Order minimum not met",
    "not_found": "EOrder:Unknown order",
    "bad_request": "EGeneral:Invalid arguments",
}


class KrakenError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def asset_id(asset: str) -> str:
    return ASSETS.get(asset, (asset, asset))[0]


def altname(asset: str) -> str:
    return ASSETS.get(asset, (asset, asset))[1]


def pair_names(market: FakeMarket) -> tuple[str, str]:
    """(pair id, altname): legacy pairs of two X/Z assets are named by their ids."""
    base, quote = asset_id(market.base), asset_id(market.quote)
    alt = altname(market.base) + altname(market.quote)
    legacy = all(len(a) == 4 and a[0] in "XZ" for a in (base, quote))
    return (base + quote if legacy else alt), alt


def decimals(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def fmt(value: Decimal | None) -> str:
    if value is None or value == 0:
        return "0"
    return format(value.normalize(), "f")


def _txids() -> Iterator[str]:
    while True:
        yield kraken_id("O")


def kraken_id(prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    parts = ["".join(secrets.choice(alphabet) for _ in range(n)) for n in (5, 5, 6)]
    return prefix + parts[0] + "-" + parts[1] + "-" + parts[2]


class FakeKraken:
    name = "kraken"

    def __init__(self) -> None:
        self.ledger = Ledger(
            [*DEFAULT_MARKETS, BTC_USD],
            fee_in_quote=True,
            client_ids_reusable=True,
            # The ledger's order ids are Kraken txids (OQCLML-BW3P3-BUCMWZ), so tests can
            # compare them with what the connector reports.
            order_ids=_txids(),
            # Stop-loss / take-profit orders hold nothing until triggered.
            triggers_reserve=False,
        )
        self.ledger.prices["BTC/USD"] = Decimal("50000")
        self.faults = Faults()
        self.pairs: dict[str, FakeMarket] = {}  # pair id and altname -> market
        for market in self.ledger.markets.values():
            for pair in pair_names(market):
                self.pairs[pair] = market
        # (time ms, symbol, price): the tape OHLC candles are built from.
        self.tape = [(0, s, p) for s, p in self.ledger.prices.items()]
        self.last_nonce: dict[str, int] = {}
        # Kraken keys get permissions one by one: private methods a key may not call.
        self.denied: dict[str, set[str]] = {}
        # Every accepted private call: (method, parameters without the nonce).
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._oflags: dict[str, str] = {}  # txid -> oflags as Kraken echoes them
        self._trade_ids: dict[int, str] = {}  # ledger trade id -> Kraken trade id
        self._trade_numbers = itertools.count(40_000_000)
        app = FastAPI()
        public: dict[str, Callable[[dict[str, str]], Any]] = {
            "Time": self._time,
            "Assets": self._assets,
            "AssetPairs": self._asset_pairs,
            "Ticker": self._ticker,
            "OHLC": self._ohlc,
        }
        private: dict[str, Callable[[Account, dict[str, str]], Any]] = {
            "Balance": self._balance,
            "BalanceEx": self._balance_ex,
            "AddOrder": self._add_order,
            "CancelOrder": self._cancel_order,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "QueryOrders": self._query_orders,
            "QueryTrades": self._query_trades,
            "TradesHistory": self._trades_history,
        }

        @app.api_route("/0/public/{method}", methods=["GET", "POST"])
        async def public_call(method: str, request: Request) -> JSONResponse:
            params = dict(request.query_params)
            if request.method == "POST":
                params.update(parse_qsl((await request.body()).decode()))
            handler = public.get(method)
            if handler is None:
                return _envelope(error="EGeneral:Unknown method", status=404)
            return _answer(lambda: handler(params))

        @app.post("/0/private/{method}")
        async def private_call(method: str, request: Request) -> JSONResponse:
            handler = private.get(method)
            if handler is None:
                return _envelope(error="EGeneral:Unknown method", status=404)
            raw = await request.body()
            try:
                account, params = self._authenticate(method, request, raw)
            except KrakenError as exc:
                return _envelope(error=exc.error)
            if method in self.denied.get(account.api_key, set()):
                return _envelope(error="EGeneral:Permission denied")
            self.calls.append((method, params))
            return _answer(lambda: handler(account, params))

        self.app = FaultMiddleware(
            app,
            self.faults,
            rate_limit_body={"error": ["EAPI:Rate limit exceeded"]},
            error_body={"error": ["EService:Unavailable"]},
            reject=(200, {"error": [LEDGER_ERRORS["insufficient_funds"]]}),
        )

    # -- test controls -----------------------------------------------------------------

    def add_account(self, balances: dict[str, str] | None = None) -> Account:
        """Kraken's private keys are base64: the connector decodes them before signing."""
        secret = base64.b64encode(secrets.token_bytes(64)).decode()
        return self.ledger.add_account(dict(balances or {"USDT": "10000"}), secret=secret)

    def deny(self, account: Account, *methods: str) -> None:
        """Takes permissions off the account's key (e.g. querying orders)."""
        self.denied.setdefault(account.api_key, set()).update(methods)

    def set_price(self, symbol: str, price: str) -> None:
        self.tape.append((int(time.time() * 1000), symbol, Decimal(price)))
        self.ledger.set_price(symbol, price)

    # -- authentication ----------------------------------------------------------------

    def _authenticate(
        self, method: str, request: Request, raw: bytes
    ) -> tuple[Account, dict[str, str]]:
        account = self.ledger.accounts.get(request.headers.get("API-Key", ""))
        if account is None:
            raise KrakenError("EAPI:Invalid key")
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        nonce_text = params.pop("nonce", "")
        if not nonce_text.isdigit():
            raise KrakenError("EAPI:Invalid nonce")
        digest = hashlib.sha256(nonce_text.encode() + raw).digest()
        expected = base64.b64encode(
            hmac.new(
                base64.b64decode(account.api_secret),
                f"/0/private/{method}".encode() + digest,
                hashlib.sha512,
            ).digest()
        ).decode()
        if not hmac.compare_digest(expected, request.headers.get("API-Sign", "")):
            raise KrakenError("EAPI:Invalid signature")
        nonce = int(nonce_text)
        if nonce <= self.last_nonce.get(account.api_key, 0):
            raise KrakenError("EAPI:Invalid nonce")
        self.last_nonce[account.api_key] = nonce
        return account, params

    # -- public ------------------------------------------------------------------------

    def _time(self, params: dict[str, str]) -> dict[str, Any]:
        now = self.faults.now_ms() // 1000
        stamp = time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))
        return {"unixtime": now, "rfc1123": stamp}

    def _assets(self, params: dict[str, str]) -> dict[str, Any]:
        names = {m.base for m in self.ledger.markets.values()}
        names |= {m.quote for m in self.ledger.markets.values()} | set(ASSETS)
        return {
            asset_id(a): {
                "aclass": "currency",
                "altname": altname(a),
                "decimals": 10,
                "display_decimals": 5,
                "status": "enabled",
            }
            for a in sorted(names)
        }

    def _asset_pairs(self, params: dict[str, str]) -> dict[str, Any]:
        markets = self._markets(params.get("pair"))
        result = {}
        for market in markets:
            pair_id, alt = pair_names(market)
            result[pair_id] = {
                "altname": alt,
                "wsname": f"{altname(market.base)}/{altname(market.quote)}",
                "aclass_base": "currency",
                "base": asset_id(market.base),
                "aclass_quote": "currency",
                "quote": asset_id(market.quote),
                "lot": "unit",
                "cost_decimals": COST_DECIMALS,
                "pair_decimals": decimals(market.price_tick),
                "lot_decimals": decimals(market.amount_step),
                "lot_multiplier": 1,
                "fees": [[0, 0.26], [50000, 0.24]],
                "fees_maker": [[0, 0.16], [50000, 0.14]],
                "fee_volume_currency": "ZUSD",
                "ordermin": fmt(market.min_qty),
                "costmin": fmt(market.min_notional),
                "tick_size": fmt(market.price_tick),
                "status": "online",
            }
        return result

    def _ticker(self, params: dict[str, str]) -> dict[str, Any]:
        result = {}
        for market in self._markets(params.get("pair")):
            price = fmt(self.ledger.prices[market.symbol])
            result[pair_names(market)[0]] = {
                "a": [price, "1", "1.000"],
                "b": [price, "1", "1.000"],
                "c": [price, "0.01000000"],
                "v": ["0", "0"],
                "p": [price, price],
                "t": [0, 0],
                "l": [price, price],
                "h": [price, price],
                "o": price,
            }
        return result

    def _ohlc(self, params: dict[str, str]) -> dict[str, Any]:
        market = self._market(params.get("pair", ""))
        interval = int(params.get("interval", "1"))
        if interval not in OHLC_INTERVALS:
            raise KrakenError("EGeneral:Invalid arguments")
        step = interval * 60
        now = int(time.time()) // step * step
        first = now - 719 * step
        if "since" in params:
            # Committed candles after `since` (exclusive), at most 720 rows.
            first = max(first, (int(params["since"]) // step + 1) * step)
        ticks = [(ms / 1000, p) for ms, s, p in self.tape if s == market.symbol]
        last = [p for t, p in ticks if t < first][-1:] or [ticks[0][1]]
        price = last[0]
        rows = []
        for open_time in range(first, now + 1, step):
            inside = [p for t, p in ticks if open_time <= t < open_time + step]
            values = [price, *inside]
            price = values[-1]
            rows.append(
                [
                    open_time,
                    fmt(values[0]),
                    fmt(max(values)),
                    fmt(min(values)),
                    fmt(price),
                    fmt(price),
                    "1.00000000",
                    len(inside),
                ]
            )
        committed = rows[-2][0] if len(rows) > 1 else first
        return {pair_names(market)[0]: rows, "last": committed}

    # -- private: account --------------------------------------------------------------

    def _balance(self, account: Account, params: dict[str, str]) -> dict[str, str]:
        return {asset_id(a): fmt(t) for a, t in self._totals(account).items()}

    def _balance_ex(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        return {
            asset_id(a): {"balance": fmt(t), "hold_trade": fmt(account.locked.get(a))}
            for a, t in self._totals(account).items()
        }

    @staticmethod
    def _totals(account: Account) -> dict[str, Decimal]:
        assets = set(account.free) | set(account.locked)
        return {
            a: account.free.get(a, Decimal(0)) + account.locked.get(a, Decimal(0))
            for a in sorted(assets)
        }

    # -- private: orders ---------------------------------------------------------------

    def _add_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        market = self._market(params.get("pair", ""))
        side = params.get("type")
        kraken_type = params.get("ordertype", "")
        if side not in ("buy", "sell") or kraken_type not in ORDER_TYPES:
            raise KrakenError("EGeneral:Invalid arguments")
        numbers = {
            n: plain_decimal(params[n]) for n in ("volume", "price", "price2") if n in params
        }
        for name, number in numbers.items():
            if number is None:  # e.g. 1E-8
                raise KrakenError(f"EGeneral:Invalid arguments:{name}")
        volume = numbers.get("volume")
        if volume is None:
            raise KrakenError("EGeneral:Invalid arguments:volume")
        price, price2 = numbers.get("price"), numbers.get("price2")
        flags = [f for f in params.get("oflags", "").split(",") if f]
        cl_ord_id = params.get("cl_ord_id")
        if cl_ord_id is not None and not _valid_cl_ord_id(cl_ord_id):
            raise KrakenError("EGeneral:Invalid arguments:cl_ord_id")
        by_quote = "viqc" in flags
        if by_quote and (kraken_type != "market" or side != "buy"):
            raise KrakenError("EGeneral:Invalid arguments:viqc")
        if by_quote and decimals(volume) > COST_DECIMALS:
            raise KrakenError("EGeneral:Invalid arguments:volume")
        if not by_quote and decimals(volume) > decimals(market.amount_step):
            raise KrakenError("EGeneral:Invalid arguments:volume")
        triggered = kraken_type not in ("market", "limit")
        order = self.ledger.place(
            account,
            market.symbol,
            "buy" if side == "buy" else "sell",
            ORDER_TYPES[kraken_type],
            quantity=None if by_quote else volume,
            quote_amount=volume if by_quote else None,
            price=price2 if triggered else price,
            stop_price=price if triggered else None,
            client_id=cl_ord_id,
        )
        txid = order.order_id
        if not {"fciq", "fcib"} & set(flags):
            flags.append("fciq")  # the ledger charges fees in the quote asset
        self._oflags[txid] = ",".join(flags)
        return {"descr": {"order": self._describe(order)}, "txid": [txid]}

    def _cancel_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        order = None
        if "cl_ord_id" in params:
            order = next(
                (
                    o
                    for o in account.orders.values()
                    if o.client_id == params["cl_ord_id"] and o.status == "open"
                ),
                None,
            )
        elif "txid" in params:
            # Any order of the account, also one placed on Kraken's website.
            order = account.orders.get(params["txid"])
        if order is None or order.status != "open":
            raise KrakenError("EOrder:Unknown order")
        self.ledger.cancel(account, order)
        return {"count": 1, "pending": False}

    def _open_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        orders = self._account_orders(account, params, open_=True)
        return {"open": {o.order_id: self._info(o, params) for o in orders}}

    def _closed_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        orders = self._account_orders(account, params, open_=False)
        if "start" in params:
            orders = [o for o in orders if o.updated_ms / 1000 > float(params["start"])]
        orders.sort(key=lambda o: o.updated_ms, reverse=True)  # newest first
        offset = int(params.get("ofs", "0"))
        page = orders[offset : offset + PAGE_SIZE]
        return {
            "closed": {o.order_id: self._info(o, params) for o in page},
            "count": len(orders),
        }

    def _query_orders(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        txids = [t for t in params.get("txid", "").split(",") if t]
        if not txids:
            raise KrakenError("EGeneral:Invalid arguments")
        result = {}
        for txid in txids:
            order = account.orders.get(txid)  # the ledger's order ids are txids
            if order is None:
                raise KrakenError("EOrder:Invalid order")
            result[txid] = self._info(order, params)
        return result

    def _query_trades(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        wanted = {t for t in params.get("txid", "").split(",") if t}
        trades = {self._trade_id(t): t for t in self._account_trades(account)}
        if not wanted <= set(trades):
            raise KrakenError("EGeneral:Invalid arguments")
        return {tid: self._trade_info(trades[tid]) for tid in sorted(wanted)}

    def _trades_history(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        trades = self._account_trades(account)
        if "start" in params:
            trades = [t for t in trades if t.time_ms / 1000 > float(params["start"])]
        trades.sort(key=lambda t: t.trade_id, reverse=True)  # newest first
        offset = int(params.get("ofs", "0"))
        page = trades[offset : offset + PAGE_SIZE]
        return {
            "trades": {self._trade_id(t): self._trade_info(t) for t in page},
            "count": len(trades),
        }

    # -- helpers -----------------------------------------------------------------------

    def _market(self, pair: str) -> FakeMarket:
        market = self.pairs.get(pair)
        if market is None:
            raise KrakenError("EQuery:Unknown asset pair")
        return market

    def _markets(self, pairs: str | None) -> list[FakeMarket]:
        if not pairs:
            return list(self.ledger.markets.values())
        return [self._market(p) for p in pairs.split(",")]

    def _account_orders(
        self, account: Account, params: dict[str, str], *, open_: bool
    ) -> list[FakeOrder]:
        return [
            o
            for o in account.orders.values()
            if (o.status == "open") == open_ and params.get("cl_ord_id", o.client_id) == o.client_id
        ]

    @staticmethod
    def _account_trades(account: Account) -> list[FakeTrade]:
        return [t for o in account.orders.values() for t in o.trades]

    def _trade_id(self, trade: FakeTrade) -> str:
        if trade.trade_id not in self._trade_ids:
            self._trade_ids[trade.trade_id] = kraken_id("T")
        return self._trade_ids[trade.trade_id]

    def _trade_info(self, trade: FakeTrade) -> dict[str, Any]:
        order = next(
            a.orders[trade.order_id]
            for a in self.ledger.accounts.values()
            if trade.order_id in a.orders
        )
        return {
            "ordertxid": trade.order_id,
            "postxid": kraken_id("T"),
            "pair": pair_names(self.ledger.markets[trade.symbol])[0],
            "time": trade.time_ms / 1000,
            "type": trade.side,
            "ordertype": _kraken_type(order),
            "price": fmt(trade.price),
            "cost": fmt(trade.price * trade.quantity),
            "fee": fmt(trade.fee),
            "vol": fmt(trade.quantity),
            "margin": "0",
            "leverage": "0",
            "misc": "",
            "trade_id": next(self._trade_numbers),
            "maker": order.type != "market",
        }

    def _info(self, order: FakeOrder, params: dict[str, str]) -> dict[str, Any]:
        txid = order.order_id
        market = self.ledger.markets[order.symbol]
        by_quote = order.quantity is None
        kraken_type = _kraken_type(order)
        trigger = order.stop_price if kraken_type not in ("market", "limit") else None
        limit = order.price
        info: dict[str, Any] = {
            "refid": None,
            "userref": 0,
            "status": {"open": "open", "filled": "closed", "canceled": "canceled"}[order.status],
            "opentm": order.created_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": pair_names(market)[1],
                "type": order.side,
                "ordertype": kraken_type,
                "price": fmt(trigger if trigger is not None else limit),
                "price2": fmt(limit if trigger is not None else None),
                "leverage": "none",
                "order": self._describe(order),
                "close": "",
            },
            # A quote-amount (viqc) order counts its volumes in the quote asset.
            "vol": fmt(order.quote_amount if by_quote else order.quantity),
            "vol_exec": fmt(order.cost if by_quote else order.filled),
            "cost": fmt(order.cost),
            "fee": fmt(order.fee),
            "price": fmt(order.average_price),
            "stopprice": "0",
            "limitprice": "0",
            "misc": "",
            # Orders placed on the ledger directly (as from Kraken's website): default flags.
            "oflags": self._oflags.get(txid, "fciq"),
        }
        if order.client_id is not None:
            info["cl_ord_id"] = order.client_id
        if order.status != "open":
            info["closetm"] = order.updated_ms / 1000
        if order.status == "canceled":
            # A triggered order the balance could not pay for is canceled by Kraken.
            info["reason"] = "Insufficient funds" if order.reject_reason else "User requested"
        if params.get("trades") == "true" and order.trades:
            info["trades"] = [self._trade_id(t) for t in order.trades]
        return info

    def _describe(self, order: FakeOrder) -> str:
        market = self.ledger.markets[order.symbol]
        volume = order.quote_amount if order.quantity is None else order.quantity
        text = f"{order.side} {fmt(volume)} {pair_names(market)[1]} @ "
        if order.type == "market":
            return text + "market"
        if order.type == "limit":
            return text + f"limit {fmt(order.price)}"
        text += f"{order.type.replace('_', ' ')} {fmt(order.stop_price)}"
        return text + (f" -> limit {fmt(order.price)}" if order.price is not None else "")


def _kraken_type(order: FakeOrder) -> str:
    if order.type in ("market", "limit"):
        return order.type
    kind = order.type.replace("_", "-")
    return kind + "-limit" if order.price is not None else kind


def _valid_cl_ord_id(value: str) -> bool:
    """A UUID (long or short form) or free text of at most 18 characters."""
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return 0 < len(value) <= 18


def _answer(call: Callable[[], Any]) -> JSONResponse:
    try:
        result = call()
    except KrakenError as exc:
        return _envelope(error=exc.error)
    except LedgerError as exc:
        return _envelope(error=LEDGER_ERRORS[exc.kind])
    return _envelope(result=result)


def _envelope(*, result: Any = None, error: str | None = None, status: int = 200) -> JSONResponse:
    if error is not None:
        return JSONResponse({"error": [error]}, status_code=status)
    return JSONResponse({"error": [], "result": result}, status_code=status)
