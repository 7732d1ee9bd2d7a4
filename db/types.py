"""Column types that keep money exact on every backend."""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from trading.format import WIDE, normalized

SCALE = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)


class Money(TypeDecorator[Decimal]):
    """Exact decimal: NUMERIC(38, 18) on PostgreSQL, text on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, not float")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError(f"money must be finite, got {amount}")
        # The column's 18 places on both backends (PostgreSQL's NUMERIC would round; the
        # SQLite text must round the same way so both store the same value).
        amount = amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=WIDE)
        if dialect.name == "sqlite":
            return format(normalized(amount), "f")
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return normalized(Decimal(value))
