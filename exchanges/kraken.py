"""Kraken spot connector (REST v0: `/0/public/*` GET, `/0/private/*` signed form POSTs).

Kraken answers HTTP 200 with its errors in `{"error": [...]}`; a private request carries a
nonce that must grow strictly per API key, so requests of one key are signed and sent one
at a time. Kraken's own names (XXBT, ZUSD, pair XXBTZUSD with altname XBTUSD) are mapped
to unified ones through the Assets and AssetPairs lists. Orders are sent with `fciq` so the
fee is always charged in the quote asset."""

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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
    floor_to_step,
)
from trading.format import plain

DEFAULT_BASE_URL = "https://api.kraken.com"
EXCHANGE = "Kraken"

INTERVAL_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
# Kraken's altnames that differ from everyone else's.
ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
# cancel_only / reduce_only pairs cannot take new orders.
TRADABLE_STATUSES = {"online", "post_only", "limit_only"}
PAGE_SIZE = 50  # ClosedOrders and TradesHistory pages
MAX_PAGES = 20
QUERY_TRADES_MAX = 20  # txids per QueryTrades call
QUERY_ORDERS_MAX = 50  # txids per QueryOrders call
# A market order is usually reported closed a moment after AddOrder answers.
SETTLE_POLLS = 5
SETTLE_DELAY = 0.2

_OUR_CLIENT_ID = re.compile(r"^ab[0-9a-f]{20}$")
_FREE_TEXT_MAX = 18


def sign(secret: bytes, path: str, nonce: int, body: str) -> str:
    """API-Sign: base64(HMAC-SHA512(secret, path + SHA256(nonce + body)))."""
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(secret, path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def to_cl_ord_id(client_order_id: str) -> str | None:
    """Kraken's cl_ord_id is a UUID or at most 18 characters of free text. Our ids ("ab" +
    20 hex, 22 characters) travel as a version-8 UUID that embeds them, so they can be read
    back; None when an id fits neither form."""
    if _OUR_CLIENT_ID.match(client_order_id):
        h = client_order_id[2:]
        # Marker 00ab, version nibble 8 at index 12, variant nibble 8 at index 16.
        hex32 = "00ab" + h[0:8] + "8" + h[8:11] + "8" + h[11:14] + h[14:20] + "000000"
        return str(uuid.UUID(hex=hex32))
    if len(client_order_id) <= _FREE_TEXT_MAX or _is_uuid(client_order_id):
        return client_order_id
    return None


def from_cl_ord_id(cl_ord_id: str | None) -> str | None:
    """The inverse of `to_cl_ord_id`; other ids come back unchanged."""
    if not cl_ord_id or not _is_uuid(cl_ord_id):
        return cl_ord_id or None
    h = uuid.UUID(cl_ord_id).hex
    if h.startswith("00ab") and h[12] == "8" and h[16] == "8" and h.endswith("000000"):
        return "ab" + h[4:12] + h[13:16] + h[17:20] + h[20:26]
    return cl_ord_id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def kraken_error(errors: list[str], response: httpx.Response | None = None) -> ExchangeError:
    """Maps Kraken's error strings (`EOrder:Insufficient funds`) to our hierarchy."""
    text = "; ".join(errors)
    message = f"{EXCHANGE}: {text}"
    if "Insufficient funds" in text:
        return InsufficientFunds(message, raw=errors)
    if any(
        marker in text
        for marker in (
            "EAPI:Invalid key",
            "EAPI:Invalid signature",
            "EAPI:Invalid nonce",
            "EGeneral:Permission denied",
            "EGeneral:Temporary lockout",
            "EAuth:",
            "EAccount:",
        )
    ):
        return AuthenticationFailed(f"authentication failed: {text}", raw=errors)
    if "Rate limit exceeded" in text or "Too many requests" in text:
        wait = retry_after(response) if response is not None else None
        return RateLimited(message, retry_after=wait, raw=errors)
    if "cancel_only" in text or "post_only" in text or "limit_only" in text:
        # "EService:Market in cancel_only mode": a refusal of this order, not an outage.
        return InvalidOrder(message, raw=errors)
    if any(marker in text for marker in ("EService:", "Internal error", "EDatabase:")):
        return ExchangeUnavailable(message, raw=errors)
    if "Unknown asset pair" in text or "Invalid asset pair" in text:
        return UnknownSymbol(message, raw=errors)
    # QueryOrders answers "Invalid order" for a txid it does not know.
    if "EOrder:Unknown order" in text or "EOrder:Invalid order" in text:
        return OrderNotFound(message, raw=errors)
    if "uplicate" in text:
        return DuplicateOrder(message, raw=errors)
    if text.startswith(("EOrder:", "EGeneral:Invalid arguments", "EQuery:")):
        return InvalidOrder(message, raw=errors)
    return ExchangeError(message, raw=errors)


def _unwrap(response: httpx.Response) -> Any:
    """The `result` of Kraken's envelope, or the mapped error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = []
    if isinstance(body, dict):
        # "W..." entries are warnings attached to a successful answer.
        errors = [str(e) for e in body.get("error") or [] if not str(e).startswith("W")]
    detail = f": {'; '.join(errors)}" if errors else ""
    if response.status_code in (418, 429):
        raise RateLimited(
            f"{EXCHANGE} rate limit (HTTP {response.status_code}){detail}",
            retry_after=retry_after(response),
            raw=body,
        )
    if response.status_code >= 500:
        raise ExchangeUnavailable(
            f"{EXCHANGE} answered HTTP {response.status_code}{detail}", raw=body
        )
    if errors:
        raise kraken_error(errors, response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise ExchangeError(f"{EXCHANGE} answered HTTP {response.status_code}{detail}", raw=body)
    return body.get("result")


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


class KrakenConnector:
    capabilities = Capabilities(
        market_buy_by_quote=True,
        stop_orders=True,
        oco=False,
        batched_tickers=True,
        # fciq: the fee is added in quote on top of a buy's cost (0.40 %: the starter
        # taker rate), so a 100 % buy leaves that much room.
        quote_fee_reserve=Decimal("0.004"),
    )

    def __init__(self, endpoint: Endpoint, credentials: ApiCredentials) -> None:
        self._endpoint = endpoint
        self._credentials = credentials

    # -- transport -----------------------------------------------------------------------

    async def _public(self, method: str, params: dict[str, str] | None = None) -> Any:
        with transport_errors(EXCHANGE, write=False):
            response = await self._endpoint.client.get(f"/0/public/{method}", params=params)
        return _unwrap(response)

    async def _private(
        self, method: str, params: list[tuple[str, str]] | None = None, *, write: bool = False
    ) -> Any:
        try:
            return await self._signed(method, params or [], write)
        except AuthenticationFailed as exc:
            if "Invalid nonce" not in exc.message:
                raise
            # Refused before execution (another client of this key may have used a higher
            # nonce): one retry with a fresh nonce is safe, even for an order.
            return await self._signed(method, params or [], write)

    async def _signed(self, method: str, params: list[tuple[str, str]], write: bool) -> Any:
        path = f"/0/private/{method}"
        secret = self._secret()
        source = self._endpoint.nonces(self._credentials.api_key)
        # The nonce is taken and the request answered under the key's lock, so concurrent
        # requests reach Kraken in nonce order.
        async with source.lock:
            nonce = source.take()
            body = urlencode([("nonce", str(nonce)), *params])
            headers = {
                "API-Key": self._credentials.api_key,
                "API-Sign": sign(secret, path, nonce, body),
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            }
            with transport_errors(EXCHANGE, write=write):
                response = await self._endpoint.client.post(
                    path, content=body.encode(), headers=headers
                )
        return _unwrap(response)

    def _secret(self) -> bytes:
        try:
            return base64.b64decode(self._credentials.api_secret, validate=True)
        except (binascii.Error, ValueError):
            raise AuthenticationFailed(
                "authentication failed: the Kraken API secret is not valid base64"
                " (copy the private key again from Kraken)"
            ) from None

    # -- markets -------------------------------------------------------------------------

    async def _catalog(self) -> _Catalog:
        catalog: _Catalog = await self._endpoint.cached("markets", 600, self._load_catalog)
        return catalog

    async def _load_catalog(self) -> _Catalog:
        assets, pairs = await asyncio.gather(self._public("Assets"), self._public("AssetPairs"))
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

    async def _market(self, symbol: str) -> Market:
        market = (await self._catalog()).markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"unknown symbol {symbol} on {EXCHANGE}")
        return market

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
        now = datetime.now(UTC)
        tickers: dict[str, Ticker] = {}
        for name, data in result.items():
            market = catalog.by_name.get(name)
            if market is not None and market.symbol in wanted:
                # "c" is the last trade: [price, lot volume]; Kraken gives no timestamp.
                price = _dec(data["c"][0])
                tickers[market.symbol] = Ticker(symbol=market.symbol, price=price, time=now)
        return tickers

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
        return candles[:limit] if since is not None else candles[-limit:]

    # -- account -------------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Balance]:
        catalog = await self._catalog()
        result = await self._private("BalanceEx")
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

    async def _query_order(self, txid: str) -> ExchangeOrder:
        result = await self._private("QueryOrders", [("txid", txid), ("trades", "true")])
        info = (result or {}).get(txid)
        if info is None:
            raise OrderNotFound(f"{EXCHANGE}: no order {txid}")
        return await self._to_order(txid, info)

    async def _order_by_client_id(self, client_order_id: str) -> ExchangeOrder:
        """Open first, then closed: a retried placement adopts its order even once filled.
        Kraken keeps cl_ord_id unique among open orders only; the newest one wins."""
        cl_ord_id = to_cl_ord_id(client_order_id)
        if cl_ord_id is not None:
            by_id = [("cl_ord_id", cl_ord_id), ("trades", "true")]
            for method, key in (("OpenOrders", "open"), ("ClosedOrders", "closed")):
                found = (await self._private(method, by_id))[key]
                if found:
                    txid, info = max(found.items(), key=lambda item: float(item[1]["opentm"]))
                    return await self._to_order(txid, info)
        raise OrderNotFound(f"{EXCHANGE}: no order with client id {client_order_id}")

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
        return [
            Trade(
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
            for trade_id, info in rows
        ]

    async def _pages(
        self,
        method: str,
        key: str,
        keep: Callable[[dict[str, Any]], bool],
        since: datetime | None,
        limit: int,
        extra: list[tuple[str, str]] | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Pages a newest-first list that has no pair filter. Without `since` the newest
        `limit` matches are enough; with it, every page since then is read."""
        params = list(extra or [])
        if since is not None:
            params.append(("start", str(int(since.timestamp()) - 1)))
        rows: list[tuple[str, dict[str, Any]]] = []
        for page in range(MAX_PAGES):
            result = await self._private(method, [*params, ("ofs", str(page * PAGE_SIZE))])
            entries = result.get(key) or {}
            rows += [(i, info) for i, info in entries.items() if keep(info)]
            done = (page + 1) * PAGE_SIZE >= int(result.get("count") or 0)
            if not entries or done or (since is None and len(rows) >= limit):
                break
        return rows

    async def _orders_with_base_fee(self, txids: set[str]) -> set[str]:
        """Orders placed with `fcib` pay their fee in the base asset; a trade does not say
        which, its order does."""
        wanted = sorted(txids)
        base_fee: set[str] = set()
        for start in range(0, len(wanted), QUERY_ORDERS_MAX):
            chunk = ",".join(wanted[start : start + QUERY_ORDERS_MAX])
            result = await self._private("QueryOrders", [("txid", chunk)])
            base_fee |= {t for t, info in result.items() if "fcib" in _flags(info)}
        return base_fee

    async def _to_order(self, txid: str, info: dict[str, Any]) -> ExchangeOrder:
        catalog = await self._catalog()
        descr = info.get("descr") or {}
        market = catalog.by_name.get(descr.get("pair", ""))
        kraken_type = str(descr.get("ordertype", ""))
        flags = _flags(info)
        if "viqc" in flags:
            # `vol` (and possibly `vol_exec`) are quote amounts here: count the fills.
            quantity = None
            fills = await self._fills(info.get("trades") or [])
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

    async def _fills(self, trade_ids: list[str]) -> list[dict[str, Any]]:
        fills: list[dict[str, Any]] = []
        for start in range(0, len(trade_ids), QUERY_TRADES_MAX):
            chunk = ",".join(trade_ids[start : start + QUERY_TRADES_MAX])
            fills += (await self._private("QueryTrades", [("txid", chunk)])).values()
        return fills


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
