"""Binance's HTTP transport: signed requests, the server clock, error answers raised."""

from typing import Any
from urllib.parse import urlencode

import httpx

from exchanges.binance.errors import _body, _error
from exchanges.binance.signing import signed_query
from exchanges.errors import ExchangeUnavailable
from exchanges.http import ApiCredentials, Endpoint, transport_errors


class _Transport:
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
            query = signed_query(query, self._credentials.api_secret, timestamp)
            headers["X-MBX-APIKEY"] = self._credentials.api_key
        client = self._endpoint.client
        with transport_errors("binance", write=write):
            if method == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                return await client.post(path, content=query.encode(), headers=headers)
            return await client.request(
                method, f"{path}?{query}" if query else path, headers=headers
            )
