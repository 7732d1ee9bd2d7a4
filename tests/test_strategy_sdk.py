"""The Strategy SDK: static validation, helpful errors, engine decisions, live entry points."""

import textwrap
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from strategies import Strategy, StrategyError
from strategies.engine import Decision, State, candles_array, step
from strategies.examples import EXAMPLE_CODE
from strategies.live import RequestError, decide, dry_run, strategy_class_for
from strategies.loader import (
    Problem,
    StrategyLoadError,
    StrategyRuntimeError,
    load_strategy_class,
    validate,
)

HOUR = 3_600_000


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def candles(*closes: float) -> np.ndarray:
    return candles_array(
        [[i * HOUR, close, close + 1, close - 1, close, 5] for i, close in enumerate(closes)]
    )


def decide_with(
    strategy_class: type[Strategy], state: State, *closes: float, **params: Any
) -> Decision:
    return step(strategy_class(params), candles(*closes), state)


FLAT = State(balance=Decimal(1000))
OPEN = State(
    is_open=True,
    qty=Decimal("2"),
    entry_price=Decimal("100"),
    balance=Decimal(800),
    stop_loss=Decimal("90"),
    take_profit=Decimal("120"),
)


# -- static validation -------------------------------------------------------------------


def test_the_example_strategy_is_valid_and_loads() -> None:
    assert validate(EXAMPLE_CODE) == []
    strategy_class = load_strategy_class(EXAMPLE_CODE)
    assert strategy_class.__name__ == "SmaCross"
    assert strategy_class().hyperparameters()["slow"] == 30


def test_syntax_errors_have_their_line() -> None:
    source = code(
        """
        from strategies import Strategy

        class Broken(Strategy):
            def should_long(self)
                return True
        """
    )
    [problem] = validate(source)
    assert problem.line == 4
    assert problem.message.startswith("syntax error:")


def test_forbidden_imports_names_and_dunders_are_reported_with_lines() -> None:
    source = code(
        """
        import os
        from strategies import Strategy, indicators
        from strategies.live import decide
        import numpy as np

        class Sneaky(Strategy):
            def should_long(self):
                data = open("/etc/passwd").read()
                base = ().__class__.__bases__
                getattr(self, "__dict__")
                np.load("x.npy")
                return vars(self) is not None and self.vars == {}

            def go_long(self):
                self.buy = (1, None)
        """
    )
    found = {
        (problem.line, problem.message.split(" is not allowed")[0]) for problem in validate(source)
    }
    assert (1, "import of 'os'") in found
    assert (3, "import of 'strategies.live'") in found
    assert (8, "'open'") in found
    assert (9, "access to '__class__'") in found
    assert (9, "access to '__bases__'") in found
    assert (10, "getattr() on '__dict__'") in found
    assert (11, "numpy file access (np.load)") in found
    assert (12, "'vars'") in found
    assert len(found) == 8  # self.vars and the allowed imports are fine


def test_exactly_one_strategy_class() -> None:
    none = validate("import math\n\nx = 1\n")
    assert none == [Problem(1, none[0].message)]
    assert "no Strategy subclass found" in none[0].message
    two = code(
        """
        from strategies import Strategy

        class A(Strategy):
            def should_long(self):
                return False
            def go_long(self):
                pass

        class B(Strategy):
            pass
        """
    )
    [problem] = validate(two)
    assert problem.line == 9
    assert "a second Strategy subclass 'B'" in problem.message
    # a shared base class is not a second strategy
    shared = code(
        """
        from strategies import Strategy

        class Base(Strategy):
            def go_long(self):
                self.buy = (self.qty_for(10), None)

        class Mine(Base):
            def should_long(self):
                return True
        """
    )
    assert validate(shared) == []
    assert load_strategy_class(shared).__name__ == "Mine"


def test_shorts_and_missing_hooks_are_explained() -> None:
    source = code(
        """
        from strategies import Strategy

        class Short(Strategy):
            def should_short(self):
                return True
        """
    )
    assert [(problem.line, problem.message[:28]) for problem in validate(source)] == [
        (3, "Short has no go_long() metho"),
        (3, "Short has no should_long() m"),
        (4, "should_short() is not suppor"),
    ]
    assert "long-only" in validate(source)[2].message
    # Defined outside the static check, the class itself refuses it too.
    with pytest.raises(StrategyError, match="go_short\\(\\) is not supported"):
        type("Late", (Strategy,), {"go_short": lambda self: None})


def test_load_raises_with_every_problem() -> None:
    with pytest.raises(StrategyLoadError) as caught:
        load_strategy_class("import subprocess\n")
    assert caught.value.line == 1
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("line 1: import of 'subprocess' is not allowed")


# -- SDK errors ------------------------------------------------------------------------


class BuysWith(Strategy):
    """go_long() runs the `order` hyperparameter through self.buy."""

    order = "market"
    stop = 0.0

    def should_long(self) -> bool:
        return True

    def go_long(self) -> None:
        orders = {
            "market": (self.qty_for(50), None),
            "limit": (1, 95),
            "bare": 3,
            "zero": (0, None),
            "negative price": (1, -5),
            "too big": (100, None),
        }
        self.buy = orders[self.order]
        if self.stop:
            self.stop_loss = (self.buy[0], self.stop)


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ("bare", "self.buy must be a (qty, price) tuple; price None means a market order, got 3"),
        ("zero", "self.buy qty must be a number above 0, got 0"),
        ("negative price", "self.buy price must be a number above 0, got -5"),
        ("too big", "costs about 10000 but the available balance is 1000; size it with"),
    ],
)
def test_buy_validation_messages(order: str, message: str) -> None:
    with pytest.raises(StrategyError) as caught:
        decide_with(BuysWith, FLAT, 100, order=order)
    assert message in str(caught.value)


def test_stop_loss_must_be_below_the_entry() -> None:
    with pytest.raises(StrategyError) as caught:
        decide_with(BuysWith, FLAT, 100, stop=101.0)
    assert str(caught.value) == (
        "self.stop_loss 101 must be below the close 100 on a long position: otherwise it "
        "would sell at once"
    )


def test_orders_outside_their_hook_are_refused() -> None:
    class Confused(Strategy):
        def should_long(self) -> bool:
            self.liquidate()
            return True

    class BuysWhileOpen(Strategy):
        def update_position(self) -> None:
            self.buy = (1, None)

    with pytest.raises(StrategyError, match=r"self.liquidate\(\) can only be called in update"):
        decide_with(Confused, FLAT, 100)
    with pytest.raises(StrategyError, match=r"self.buy can only be set in go_long\(\)"):
        decide_with(BuysWhileOpen, OPEN, 100)


def test_sell_and_unknown_params_are_explained() -> None:
    class Sells(Strategy):
        def update_position(self) -> None:
            self.sell = (1, None)

    with pytest.raises(StrategyError, match=r"long-only; to exit, call self.liquidate\(\)"):
        decide_with(Sells, OPEN, 100)
    with pytest.raises(StrategyError, match=r"unknown parameter 'fastt'; .* are: order, stop"):
        BuysWith({"fastt": 3})
    with pytest.raises(StrategyError, match="parameter 'stop' must be a float, got 'abc'"):
        BuysWith({"stop": "abc"})


def test_hyperparameters_are_coerced_and_set_on_self() -> None:
    class Tuned(Strategy):
        fast = 10
        ratio = 0.5
        enabled = True

    tuned = Tuned({"fast": "12", "ratio": 1, "enabled": "false"})
    assert (tuned.fast, tuned.ratio, tuned.enabled) == (12, 1.0, False)
    assert tuned.hp == {"fast": 12, "ratio": 1.0, "enabled": False}
    assert Tuned().fast == 10


def test_qty_for_rounds_down_to_the_step() -> None:
    class Sizes(Strategy):
        def should_long(self) -> bool:
            self.vars["sizes"] = [self.qty_for(50), self.qty_for(100, price=7)]
            return False

    decision = step(Sizes(), candles(30), State(balance=Decimal(1000), step=Decimal("0.01")))
    # 500 / 30 = 16.666.. -> 16.66; 1000 / 7 = 142.857.. -> 142.85
    assert decision.vars == {"sizes": [16.66, 142.85]}


# -- engine decisions --------------------------------------------------------------------


def test_market_buy_decision_with_protections() -> None:
    decision = decide_with(BuysWith, FLAT, 100, stop=95.5)
    assert decision.action == "buy"
    assert decision.quantity == Decimal("5")  # 50% of 1000 at 100
    assert decision.price is None
    assert decision.stop_loss == Decimal("95.5")
    assert decision.take_profit is None
    assert decision.message == "buy 5 at market, stop 95.5"


def test_limit_buy_is_rounded_down_to_the_step() -> None:
    class Limit(Strategy):
        def should_long(self) -> bool:
            return True

        def go_long(self) -> None:
            self.buy = (0.123456, 99.1)
            self.take_profit = 110.25

    state = State(balance=Decimal(1000), step=Decimal("0.001"))
    decision = step(Limit(), candles(100), state)
    assert (decision.action, decision.quantity, decision.price) == (
        "buy",
        Decimal("0.123"),
        Decimal("99.1"),
    )
    assert decision.take_profit == Decimal("110.25")
    assert decision.message == "buy 0.123 limit 99.1, target 110.25"


def test_should_long_without_a_buy_points_at_go_long() -> None:
    source = code(
        """
        from strategies import Strategy

        class Forgetful(Strategy):
            def should_long(self):
                return True

            def go_long(self):
                pass
        """
    )
    strategy_class = load_strategy_class(source)
    with pytest.raises(StrategyError) as caught:
        step(strategy_class(), candles(100), FLAT)
    assert caught.value.line == 7
    assert "go_long() did not set self.buy" in str(caught.value)


def test_update_position_moves_protections_or_liquidates() -> None:
    class Trails(Strategy):
        mode = "trail"

        def update_position(self) -> None:
            if self.mode == "trail":
                self.stop_loss = self.close - 3  # a bare price covers the whole position
            elif self.mode == "exit":
                self.liquidate()
            elif self.mode == "same":
                self.stop_loss = (self.position.qty, 90)
                self.take_profit = None

    protect = decide_with(Trails, OPEN, 104.5)
    assert (protect.action, protect.stop_loss, protect.take_profit) == (
        "protect",
        Decimal("101.5"),
        Decimal("120"),
    )
    assert protect.message == "protect: stop 101.5, target 120"
    sell = decide_with(Trails, OPEN, 104.5, mode="exit")
    assert (sell.action, sell.quantity, sell.price) == ("sell", Decimal("2"), None)
    assert sell.message == "sell 2 at market"
    removed = decide_with(Trails, OPEN, 104.5, mode="same")
    assert (removed.action, removed.stop_loss, removed.take_profit) == (
        "protect",
        Decimal(90),
        None,
    )
    assert decide_with(Trails, OPEN, 104.5, mode="nothing").action == "none"


def test_a_stop_above_the_close_while_open_suggests_liquidate() -> None:
    class Late(Strategy):
        def update_position(self) -> None:
            self.stop_loss = (2, 105)

    with pytest.raises(StrategyError, match=r"would sell at once; call self.liquidate\(\)"):
        decide_with(Late, OPEN, 104)


def test_pending_entry_asks_should_cancel_entry() -> None:
    class Impatient(Strategy):
        def should_cancel_entry(self) -> bool:
            return self.close > 110

    pending = State(pending_entry=True, balance=Decimal(1000))
    assert decide_with(Impatient, pending, 100).action == "none"
    cancel = decide_with(Impatient, pending, 111)
    assert (cancel.action, cancel.message) == ("cancel_entry", "cancel the pending entry")


def test_vars_must_stay_json() -> None:
    class Keeps(Strategy):
        def should_long(self) -> bool:
            self.vars["seen"] = self.vars.get("seen", 0) + 1
            self.vars["bad"] = np.int64(3) if self.close > 100 else 3
            return False

    first = step(Keeps(), candles(100), FLAT, {"seen": 4})
    assert first.vars == {"seen": 5, "bad": 3}
    with pytest.raises(StrategyError, match=r"self\.vars must hold only JSON values"):
        step(Keeps(), candles(101), FLAT)


def test_should_long_must_answer_a_bool() -> None:
    class Vague(Strategy):
        def should_long(self) -> bool:
            return self.closes > 1  # type: ignore[return-value]

    with pytest.raises(StrategyError, match=r"should_long\(\) must return True or False"):
        decide_with(Vague, FLAT, 100, 101)


# -- live entry points -------------------------------------------------------------------

LIVE = code(
    """
    from strategies import Strategy

    class Live(Strategy):
        size = 10

        def should_long(self):
            return len(self.closes) > 1 and self.close > self.candles[-2, 4]

        def go_long(self):
            qty = self.qty_for(self.size)
            self.buy = (qty, None)
            self.stop_loss = (qty, self.close * 0.9)
            self.vars["entered_at"] = self.time

        def update_position(self):
            ratio = 1 / (self.close - self.position.entry_price)
            self.take_profit = self.close * (1 + ratio)
    """
)


def request(**changes: Any) -> dict[str, Any]:
    base = {
        "code": LIVE,
        "candles": [[0, "100", "101", "99", "100", "3"], [HOUR, 100, 103, 100, 102.5, 4]],
        "position": {"is_open": False, "qty": "0", "entry_price": None},
        "pending_entry": False,
        "balance": "1000",
        "step": "0.001",
        "stop_loss": None,
        "take_profit": None,
        "vars": {},
        "params": {},
    }
    return {**base, **changes}


def test_decide_answers_plain_json() -> None:
    assert decide(request()) == {
        "action": "buy",
        "quantity": "0.975",  # 10% of 1000 at 102.5 = 0.9756.. rounded down to 0.001
        "price": None,
        "stop_loss": "92.25",
        "take_profit": None,
        "message": "buy 0.975 at market, stop 92.25",
        "vars": {"entered_at": HOUR},
    }
    bigger = decide(request(params={"size": 20}))
    assert bigger["quantity"] == "1.951"


def test_decide_reports_the_users_line_on_errors() -> None:
    open_at_close = {"is_open": True, "qty": "1", "entry_price": "102.5"}
    with pytest.raises(StrategyRuntimeError) as caught:
        decide(request(position=open_at_close))
    assert str(caught.value) == "line 16: ZeroDivisionError: float division by zero"
    assert caught.value.line == 16
    with pytest.raises(StrategyRuntimeError, match=r"^line 1: import of 'os'"):
        decide(request(code="import os\n"))
    with pytest.raises(RequestError, match="rows of 6 values"):
        decide(request(candles=[[1, 2, 3]]))


def test_compiled_classes_are_cached_by_code() -> None:
    assert strategy_class_for(LIVE) is strategy_class_for(LIVE)
    assert strategy_class_for(LIVE) is not strategy_class_for(LIVE + "\n")


ROUND_TRIP = code(
    """
    from strategies import Strategy

    class RoundTrip(Strategy):
        def should_long(self):
            return not self.vars.get("done")

        def go_long(self):
            self.buy = (1, None)
            self.vars["done"] = True

        def update_position(self):
            self.liquidate()
    """
)


def test_dry_run_counts_decisions_and_reports_problems() -> None:
    rows = [
        [0, 100, 101, 99, 100, 1],
        [HOUR, 100, 103, 100, 102, 1],
        [2 * HOUR, 103, 104, 102, 103, 1],  # filled at 103, closes at 103
        [3 * HOUR, 103, 104, 102, 103, 1],
    ]
    # buy on candle 0, filled at candle 1's open, liquidated on candle 1's close
    assert dry_run({"code": ROUND_TRIP, "candles": rows}) == {
        "problems": [],
        "decisions": 2,
        "trades": 1,
    }
    # LIVE buys on candle 1 (102 > 100); update_position on candle 2 divides by zero
    assert dry_run({"code": LIVE, "candles": rows}) == {
        "problems": [{"line": 16, "message": "ZeroDivisionError: float division by zero"}],
        "decisions": 0,
        "trades": 0,
    }
    bad = dry_run({"code": "from strategies import Strategy\nclass A(Strategy):\n  x = open\n"})
    assert {"line": 3, "message": "'open' is not allowed in a strategy"} in bad["problems"]
    assert bad["decisions"] == 0
