"""Technical indicators on numpy arrays. Each returns arrays aligned with its input, NaN during
the warm-up (and leading NaNs of the input are skipped, so indicators can be chained:
`ema(macd_line, 9)`).

    from strategies import indicators
    fast = indicators.sma(self.closes, 10)
    if indicators.crossed_above(fast, indicators.sma(self.closes, 30)): ...
"""

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Bands(NamedTuple):
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


class Macd(NamedTuple):
    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def sma(values: Any, period: int) -> FloatArray:
    """Simple moving average: mean of the last `period` values."""
    data, period = _series(values), _period(period)
    out = np.full(len(data), np.nan)
    if len(data) >= period:
        out[period - 1 :] = np.lib.stride_tricks.sliding_window_view(data, period).mean(axis=1)
    return out


def ema(values: Any, period: int) -> FloatArray:
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the SMA of the first
    `period` values (the usual charting convention)."""
    data, period = _series(values), _period(period)
    return _smoothed(data, period, 2.0 / (period + 1))


def rsi(values: Any, period: int = 14) -> FloatArray:
    """Wilder's relative strength index (0-100). The first value, at index `period`, averages
    the first `period` gains and losses; later ones use Wilder smoothing (alpha = 1/period)."""
    data, period = _series(values), _period(period)
    out = np.full(len(data), np.nan)
    start = _first_valid(data)
    changes = np.diff(data[start:])
    if len(changes) < period:
        return out
    gain = float(np.clip(changes[:period], 0, None).mean())
    loss = float(np.clip(-changes[:period], 0, None).mean())
    out[start + period] = _rsi_value(gain, loss)
    for index, change in enumerate(changes[period:].tolist(), start=start + period + 1):
        gain = (gain * (period - 1) + max(change, 0.0)) / period
        loss = (loss * (period - 1) + max(-change, 0.0)) / period
        out[index] = _rsi_value(gain, loss)
    return out


def true_range(high: Any, low: Any, close: Any) -> FloatArray:
    """max(high - low, |high - previous close|, |low - previous close|); the first is high - low."""
    highs, lows, closes = _series(high), _series(low), _series(close)
    previous = np.concatenate(([np.nan], closes[:-1]))
    ranges = np.vstack((highs - lows, np.abs(highs - previous), np.abs(lows - previous)))
    return np.asarray(np.nanmax(ranges, axis=0), dtype=np.float64)


def atr(high: Any, low: Any, close: Any, period: int = 14) -> FloatArray:
    """Wilder's average true range. Like TA-Lib, the first value (index `period`) averages the
    true ranges of candles 1..period; later ones use Wilder smoothing."""
    period = _period(period)
    ranges = true_range(high, low, close)
    out = np.full(len(ranges), np.nan)
    if len(ranges) <= period:
        return out
    out[period:] = _smoothed(ranges[1:], period, 1.0 / period)[period - 1 :]
    return out


def bollinger(values: Any, period: int = 20, deviations: float = 2.0) -> Bands:
    """Bollinger bands: SMA middle, +/- `deviations` population standard deviations."""
    data, period = _series(values), _period(period)
    middle = sma(data, period)
    spread = np.full(len(data), np.nan)
    if len(data) >= period:
        windows = np.lib.stride_tricks.sliding_window_view(data, period)
        spread[period - 1 :] = windows.std(axis=1)
    return Bands(middle + deviations * spread, middle, middle - deviations * spread)


def macd(values: Any, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """MACD line (EMA fast - EMA slow), its signal line (EMA of the MACD line) and histogram."""
    data = _series(values)
    line = ema(data, fast) - ema(data, slow)
    signal_line = ema(line, signal)
    return Macd(line, signal_line, line - signal_line)


def crossed_above(first: Any, second: Any) -> bool:
    """True when `first` went from at or below `second` to above it on the last value.
    `second` may be a number (a level)."""
    a, b = _last_two(first, second)
    return bool(a[0] <= b[0] and a[1] > b[1])


def crossed_below(first: Any, second: Any) -> bool:
    """True when `first` went from at or above `second` to below it on the last value."""
    a, b = _last_two(first, second)
    return bool(a[0] >= b[0] and a[1] < b[1])


def _series(values: Any) -> FloatArray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"indicators take a 1-D array (e.g. self.closes), got shape {data.shape}")
    return data


def _period(period: Any) -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"period must be a whole number of at least 1, got {period!r}")
    return int(period)


def _first_valid(data: FloatArray) -> int:
    valid = np.flatnonzero(~np.isnan(data))
    return int(valid[0]) if len(valid) else len(data)


def _smoothed(data: FloatArray, period: int, alpha: float) -> FloatArray:
    """Recursive average seeded with the SMA of the first `period` valid values. A plain loop:
    exact and fast enough on the ~1000 candles a strategy sees."""
    out = np.full(len(data), np.nan)
    start = _first_valid(data)
    if len(data) - start < period:
        return out
    value = float(data[start : start + period].mean())
    out[start + period - 1] = value
    for index, item in enumerate(data[start + period :].tolist(), start=start + period):
        value += alpha * (item - value)
        out[index] = value
    return out


def _rsi_value(gain: float, loss: float) -> float:
    if loss == 0:
        return 50.0 if gain == 0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def _last_two(first: Any, second: Any) -> tuple[FloatArray, FloatArray]:
    a = _series(first)
    level = np.asarray(second, dtype=np.float64)
    b = _series(np.full(len(a), float(level)) if level.ndim == 0 else level)
    if len(a) < 2 or len(b) < 2:
        return np.array([np.nan, np.nan]), np.array([np.nan, np.nan])
    return a[-2:], b[-2:]
