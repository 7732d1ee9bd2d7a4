"""A deterministic simulated market: the price of a symbol is a pure function of time.

Every process (API, workers) computes the same price for the same second without sharing
state. The log-price is a sum of smoothed value-noise octaves whose amplitudes grow like a
random walk's (amplitude ~ sqrt(period)), so charts look like a market, not a sine."""

import hashlib
import math
import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from exchanges.catalog import SIMULATED_START_PRICES
from exchanges.symbols import split_symbol
from exchanges.types import Candle

# (period in seconds, amplitude of the log-price)
_OCTAVES = [(15 * 4**k, 0.0002 * 2**k) for k in range(8)]


def _unit(symbol: str, octave: int, index: int) -> float:
    digest = hashlib.blake2b(f"{symbol}|{octave}|{index}".encode(), digest_size=8).digest()
    (value,) = struct.unpack("<Q", digest)
    return value / 2**63 - 1.0  # [-1, 1)


def _smooth(t: float) -> float:
    return t * t * (3 - 2 * t)


def _log_offset(symbol: str, seconds: float) -> float:
    total = 0.0
    for octave, (period, amplitude) in enumerate(_OCTAVES):
        position = seconds / period
        index = math.floor(position)
        frac = _smooth(position - index)
        a = _unit(symbol, octave, index)
        b = _unit(symbol, octave, index + 1)
        total += amplitude * (a + (b - a) * frac)
    return total


def _start_price(symbol: str) -> float:
    base, quote = split_symbol(symbol)
    base_price = SIMULATED_START_PRICES.get(base)
    if base_price is None:
        # Unknown assets get a stable pseudo-random level between 0.1 and 100.
        base_price = Decimal(str(round(10 ** (3 * (_unit(base, 99, 0) + 1) / 2 - 1), 4)))
    if quote in SIMULATED_START_PRICES:  # e.g. ETH/BTC
        return float(base_price / SIMULATED_START_PRICES[quote])
    return float(base_price)


def simulated_price(symbol: str, at: datetime) -> Decimal:
    seconds = at.timestamp()
    value = _start_price(symbol) * math.exp(_log_offset(symbol, seconds))
    return Decimal(f"{value:.8g}")


def simulated_range(symbol: str, since: datetime, until: datetime) -> tuple[Decimal, Decimal]:
    """Lowest and highest price between two instants (sampled every second, or coarser
    over long gaps), used to decide whether a resting limit order was crossed."""
    span = max((until - since).total_seconds(), 0.0)
    step = max(1.0, span / 20_000)
    samples = [simulated_price(symbol, until)]
    offset = 0.0
    while offset < span:
        samples.append(simulated_price(symbol, since + timedelta(seconds=offset)))
        offset += step
    return min(samples), max(samples)


def simulated_candles(
    symbol: str, interval_seconds: int, since: datetime | None, limit: int, until: datetime
) -> list[Candle]:
    """Candles of the walk, oldest first; the last one is unclosed when `until` is inside it."""
    end = math.floor(until.timestamp() / interval_seconds) * interval_seconds
    start = end - (limit - 1) * interval_seconds
    if since is not None:
        start = max(start, math.ceil(since.timestamp() / interval_seconds) * interval_seconds)
    candles = []
    for open_s in range(int(start), int(end) + 1, interval_seconds):
        opened = datetime.fromtimestamp(open_s, UTC)
        closes = min(opened + timedelta(seconds=interval_seconds), until)
        # Sampling a long candle every second is wasteful: 60 samples are plenty for a chart.
        samples = [
            simulated_price(symbol, opened + (closes - opened) * (i / 60)) for i in range(61)
        ]
        candles.append(
            Candle(
                open_time=opened,
                open=samples[0],
                high=max(samples),
                low=min(samples),
                close=samples[-1],
                volume=Decimal(0),
                closed=opened + timedelta(seconds=interval_seconds) <= until,
            )
        )
    return candles[-limit:]


def now() -> datetime:
    return datetime.now(UTC)
