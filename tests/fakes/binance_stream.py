"""A fake of Binance's combined kline WebSocket stream (`/stream?streams=a/b`) on loopback,
with Binance's message format. The test pushes kline updates (open and closed), drops
connections abruptly, and reads how often the client connected and which streams it asked
for. Kline rows have the REST format, so one history feeds both this stream and the fake
REST klines (tests/fakes/binance_market.py, `MarketState.klines`)."""

import asyncio
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve

INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


def kline_row(
    open_ms: int, interval: str, o: str, h: str, low: str, c: str, v: str = "1.5"
) -> list[Any]:
    """One /api/v3/klines row: [openTime, o, h, l, c, v, closeTime, quoteVolume, trades,
    takerBuyBase, takerBuyQuote, ignore]."""
    quote = str(Decimal(v) * Decimal(c))
    close_ms = open_ms + INTERVAL_MS[interval] - 1
    return [open_ms, o, h, low, c, v, close_ms, quote, 42, "0.5", "0", "0"]


def kline_message(
    symbol: str, interval: str, row: list[Any], *, closed: bool, event_ms: int
) -> dict[str, Any]:
    """What Binance sends on `<symbol>@kline_<interval>` for the candle in `row`."""
    return {
        "stream": f"{symbol.lower()}@kline_{interval}",
        "data": {
            "e": "kline",
            "E": event_ms,
            "s": symbol,
            "k": {
                "t": row[0],
                "T": row[6],
                "s": symbol,
                "i": interval,
                "f": 1000,
                "L": 1041,
                "o": row[1],
                "c": row[4],
                "h": row[2],
                "l": row[3],
                "v": row[5],
                "n": row[8],
                "x": closed,
                "q": row[7],
                "V": row[9],
                "Q": row[10],
                "B": "0",
            },
        },
    }


class FakeKlineStream:
    def __init__(self) -> None:
        self.connections = 0
        self.requested: list[list[str]] = []
        self.url = ""
        self._clients: dict[ServerConnection, set[str]] = {}
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    async def start(self) -> "FakeKlineStream":
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        parts = urlsplit(ws.request.path)
        if parts.path != "/stream":
            await ws.close(1008, "unknown path")
            return
        names = parse_qs(parts.query).get("streams", [""])[0].split("/")
        async with self._changed:
            self.connections += 1
            self.requested.append(names)
            self._clients[ws] = set(names)
            self._changed.notify_all()
        try:
            await ws.wait_closed()
        finally:
            async with self._changed:
                self._clients.pop(ws, None)
                self._changed.notify_all()

    async def wait_connections(self, count: int, timeout: float = 5.0) -> None:
        """Until the client has connected `count` times and is connected now."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.connections >= count and bool(self._clients)),
                timeout,
            )

    async def push(
        self, symbol: str, interval: str, row: list[Any], *, closed: bool, event_ms: int
    ) -> int:
        """Sends one kline event to every connection subscribed to it; returns how many."""
        message = json.dumps(kline_message(symbol, interval, row, closed=closed, event_ms=event_ms))
        stream = f"{symbol.lower()}@kline_{interval}"
        sent = 0
        for ws, names in list(self._clients.items()):
            if stream in names:
                await ws.send(message)
                sent += 1
        return sent

    async def ping(self, timeout: float = 2.0) -> int:
        """Pings every connection as Binance does; returns how many answered in time."""
        waiters = [await ws.ping() for ws in list(self._clients)]
        await asyncio.wait_for(asyncio.gather(*waiters), timeout)
        return len(waiters)

    def drop(self) -> None:
        """Cuts every connection without a closing handshake (a network failure)."""
        for ws in list(self._clients):
            ws.transport.abort()
