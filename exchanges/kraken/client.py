"""Kraken's REST API as the connector uses it: public GETs, signed private form POSTs, the
cached catalog of pairs and assets, and the readers of orders and trades.

A private request carries a nonce that must grow strictly per API key, so requests of one
key are signed and sent one at a time."""

import asyncio
import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from exchanges.errors import AuthenticationFailed, OrderNotFound, UnknownSymbol
from exchanges.http import ApiCredentials, Endpoint, transport_errors
from exchanges.kraken.client_ids import to_cl_ord_id
from exchanges.kraken.errors import EXCHANGE, _unwrap
from exchanges.kraken.parse import _Catalog, _flags, parse_catalog, parse_order
from exchanges.kraken.signing import sign
from exchanges.types import ExchangeOrder, Market

PAGE_SIZE = 50  # ClosedOrders and TradesHistory pages
MAX_PAGES = 20
QUERY_TRADES_MAX = 20  # txids per QueryTrades call
QUERY_ORDERS_MAX = 50  # txids per QueryOrders call


class KrakenClient:
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
        return parse_catalog(assets, pairs)

    async def _market(self, symbol: str) -> Market:
        market = (await self._catalog()).markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"unknown symbol {symbol} on {EXCHANGE}")
        return market

    # -- orders and trades ---------------------------------------------------------------

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
        # A `viqc` order's amounts are in quote: its fills give the base quantities.
        fills = await self._fills(info.get("trades") or []) if "viqc" in _flags(info) else []
        return parse_order(txid, info, catalog, fills)

    async def _fills(self, trade_ids: list[str]) -> list[dict[str, Any]]:
        fills: list[dict[str, Any]] = []
        for start in range(0, len(trade_ids), QUERY_TRADES_MAX):
            chunk = ",".join(trade_ids[start : start + QUERY_TRADES_MAX])
            fills += (await self._private("QueryTrades", [("txid", chunk)])).values()
        return fills
