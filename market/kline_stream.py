"""Binance's combined kline WebSocket stream: the message format, the stream URL, and one
connection after another for ever (exponential backoff with jitter after a failure, a
planned reconnect before Binance's 24 h cut, another when the wanted streams change).

Binance pings every 20 s and drops a client that does not answer within a minute: the
`websockets` keepalive answers pings by itself, and our own pings detect a dead link."""

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from loguru import logger
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from exchanges.symbols import exchange_symbol
from exchanges.types import Candle
from market.source import INTERVAL_SECONDS

# Our keepalive: a ping every 20 s, the link is dead without a pong 20 s later.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
OPEN_TIMEOUT = 10.0
# Messages buffered while a backfill runs (about two per stream and second).
MAX_QUEUE = 4096
# How often the handler's `tick` runs while connected.
TICK_SECONDS = 0.5


@dataclass(frozen=True, order=True)
class Stream:
    """One symbol (unified, BTC/USDT) and timeframe of the feed."""

    symbol: str
    timeframe: str

    @property
    def name(self) -> str:
        return f"{exchange_symbol(self.symbol).lower()}@kline_{self.timeframe}"

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=INTERVAL_SECONDS[self.timeframe])


def stream_url(ws_url: str, streams: list[Stream]) -> str:
    return f"{ws_url.rstrip('/')}/stream?streams=" + "/".join(s.name for s in streams)


@dataclass(frozen=True)
class KlineEvent:
    stream: str  # btcusdt@kline_1m
    event_time: datetime
    candle: Candle  # closed = Binance's `x`


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def parse_message(raw: str | bytes) -> KlineEvent | None:
    """A combined-stream message; None for anything that is not a kline event."""
    message = json.loads(raw)
    if not isinstance(message, dict):
        return None
    data = message.get("data")
    if not isinstance(data, dict) or data.get("e") != "kline":
        return None
    k = data["k"]
    return KlineEvent(
        stream=str(message.get("stream") or f"{data['s'].lower()}@kline_{k['i']}"),
        event_time=_ms(data["E"]),
        candle=Candle(
            open_time=_ms(k["t"]),
            open=Decimal(k["o"]),
            high=Decimal(k["h"]),
            low=Decimal(k["l"]),
            close=Decimal(k["c"]),
            volume=Decimal(k["v"]),
            closed=bool(k["x"]),
        ),
    )


class Backoff:
    """Exponential delays with jitter (1 s, 2 s, 4 s ... capped), back to the start after a
    healthy connection. Jitter keeps many bots from reconnecting in the same second."""

    def __init__(self, initial: float = 1.0, cap: float = 60.0) -> None:
        self.initial, self.cap = initial, cap
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.initial * 2**self._attempt)
        self._attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


class StreamHandler(Protocol):
    async def on_open(self, streams: list[Stream]) -> None:
        """Connected (messages queue up meanwhile): the time to backfill."""

    async def on_event(self, event: KlineEvent) -> None: ...

    async def on_tick(self) -> bool:
        """Runs about twice a second while connected; True asks for a reconnect (the wanted
        streams changed)."""
        ...

    async def on_close(self, reason: str, *, planned: bool, failures: int, retry_in: float) -> bool:
        """The connection ended: `planned` (24 h cut, new streams: reconnecting at once) or
        failed (`failures` in a row without a healthy connection; retrying in `retry_in`
        seconds). False stops reconnecting."""
        ...


class KlineStream:
    def __init__(self, ws_url: str, *, max_age: float, backoff: Backoff | None = None) -> None:
        self._ws_url = ws_url
        self._max_age = max_age
        self._backoff = backoff or Backoff()

    async def run(
        self, wanted: Callable[[], Awaitable[list[Stream]]], handler: StreamHandler
    ) -> None:
        """Until `handler.on_close` answers False (or the task is cancelled)."""
        failures = 0
        while True:
            streams = await wanted()
            healthy = planned = False
            reason = ""
            try:
                async with connect(
                    stream_url(self._ws_url, streams),
                    open_timeout=OPEN_TIMEOUT,
                    ping_interval=PING_INTERVAL,
                    ping_timeout=PING_TIMEOUT,
                    close_timeout=5,
                    max_queue=MAX_QUEUE,
                ) as ws:
                    loop = asyncio.get_running_loop()
                    cut_at = loop.time() + self._max_age  # Binance counts from the handshake
                    await handler.on_open(streams)
                    next_tick = loop.time() + TICK_SECONDS
                    while True:
                        now = loop.time()
                        if now >= cut_at:
                            reason, planned = "planned reconnect before the 24 h cut", True
                            break
                        try:
                            raw = await asyncio.wait_for(
                                ws.recv(), timeout=max(min(next_tick, cut_at) - now, 0)
                            )
                        except TimeoutError:
                            raw = None
                        if raw is not None and (event := _parsed(raw)) is not None:
                            if not healthy:
                                healthy = True
                                failures = 0
                                self._backoff.reset()
                            await handler.on_event(event)
                        if loop.time() >= next_tick:
                            next_tick = loop.time() + TICK_SECONDS
                            if await handler.on_tick():
                                reason, planned = "the wanted streams changed", True
                                break
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = _describe(exc)
            if planned:
                await handler.on_close(reason, planned=True, failures=0, retry_in=0.0)
                continue
            if not healthy:
                failures += 1
            delay = self._backoff.next_delay()
            if not await handler.on_close(reason, planned=False, failures=failures, retry_in=delay):
                return
            await asyncio.sleep(delay)


def _parsed(raw: str | bytes) -> KlineEvent | None:
    try:
        return parse_message(raw)
    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:  # not a broken link
        logger.warning("kline stream: skipping an unreadable message ({!r})", exc)
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
