"""Decimals without trailing zeros, never in exponent notation."""

from decimal import Context, Decimal

# normalize() rounds to the context precision (28 digits by default): use enough for
# NUMERIC(38, 18) and more.
WIDE = Context(prec=80)


def normalized(value: Decimal) -> Decimal:
    """1.500 -> 1.5, 100 stays 100 (not 1E+2)."""
    if value == 0:
        return Decimal(0)
    return Decimal(format(value.normalize(WIDE), "f"))


def plain(value: Decimal | None) -> str:
    """For people: `0.02`, not `0.02000` or `2E-2`."""
    return "?" if value is None else format(normalized(value), "f")
