"""Candles for backtests: exact decimal rows, read from a CSV file or given as lists."""

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from strategies.numbers import to_decimal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HEADER = ("timestamp", "open", "high", "low", "close", "volume")


class CandleError(ValueError):
    """A candle file or row is unusable; the message names the line."""


class Candle(NamedTuple):
    time: int  # open time, ms since the epoch (UTC)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def load_candles_csv(path: str | Path) -> list[Candle]:
    """Candles from a CSV with header `timestamp,open,high,low,close,volume`, oldest first;
    `timestamp` is the open time in ms or ISO-8601 (UTC when no offset is given)."""
    name = Path(path).name
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise CandleError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CandleError(f"{name} is not a readable CSV file: {exc}") from None
    if not rows or tuple(cell.strip().lower() for cell in rows[0]) != HEADER:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise CandleError(f"{name} line 1: expected the header {','.join(HEADER)}, got {found}")
    numbered = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(row)]
    if not numbered:
        raise CandleError(f"{name}: no candles after the header")
    return parse_candles(numbered, where=f"{name} line ")


def parse_candles(rows: Iterable[tuple[int, Sequence[Any]]], where: str = "row ") -> list[Candle]:
    """Checked candles from (number, [timestamp, open, high, low, close, volume]) pairs."""
    candles: list[Candle] = []
    for number, row in rows:
        candle = _candle(row, f"{where}{number}")
        if candles and candle.time <= candles[-1].time:
            raise CandleError(
                f"{where}{number}: timestamp {candle.time} is not after the previous one "
                f"({candles[-1].time}); candles must be sorted oldest first, without duplicates"
            )
        candles.append(candle)
    if not candles:
        raise CandleError("no candles to run on")
    return candles


def as_candles(rows: Sequence[Any]) -> list[Candle]:
    """Rows given in code (lists of numbers/strings, or Candle tuples) as checked candles."""
    return parse_candles(enumerate(rows))


def _candle(row: Sequence[Any], where: str) -> Candle:
    if len(row) != len(HEADER):
        raise CandleError(f"{where}: expected 6 values ({','.join(HEADER)}), got {len(row)}")
    time = _timestamp(row[0], where)
    values = []
    for column, value in zip(HEADER[1:], row[1:], strict=True):
        try:
            values.append(to_decimal(value.strip() if isinstance(value, str) else value))
        except ValueError:
            raise CandleError(f"{where}: {column} {value!r} is not a number") from None
    open_, high, low, close, volume = values
    if min(open_, high, low, close) <= 0 or volume < 0:
        raise CandleError(f"{where}: prices must be above 0 and volume not negative")
    if high < max(open_, low, close) or low > min(open_, close):
        raise CandleError(
            f"{where}: high {high} / low {low} do not contain open {open_} and close {close}"
        )
    return Candle(time, open_, high, low, close, volume)


def _timestamp(value: Any, where: str) -> int:
    if isinstance(value, str):
        value = value.strip()
        if value.lstrip("-").isdigit():
            return int(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise CandleError(
                f"{where}: timestamp {value!r} is neither milliseconds nor ISO-8601"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - EPOCH) // timedelta(milliseconds=1)
    try:
        number = to_decimal(value)
    except ValueError:
        raise CandleError(f"{where}: timestamp {value!r} is not a number") from None
    if number != number.to_integral_value():
        raise CandleError(f"{where}: timestamp {value!r} must be whole milliseconds")
    return int(number)


def iso(ms: int) -> str:
    """ISO-8601 UTC with a Z, milliseconds only when there are some."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
