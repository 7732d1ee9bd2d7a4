"""One decision step, shared by the backtest and live trading so both behave the same: give
the strategy the candles and the account state, ask the right hook, turn its answer into a
`Decision` with exact decimals."""

import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from strategies.base import CANCEL, ENTRY, MANAGE, FloatArray, Position, Strategy, StrategyError
from strategies.numbers import floor_to_step, text, to_decimal

# Candles a strategy sees per step, live and in backtests alike (older ones are dropped), so
# indicators give the same values in both.
HISTORY = 1000

Action = Literal["none", "buy", "sell", "protect", "cancel_entry"]


@dataclass(frozen=True)
class State:
    """The account as the strategy's market stands before the step."""

    is_open: bool = False
    qty: Decimal = Decimal(0)
    entry_price: Decimal | None = None
    pending_entry: bool = False
    balance: Decimal = Decimal(0)
    step: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True)
class Decision:
    """What to do after this candle. `price` None = market. For "buy", `stop_loss` /
    `take_profit` are the protections to attach; for "protect", the new values of both (None =
    none). `vars` is the strategy's state to keep for the next candle."""

    action: Action = "none"
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    message: str = "no action"
    vars: dict[str, Any] = field(default_factory=dict)


def candles_array(rows: Any) -> FloatArray:
    """Rows of [timestamp_ms, open, high, low, close, volume] (numbers or numeric strings)."""
    try:
        array = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "candles must be rows of [timestamp_ms, open, high, low, close, volume] numbers"
        ) from None
    if array.size == 0:
        return np.empty((0, 6), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 6:
        raise ValueError(
            f"candles must be rows of 6 values [timestamp_ms, open, high, low, close, volume], "
            f"got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("candles contain a value that is not a finite number")
    return array


def step(
    strategy: Strategy, candles: FloatArray, state: State, vars: dict[str, Any] | None = None
) -> Decision:
    """Ask `strategy` what to do on the last candle of `candles`. Exceptions raised by the
    strategy propagate unchanged (the caller maps them to the user's line)."""
    if len(candles) == 0:
        raise ValueError("a strategy step needs at least one closed candle")
    entry = float(state.entry_price) if state.entry_price is not None else None
    strategy._load_context(
        candles[-HISTORY:],
        Position(state.is_open, float(state.qty), entry),
        float(state.balance),
        state.step,
        dict(vars or {}),
        None if state.stop_loss is None else float(state.stop_loss),
        None if state.take_profit is None else float(state.take_profit),
    )
    if state.is_open:
        decision = _manage(strategy, state)
    elif state.pending_entry:
        decision = _cancel(strategy)
    else:
        decision = _enter(strategy, state)
    return replace(decision, vars=_saved_vars(strategy.vars))


def _enter(strategy: Strategy, state: State) -> Decision:
    with strategy._running(ENTRY):
        if not _yes(strategy, "should_long", strategy.should_long()):
            return Decision()
        strategy.go_long()
    if strategy._buy is None:
        raise StrategyError(
            "should_long() returned True but go_long() did not set self.buy = (qty, price)",
            line=hook_line(strategy, "go_long"),
        )
    qty_float, price_float = strategy._buy
    qty = floor_to_step(to_decimal(qty_float), state.step)
    if qty <= 0:
        raise StrategyError(
            f"self.buy qty {text(to_decimal(qty_float))} rounds down to 0 at the market step "
            f"{text(state.step or Decimal(0))}; buy more, e.g. with self.qty_for(percent)",
            line=hook_line(strategy, "go_long"),
        )
    price = None if price_float is None else to_decimal(price_float)
    stop = _decimal(strategy._stop_loss)
    target = _decimal(strategy._take_profit)
    where = "at market" if price is None else f"limit {text(price)}"
    message = ", ".join([f"buy {text(qty)} {where}", *_protections(stop, target)])
    return Decision("buy", qty, price, stop, target, message)


def _manage(strategy: Strategy, state: State) -> Decision:
    with strategy._running(MANAGE):
        strategy.update_position()
    if strategy._liquidate:
        return Decision("sell", state.qty, None, message=f"sell {text(state.qty)} at market")
    stop = _kept(strategy._stop_loss, state.stop_loss)
    target = _kept(strategy._take_profit, state.take_profit)
    if stop == state.stop_loss and target == state.take_profit:
        return Decision()
    message = "protect: " + (", ".join(_protections(stop, target)) or "no stop, no target")
    return Decision("protect", None, None, stop, target, message)


def _cancel(strategy: Strategy) -> Decision:
    with strategy._running(CANCEL):
        if not _yes(strategy, "should_cancel_entry", strategy.should_cancel_entry()):
            return Decision()
    return Decision("cancel_entry", message="cancel the pending entry")


def hook_line(strategy: Strategy, name: str) -> int | None:
    """Line where the strategy defines hook `name` (None when it inherits the SDK's)."""
    code = getattr(getattr(type(strategy), name, None), "__code__", None)
    if code is None or code is getattr(getattr(Strategy, name), "__code__", None):
        return None
    return int(code.co_firstlineno)


def _yes(strategy: Strategy, hook: str, answer: Any) -> bool:
    if isinstance(answer, bool | np.bool_) or answer is None:
        return bool(answer)
    raise StrategyError(
        f"{hook}() must return True or False, got {answer!r}", line=hook_line(strategy, hook)
    )


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _kept(value: float | None, current: Decimal | None) -> Decimal | None:
    """The strategy sees prices as floats: an unchanged float keeps the exact stored value."""
    if value is None:
        return None
    if current is not None and float(current) == value:
        return current
    return to_decimal(value)


def _protections(stop: Decimal | None, target: Decimal | None) -> list[str]:
    parts = []
    if stop is not None:
        parts.append(f"stop {text(stop)}")
    if target is not None:
        parts.append(f"target {text(target)}")
    return parts


def _saved_vars(values: Any) -> dict[str, Any]:
    """Live, only `self.vars` survives between candles, as JSON: check it here, in backtests
    too, so a strategy that works in a backtest works live."""
    if not isinstance(values, dict):
        raise StrategyError(f"self.vars must stay a dict, got {type(values).__name__}")
    try:
        saved: dict[str, Any] = json.loads(json.dumps(values, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StrategyError(
            f"self.vars must hold only JSON values (numbers, strings, bools, None, lists, dicts "
            f"with string keys): {exc}"
        ) from None
    return saved
