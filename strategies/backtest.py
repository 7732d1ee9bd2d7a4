"""Offline backtest: runs a strategy over past candles with the same decision step as live
trading (strategies.engine) and the contract's fill rule, with exact decimal money."""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from strategies.base import Strategy
from strategies.candles import Candle, as_candles, iso, load_candles_csv
from strategies.engine import Decision, State, step
from strategies.loader import load_strategy_class, runtime_error
from strategies.numbers import floor_to_step, optional_text, text, to_decimal

__all__ = ["load_candles_csv", "periods_per_year", "run_backtest"]

# Without a known market step, a quantity cut down to what the cash affords keeps 8 decimals.
DEFAULT_STEP = Decimal("0.00000001")
# Reported money and ratios keep 8 decimals (computed exactly, rounded only for output).
PLACES = Decimal("0.00000001")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000}
YEAR = 365 * 86400  # crypto markets trade every day


@dataclass
class _Order:
    kind: Literal["market_buy", "limit_buy", "market_sell"]
    qty: Decimal
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass
class _Holding:
    qty: Decimal
    entry_price: Decimal
    entry_time: int
    entry_fee: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None


def periods_per_year(timeframe: str) -> float:
    match = re.fullmatch(r"(\d+)([smhdwM])", timeframe.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"unknown timeframe {timeframe!r}; use e.g. 1m, 5m, 1h, 4h, 1d")
    return YEAR / (int(match[1]) * UNITS[match[2]])


def run_backtest(
    code: str,
    candles: Sequence[Any],
    symbol: str,
    timeframe: str,
    cash: Decimal = Decimal(10000),
    fee: Decimal = Decimal("0.001"),
    *,
    params: Mapping[str, Any] | None = None,
    step_size: Decimal | None = None,
) -> dict[str, Any]:
    """Run `code` over `candles` (Candle tuples or [ts_ms, o, h, l, c, v] rows, oldest first).

    Fill rule: a market order decided on a candle's close fills at the next candle's open; a
    limit entry, stop-loss or take-profit fills when a later candle's range reaches its price.
    Fees are `fee` x notional on every fill, paid in quote. A position still open at the end is
    marked to the last close (without exit fee) in `final_equity` and shown in `open_position`;
    a market order decided on the last candle is not filled. `decisions` counts decisions
    other than "none"; `vars` is the strategy's saved state at the end.
    Raises StrategyLoadError / StrategyRuntimeError (with the user's line) and ValueError."""
    cash, fee = to_decimal(cash), to_decimal(fee)
    if cash <= 0 or not 0 <= fee < 1:
        raise ValueError("cash must be above 0 and fee between 0 and 1 (0.001 = 0.1%)")
    yearly = periods_per_year(timeframe)
    series = as_candles(candles)
    strategy_class = load_strategy_class(code)
    array = np.array([[float(value) for value in row] for row in series], dtype=np.float64)
    book = _Book(cash, fee, step_size)
    equity = [cash]
    saved: dict[str, Any] = {}
    decisions = 0
    for index, candle in enumerate(series):
        book.fill(candle)
        equity.append(book.equity(candle.close))
        try:
            strategy = _new(strategy_class, params)
            decision = step(strategy, array[: index + 1], book.state(), saved)
        except Exception as exc:
            raise runtime_error(exc) from None
        saved = decision.vars
        if decision.action != "none":
            decisions += 1
            book.apply(decision)
    last = series[-1]
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "candles": len(series),
        "start": iso(series[0].time),
        "end": iso(last.time),
        "cash": text(cash),
        "fee": text(fee),
        "trades": book.trades,
        "final_equity": _rounded(equity[-1]),
        "open_position": book.open_position(last),
        "metrics": _metrics(book.pnls, equity, yearly),
        "decisions": decisions,
        "skipped_entries": book.skipped,
        "vars": saved,
    }


def _new(strategy_class: type[Strategy], params: Mapping[str, Any] | None) -> Strategy:
    # A fresh instance per candle, as live: only `self.vars` carries state across candles.
    return strategy_class(params) if params else strategy_class()


class _Book:
    """Cash, the open position and the one pending order of a long-only spot account."""

    def __init__(self, cash: Decimal, fee: Decimal, step_size: Decimal | None) -> None:
        self.cash = cash
        self.fee = fee
        self.step_size = step_size
        self.holding: _Holding | None = None
        self.order: _Order | None = None
        self.trades: list[dict[str, Any]] = []
        self.pnls: list[Decimal] = []  # exact, for the metrics
        self.skipped = 0

    def state(self) -> State:
        held = self.holding
        reserved = Decimal(0)
        if self.order and self.order.kind == "limit_buy" and self.order.price is not None:
            reserved = self.order.qty * self.order.price * (1 + self.fee)
        return State(
            is_open=held is not None,
            qty=held.qty if held else Decimal(0),
            entry_price=held.entry_price if held else None,
            pending_entry=self.order is not None and self.order.kind == "limit_buy",
            balance=max(self.cash - reserved, Decimal(0)),
            step=self.step_size,
            stop_loss=held.stop_loss if held else None,
            take_profit=held.take_profit if held else None,
        )

    def equity(self, price: Decimal) -> Decimal:
        return self.cash + (self.holding.qty * price if self.holding else Decimal(0))

    def apply(self, decision: Decision) -> None:
        if decision.action == "buy" and decision.quantity is not None:
            kind: Literal["market_buy", "limit_buy"] = (
                "market_buy" if decision.price is None else "limit_buy"
            )
            self.order = _Order(
                kind, decision.quantity, decision.price, decision.stop_loss, decision.take_profit
            )
        elif decision.action == "sell" and self.holding:
            self.order = _Order("market_sell", self.holding.qty)
        elif decision.action == "cancel_entry":
            self.order = None
        elif decision.action == "protect" and self.holding:
            self.holding.stop_loss = decision.stop_loss
            self.holding.take_profit = decision.take_profit

    def fill(self, candle: Candle) -> None:
        """Orders decided on earlier candles, then the position's stop-loss / take-profit."""
        order, self.order = self.order, None
        whole_candle = True  # the position was held from this candle's open on
        if order is None:
            pass
        elif order.kind == "market_sell":
            self._exit(candle.open, candle, "liquidate")
        elif order.kind == "market_buy":
            self._enter(order, candle.open, candle)
        elif order.price is not None and candle.open <= order.price:
            self._enter(order, candle.open, candle)  # gapped below the limit: filled at open
        elif order.price is not None and candle.low <= order.price:
            self._enter(order, order.price, candle)
            whole_candle = False
        else:
            self.order = order  # the limit entry stays pending
        if self.holding:
            self._protect(candle, whole_candle)

    def _protect(self, candle: Candle, whole_candle: bool) -> None:
        assert self.holding is not None
        stop, target = self.holding.stop_loss, self.holding.take_profit
        if whole_candle and stop is not None and candle.open <= stop:
            self._exit(candle.open, candle, "stop_loss")  # gapped through the stop
        elif whole_candle and target is not None and candle.open >= target:
            self._exit(candle.open, candle, "take_profit")
        # When both are within the candle's range we cannot know which came first: assume the
        # stop (conservative). After a limit entry filled inside this candle, only the stop is
        # checked, for the same reason.
        elif stop is not None and candle.low <= stop:
            self._exit(stop, candle, "stop_loss")
        elif whole_candle and target is not None and candle.high >= target:
            self._exit(target, candle, "take_profit")

    def _enter(self, order: _Order, price: Decimal, candle: Candle) -> None:
        qty = order.qty
        if qty * price * (1 + self.fee) > self.cash:
            # The next open moved up since the decision: buy what the cash affords.
            qty = floor_to_step(
                self.cash / (price * (1 + self.fee)), self.step_size or DEFAULT_STEP
            )
        if qty <= 0:
            self.skipped += 1
            return
        cost = qty * price
        fee = cost * self.fee
        self.cash -= cost + fee
        self.holding = _Holding(qty, price, candle.time, fee, order.stop_loss, order.take_profit)

    def _exit(self, price: Decimal, candle: Candle, reason: str) -> None:
        held = self.holding
        if held is None:
            return
        proceeds = held.qty * price
        fee = proceeds * self.fee
        self.cash += proceeds - fee
        pnl = proceeds - held.qty * held.entry_price - held.entry_fee - fee
        self.pnls.append(pnl)
        self.trades.append(
            {
                "side": "long",
                "entry_time": iso(held.entry_time),
                "exit_time": iso(candle.time),
                "qty": text(held.qty),
                "entry_price": text(held.entry_price),
                "exit_price": text(price),
                "fee": _rounded(held.entry_fee + fee),
                "pnl": _rounded(pnl),
                "exit_reason": reason,
            }
        )
        self.holding = None

    def open_position(self, last: Candle) -> dict[str, Any] | None:
        held = self.holding
        if held is None:
            return None
        return {
            "entry_time": iso(held.entry_time),
            "qty": text(held.qty),
            "entry_price": text(held.entry_price),
            "mark_price": text(last.close),
            "unrealized_pnl": _rounded(held.qty * (last.close - held.entry_price) - held.entry_fee),
            "stop_loss": optional_text(held.stop_loss),
            "take_profit": optional_text(held.take_profit),
        }


def _metrics(pnls: list[Decimal], equity: list[Decimal], yearly: float) -> dict[str, Any]:
    profit = sum((pnl for pnl in pnls if pnl > 0), Decimal(0))
    loss = -sum((pnl for pnl in pnls if pnl < 0), Decimal(0))
    # No losing trade: infinite when something was won (JSON has no infinity, Decimal reads it).
    factor = _rounded(profit / loss) if loss else ("Infinity" if profit else "0")
    peak, drawdown = equity[0], Decimal(0)
    for value in equity:
        peak = max(peak, value)
        drawdown = max(drawdown, (peak - value) / peak)
    wins = sum(1 for pnl in pnls if pnl > 0)
    return {
        "total_return": _rounded(equity[-1] / equity[0] - 1),
        "max_drawdown": _rounded(drawdown),
        "win_rate": _rounded(Decimal(wins) / len(pnls)) if pnls else "0",
        "sharpe": _sharpe(equity, yearly),
        "profit_factor": factor,
        "trades": len(pnls),
    }


def _sharpe(equity: list[Decimal], yearly: float) -> str:
    """Annualised mean / standard deviation of the per-candle returns of equity (risk-free 0)."""
    values = np.array([float(value) for value in equity])
    returns = values[1:] / values[:-1] - 1
    if len(returns) < 2:
        return "0"
    deviation = float(returns.std(ddof=1))
    if deviation == 0 or not math.isfinite(deviation):
        return "0"
    return _rounded(to_decimal(float(returns.mean()) / deviation * math.sqrt(yearly)))


def _rounded(value: Decimal) -> str:
    return text(value.quantize(PLACES))
