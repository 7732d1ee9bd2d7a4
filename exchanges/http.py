"""Shared HTTP plumbing for the native connectors.

One pooled `httpx.AsyncClient` per exchange endpoint (base URL) per process: brokers on the
same endpoint share connections, never credentials — those are applied per request by the
connector. The endpoint also keeps what belongs to the exchange rather than to an account:
the server-clock offset and short-lived public caches (market lists)."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from exchanges.errors import ExchangeUnavailable, NetworkError

CONNECT_TIMEOUT = 5.0
CLOCK_RESYNC_SECONDS = 600.0


@dataclass(frozen=True)
class ApiCredentials:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)


class ServerClock:
    """The exchange's time as seen from here: local time plus a measured offset, so a few
    seconds of local clock drift never produce "timestamp outside recvWindow" errors."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self._synced_at: float | None = None
        self._lock = asyncio.Lock()

    async def now_ms(self, fetch_server_ms: Callable[[], Awaitable[int]]) -> int:
        if self._synced_at is None or time.monotonic() - self._synced_at > CLOCK_RESYNC_SECONDS:
            async with self._lock:
                if self._synced_at is None or (
                    time.monotonic() - self._synced_at > CLOCK_RESYNC_SECONDS
                ):
                    await self._sync(fetch_server_ms)
        return int(time.time() * 1000) + self.offset_ms

    def invalidate(self) -> None:
        """After a timestamp rejection: the next request re-measures the offset."""
        self._synced_at = None

    async def _sync(self, fetch_server_ms: Callable[[], Awaitable[int]]) -> None:
        before = time.time() * 1000
        server_ms = await fetch_server_ms()
        after = time.time() * 1000
        # The server read its clock about halfway through the round trip.
        self.offset_ms = int(server_ms - (before + after) / 2)
        self._synced_at = time.monotonic()


class NonceSource:
    """Strictly increasing nonces for one API key (Kraken). Hold `lock` from `take()` until
    the request is answered, so that concurrent requests also *arrive* in nonce order."""

    def __init__(self) -> None:
        self._last = 0
        self.lock = asyncio.Lock()

    def take(self) -> int:
        # Microseconds: stays above the nonces of earlier processes using the same key.
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last


class Endpoint:
    """One exchange base URL: its pooled client, clock and public caches."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            limits=limits,
            headers={"User-Agent": "aristobot"},
            # httpx's API over aiohttp's transport: measured in bench/connectors.py, the
            # default httpcore transport costs 0.1-0.2 ms more per signed call.
            transport=AiohttpTransport(limits=limits),
        )
        self.clock = ServerClock()
        self._nonces: dict[str, NonceSource] = {}
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cache_locks: dict[str, asyncio.Lock] = {}

    def nonces(self, api_key: str) -> NonceSource:
        return self._nonces.setdefault(api_key, NonceSource())

    async def cached(self, key: str, ttl: float, load: Callable[[], Awaitable[Any]]) -> Any:
        """Public data shared by every broker on this endpoint (market lists)."""
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        async with self._cache_locks.setdefault(key, asyncio.Lock()):
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < ttl:
                return hit[1]
            value = await load()
            self._cache[key] = (time.monotonic(), value)
            return value

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)


class HttpPool:
    """The process's endpoints, created on first use and closed at shutdown."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._endpoints: dict[tuple[str, str], Endpoint] = {}

    def endpoint(self, base_url: str, exchange: str = "") -> Endpoint:
        """Keyed by exchange too: two exchanges behind one proxy URL keep separate market
        caches and clocks."""
        key = (exchange, base_url.rstrip("/"))
        found = self._endpoints.get(key)
        if found is None:
            found = self._endpoints[key] = Endpoint(key[1], self.timeout)
        return found

    async def aclose(self) -> None:
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            await endpoint.client.aclose()


@contextmanager
def transport_errors(exchange: str, *, write: bool) -> Iterator[None]:
    """Maps httpx failures. A write that timed out may have been executed: its outcome is
    unknown, which callers resolve by looking the client order id up before retrying."""
    try:
        yield
    except httpx.TransportError as exc:
        if _nothing_sent(exc):
            # The transport's cause says why ("Name or service not known", "Connect call
            # failed"); it names a host and port, never a credential.
            reason = str(exc.__cause__ or exc) or type(exc).__name__
            raise NetworkError(f"cannot reach {exchange}: {reason}") from exc
        if write:
            raise ExchangeUnavailable(
                f"no answer from {exchange} ({type(exc).__name__}): the order's outcome is unknown"
            ) from exc
        raise NetworkError(f"no answer from {exchange} ({type(exc).__name__})") from exc


def _nothing_sent(exc: httpx.TransportError) -> bool:
    """The connection was never made. The aiohttp transport maps a refused connection and
    one dropped after the request went out to the same ConnectTimeout: its cause tells."""
    if isinstance(exc, httpx.ConnectError | httpx.PoolTimeout):
        return True
    return isinstance(exc.__cause__, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (only the delta-seconds form is used by exchanges)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
