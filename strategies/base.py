"""The `Strategy` base class: everything a user's strategy file may rely on
(CONTRACT.md, "Strategy SDK"). Long-only spot: a strategy buys, then sells what it holds."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.numbers import finite, floor_to_step, is_number, to_decimal

FloatArray = npt.NDArray[np.float64]
Order = tuple[float, float | None]

# Which hook is running: the setters only make sense inside some of them.
ENTRY = "entry"  # should_long() / go_long()
MANAGE = "manage"  # update_position()
CANCEL = "cancel"  # should_cancel_entry()

# Names a subclass must not redefine: they would hide what the engine provides.
RESERVED = frozenset(
    {
        "candles", "opens", "highs", "lows", "closes", "volumes", "close", "time", "position",
        "balance", "buy", "sell", "stop_loss", "take_profit", "vars", "hp", "qty_for",
        "liquidate", "step",
    }
)  # fmt: skip
SHORT_HOOKS = ("should_short", "go_short")


class StrategyError(Exception):
    """A strategy used the SDK wrongly; the message says how to fix it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Position:
    is_open: bool = False
    qty: float = 0.0
    entry_price: float | None = None


def _fmt(value: float) -> str:
    return format(to_decimal(value).normalize(), "f")


class Strategy:
    """Base class of a user strategy. Subclass it once per file and override the hooks.

    On every closed candle the engine creates a fresh instance and asks one hook:

    - flat and no entry pending: `should_long()`; when it returns True, `go_long()` must set
      `self.buy = (qty, price)` (price None = market order, filled at the next candle's open)
      and may set `self.stop_loss = (qty, price)` / `self.take_profit = (qty, price)`;
    - a position is open: `update_position()`, which may call `self.liquidate()` or move
      `self.stop_loss` / `self.take_profit` (a bare price, or None to remove one, works too);
    - a limit entry is pending: `should_cancel_entry()`.

    Instances are NOT kept between candles (live, each decision may run in a new process), so
    attributes set on `self` are lost. Keep state across candles in `self.vars`, a dict of
    JSON values (numbers, strings, bools, None, lists, dicts) that is saved after each candle.

    Tunable parameters are public class attributes holding a number, bool or string (or what
    `hyperparameters()` returns); overrides given at construction replace them on `self`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in SHORT_HOOKS:
            if name in cls.__dict__:
                raise StrategyError(
                    f"{cls.__name__}.{name}() is not supported: on a spot market a strategy "
                    f"can only buy, then sell what it holds (long-only); remove {name}()"
                )
        for name in RESERVED.intersection(cls.__dict__):
            raise StrategyError(
                f"{cls.__name__}.{name} would hide the SDK's self.{name}; use another name"
            )

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._candles: FloatArray = np.empty((0, 6), dtype=np.float64)
        self._position = Position()
        self._balance = 0.0
        self._step: Decimal | None = None
        self._phase: str | None = None
        self._buy: Order | None = None
        self._stop_loss: float | None = None
        self._take_profit: float | None = None
        self._liquidate = False
        self.vars: dict[str, Any] = {}
        self.hp: dict[str, Any] = self._apply_params(params or {})

    # -- hooks to override -------------------------------------------------------------

    def should_long(self) -> bool:
        return False

    def go_long(self) -> None:
        pass

    def update_position(self) -> None:
        pass

    def should_cancel_entry(self) -> bool:
        return False

    def hyperparameters(self) -> dict[str, Any]:
        """Tunable parameters and their defaults: by default the public class attributes of
        the subclass holding a number, bool or string. Override to return your own dict."""
        found: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            if klass is Strategy or not issubclass(klass, Strategy):
                continue
            for name, value in klass.__dict__.items():
                if not name.startswith("_") and isinstance(value, bool | int | float | str):
                    found[name] = value
        return found

    # -- market and account ------------------------------------------------------------

    @property
    def candles(self) -> FloatArray:
        """Closed candles so far, oldest first: timestamp_ms, open, high, low, close, volume."""
        return self._candles

    @property
    def opens(self) -> FloatArray:
        return self._candles[:, 1]

    @property
    def highs(self) -> FloatArray:
        return self._candles[:, 2]

    @property
    def lows(self) -> FloatArray:
        return self._candles[:, 3]

    @property
    def closes(self) -> FloatArray:
        return self._candles[:, 4]

    @property
    def volumes(self) -> FloatArray:
        return self._candles[:, 5]

    @property
    def close(self) -> float:
        """Close of the last closed candle."""
        return float(self._last()[4])

    @property
    def time(self) -> int:
        """Open time of the last closed candle, in milliseconds since the epoch (UTC)."""
        return int(self._last()[0])

    @property
    def position(self) -> Position:
        return self._position

    @property
    def balance(self) -> float:
        """Available quote balance (e.g. USDT)."""
        return self._balance

    @property
    def step(self) -> float | None:
        """The market's quantity step, when known."""
        return None if self._step is None else float(self._step)

    def qty_for(self, percent: float, price: float | None = None) -> float:
        """Base quantity worth `percent` % of the available quote balance at `price` (default:
        the last close), rounded down to the market's step."""
        if not finite(percent) or not 0 < float(percent) <= 100:
            raise StrategyError(
                f"self.qty_for(percent): percent must be above 0 and at most 100, got {percent!r}"
            )
        if price is None:
            price = self.close
        elif not finite(price) or float(price) <= 0:
            raise StrategyError(
                f"self.qty_for(percent, price): price must be above 0, got {price!r}"
            )
        quote = to_decimal(self._balance) * to_decimal(percent) / 100
        return float(floor_to_step(quote / to_decimal(price), self._step))

    # -- orders ----------------------------------------------------------------------------

    @property
    def buy(self) -> Order | None:
        return self._buy

    @buy.setter
    def buy(self, order: Any) -> None:
        if self._phase != ENTRY:
            raise StrategyError(
                "self.buy can only be set in go_long(), which runs after should_long() returns "
                "True while no position is open and no entry is pending"
            )
        qty, price = self._order("self.buy", order, market_ok=True)
        cost = qty * (self.close if price is None else price)
        if cost > self._balance * (1 + 1e-9):
            raise StrategyError(
                f"self.buy = ({_fmt(qty)}, {price}) costs about {_fmt(cost)} but the available "
                f"balance is {_fmt(self._balance)}; size it with self.qty_for(percent)"
            )
        self._buy = (qty, price)

    @property
    def sell(self) -> None:
        raise StrategyError(self._no_sell())

    @sell.setter
    def sell(self, order: Any) -> None:
        raise StrategyError(self._no_sell())

    @property
    def stop_loss(self) -> Order | None:
        return self._protection(self._stop_loss)

    @stop_loss.setter
    def stop_loss(self, order: Any) -> None:
        self._stop_loss = self._protective("self.stop_loss", order, below=True)

    @property
    def take_profit(self) -> Order | None:
        return self._protection(self._take_profit)

    @take_profit.setter
    def take_profit(self, order: Any) -> None:
        self._take_profit = self._protective("self.take_profit", order, below=False)

    def liquidate(self) -> None:
        """Sell the whole position at market (filled at the next candle's open)."""
        if self._phase != MANAGE:
            raise StrategyError(
                "self.liquidate() can only be called in update_position(), while a position is open"
            )
        self._liquidate = True

    # -- engine side (not for strategies) ------------------------------------------------

    def _load_context(
        self,
        candles: FloatArray,
        position: Position,
        balance: float,
        step: Decimal | None,
        vars: dict[str, Any],
        stop_loss: float | None,
        take_profit: float | None,
    ) -> None:
        self._candles = candles
        self._position = position
        self._balance = balance
        self._step = step
        self.vars = vars
        self._stop_loss = stop_loss
        self._take_profit = take_profit

    @contextmanager
    def _running(self, phase: str) -> Iterator[None]:
        self._phase = phase
        try:
            yield
        finally:
            self._phase = None

    def _apply_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        defaults = self.hyperparameters()
        if not isinstance(defaults, dict):
            raise StrategyError("hyperparameters() must return a dict of name -> default value")
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            known = ", ".join(sorted(defaults)) or "none"
            raise StrategyError(
                f"unknown parameter {unknown[0]!r}; this strategy's parameters are: {known}"
            )
        values = {name: _coerce(name, defaults[name], params[name]) for name in params}
        merged = {**defaults, **values}
        for name, value in merged.items():
            if name in RESERVED:
                raise StrategyError(f"parameter {name!r} would hide the SDK's self.{name}")
            setattr(self, name, value)
        return merged

    def _last(self) -> FloatArray:
        if len(self._candles) == 0:
            raise StrategyError("there are no closed candles yet")
        return self._candles[-1]

    def _no_sell(self) -> str:
        return (
            "self.sell is not supported: spot strategies are long-only; to exit, call "
            "self.liquidate() in update_position() or set self.stop_loss / self.take_profit"
        )

    def _protection(self, price: float | None) -> Order | None:
        if price is None:
            return None
        qty = self._buy[0] if self._phase == ENTRY and self._buy else self._position.qty
        return (qty, price)

    def _order(self, label: str, order: Any, market_ok: bool) -> tuple[float, float | None]:
        shape = (
            f"{label} must be a (qty, price) tuple; price None means a market order"
            if market_ok
            else f"{label} must be a (qty, price) tuple, a price, or None to remove it"
        )
        if not isinstance(order, tuple | list) or len(order) != 2:
            raise StrategyError(f"{shape}, got {order!r}")
        qty, price = order
        if not finite(qty) or float(qty) <= 0:
            raise StrategyError(f"{label} qty must be a number above 0, got {qty!r}")
        if price is None and market_ok:
            return float(qty), None
        if not finite(price) or float(price) <= 0:
            raise StrategyError(f"{label} price must be a number above 0, got {price!r}")
        return float(qty), float(price)

    def _protective(self, label: str, order: Any, below: bool) -> float | None:
        if self._phase not in (ENTRY, MANAGE):
            raise StrategyError(f"{label} can only be set in go_long() or update_position()")
        if order is None:
            return None
        if self._phase == ENTRY:
            if self._buy is None:
                raise StrategyError(f"set self.buy before {label} in go_long()")
            whole, limit = self._buy
            reference, what = (limit, "the entry price") if limit else (self.close, "the close")
        else:
            whole, reference, what = self._position.qty, self.close, "the last close"
        if is_number(order):
            price = self._order(label, (whole, order), market_ok=False)[1]
        else:
            qty, price = self._order(label, order, market_ok=False)
            tolerance = max(whole * 1e-9, float(self._step or 0))
            if abs(qty - whole) > tolerance:
                raise StrategyError(
                    f"{label} qty {_fmt(qty)} differs from the position's {_fmt(whole)}: on spot "
                    f"it covers the whole position; use {_fmt(whole)} (or just a price)"
                )
        assert price is not None
        wrong = price >= reference if below else price <= reference
        if wrong:
            side = "below" if below else "above"
            hint = "; call self.liquidate() to exit now" if self._phase == MANAGE else ""
            raise StrategyError(
                f"{label} {_fmt(price)} must be {side} {what} {_fmt(reference)} on a long "
                f"position: otherwise it would sell at once{hint}"
            )
        return price


def _coerce(name: str, default: Any, value: Any) -> Any:
    """Parameter overrides may come from JSON or a form: accept "20" for an int, 20 for a float."""
    wanted = type(default)
    try:
        if wanted is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        elif wanted is int:
            number = to_decimal(value)
            if number == number.to_integral_value():
                return int(number)
        elif wanted is float:
            return float(to_decimal(value))
        elif isinstance(value, wanted):
            return value
    except ValueError:
        pass
    raise StrategyError(f"parameter {name!r} must be a {wanted.__name__}, got {value!r}")
