"""Exact number handling shared by the SDK, the engine and the backtest."""

import math
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

import numpy as np


def is_number(value: Any) -> bool:
    """A real int/float (numpy scalars included); bools are refused as quantities and prices."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, int | float | Decimal | np.integer | np.floating)


def to_decimal(value: Any) -> Decimal:
    """A Decimal without binary noise: floats go through their shortest round-trip repr,
    so 0.1 becomes Decimal("0.1"), not 0.1000000000000000055511151231257827."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool | np.bool_):
        raise ValueError(f"expected a number, got {value!r}")
    elif isinstance(value, int | np.integer):
        result = Decimal(int(value))
    elif isinstance(value, float | np.floating):
        result = Decimal(repr(float(value)))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
    else:
        raise ValueError(f"expected a number, got {value!r}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def floor_to_step(qty: Decimal, step: Decimal | None) -> Decimal:
    """Round a quantity down to the market's step (never up: that could exceed the balance)."""
    if step is None or step <= 0:
        return qty
    return (qty / step).to_integral_value(rounding=ROUND_FLOOR) * step


def text(value: Decimal) -> str:
    """Plain decimal text: no exponent, no trailing zeros ("41000", "0.0123")."""
    if value == 0:
        return "0"
    result = format(value.normalize(), "f")
    return result


def optional_text(value: Decimal | None) -> str | None:
    return None if value is None else text(value)


def finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(float(value))
