"""Entry points for the sandbox process that runs user strategies: JSON in, JSON out (plain
dicts, decimals as strings).

decide(request) -> {"action", "quantity", "price", "stop_loss", "take_profit", "message",
                    "vars"}
dry_run(request) -> {"problems": [{"line", "message"}], "decisions": n, "trades": n}
"""

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from strategies.backtest import run_backtest
from strategies.base import Strategy
from strategies.engine import State, candles_array, step
from strategies.loader import (
    StrategyRuntimeError,
    load_strategy_class,
    runtime_error,
    validate,
)
from strategies.numbers import optional_decimal, optional_text, to_decimal

__all__ = ["RequestError", "StrategyRuntimeError", "decide", "dry_run"]

CACHE_SIZE = 32
DRY_RUN_CASH = Decimal(10000)
DRY_RUN_FEE = Decimal("0.001")

_classes: dict[str, type[Strategy]] = {}


class RequestError(ValueError):
    """The request itself is malformed (not the strategy's fault)."""


def decide(request: Mapping[str, Any]) -> dict[str, Any]:
    """One decision on the last closed candle. Raises StrategyRuntimeError (str() starts with
    "line N: " when the user's line is known) or RequestError."""
    strategy_class = strategy_class_for(_field(request, "code", str))
    candles = _candles(request.get("candles"))
    state = _state(request)
    saved = request.get("vars") or {}
    params = request.get("params") or {}
    if not isinstance(saved, dict) or not isinstance(params, dict):
        raise RequestError("vars and params must be objects")
    try:
        strategy = strategy_class(params) if params else strategy_class()
        decision = step(strategy, candles, state, saved)
    except Exception as exc:
        raise runtime_error(exc) from None
    return {
        "action": decision.action,
        "quantity": optional_text(decision.quantity),
        "price": optional_text(decision.price),
        "stop_loss": optional_text(decision.stop_loss),
        "take_profit": optional_text(decision.take_profit),
        "message": decision.message,
        "vars": decision.vars,
    }


def dry_run(request: Mapping[str, Any]) -> dict[str, Any]:
    """Run the strategy over the given candles as a backtest (cash 10000, fee 0.001), to catch
    errors before going live. `decisions` counts decisions other than "none"."""
    code = _field(request, "code", str)
    problems = validate(code)
    if problems:
        return {
            "problems": [problem.as_dict() for problem in problems],
            "decisions": 0,
            "trades": 0,
        }
    candles = request.get("candles") or []
    try:
        if not candles:  # nothing to run on yet: still execute the module once
            load_strategy_class(code)
            return {"problems": [], "decisions": 0, "trades": 0}
        result = run_backtest(
            code,
            candles,
            str(request.get("symbol") or "BTCUSDT"),
            str(request.get("timeframe") or "1m"),
            DRY_RUN_CASH,
            DRY_RUN_FEE,
            params=request.get("params") or None,
        )
    except StrategyRuntimeError as exc:
        return {
            "problems": [{"line": exc.line, "message": exc.detail}],
            "decisions": 0,
            "trades": 0,
        }
    except ValueError as exc:  # bad candles or timeframe
        raise RequestError(str(exc)) from None
    return {"problems": [], "decisions": result["decisions"], "trades": len(result["trades"])}


def strategy_class_for(code: str) -> type[Strategy]:
    """The compiled class, cached by the code's hash so repeated decisions are cheap."""
    key = hashlib.sha256(code.encode()).hexdigest()
    cached = _classes.get(key)
    if cached is None:
        cached = load_strategy_class(code)
        if len(_classes) >= CACHE_SIZE:
            _classes.pop(next(iter(_classes)))
        _classes[key] = cached
    return cached


def _field(request: Mapping[str, Any], name: str, kind: type) -> Any:
    value = request.get(name)
    if not isinstance(value, kind):
        raise RequestError(f"request field {name!r} must be a {kind.__name__}")
    return value


def _candles(rows: Any) -> Any:
    try:
        array = candles_array(rows)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if len(array) == 0:
        raise RequestError("a decision needs at least one closed candle")
    return array


def _state(request: Mapping[str, Any]) -> State:
    position = request.get("position") or {}
    if not isinstance(position, dict):
        raise RequestError("position must be an object {is_open, qty, entry_price}")
    try:
        is_open = bool(position.get("is_open"))
        return State(
            is_open=is_open,
            qty=to_decimal(position.get("qty") or "0") if is_open else Decimal(0),
            entry_price=optional_decimal(position.get("entry_price")) if is_open else None,
            pending_entry=bool(request.get("pending_entry")),
            balance=to_decimal(request.get("balance") or "0"),
            step=optional_decimal(request.get("step")),
            stop_loss=optional_decimal(request.get("stop_loss")),
            take_profit=optional_decimal(request.get("take_profit")),
        )
    except ValueError as exc:
        raise RequestError(f"invalid account state: {exc}") from None
