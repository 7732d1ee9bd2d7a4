"""Backtests against hand-computed fills, fees and metrics; the CSV reader; the CLI command."""

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from strategies.backtest import load_candles_csv, run_backtest
from strategies.candles import Candle, CandleError
from strategies.loader import StrategyRuntimeError

ROOT = Path(__file__).resolve().parent.parent
ARISTOBOT = str(Path(sys.executable).parent / "aristobot")
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

# Enters once (or again after each exit with repeat=True) with the given quantity, optional
# limit price, stop-loss and take-profit; liquidates after `exit_after` candles in position;
# cancels a pending entry after 3 candles.
SCRIPTED = textwrap.dedent(
    """
    from strategies import Strategy

    class Scripted(Strategy):
        qty = 10.0
        limit = 0.0
        stop = 0.0
        target = 0.0
        exit_after = 0
        repeat = False

        def should_long(self):
            return self.repeat or not self.vars.get("done")

        def go_long(self):
            self.buy = (self.qty, self.limit or None)
            if self.stop:
                self.stop_loss = (self.qty, self.stop)
            if self.target:
                self.take_profit = (self.qty, self.target)
            self.vars["done"] = True
            self.vars["balances"] = self.vars.get("balances", []) + [self.balance]

        def update_position(self):
            self.vars["held"] = self.vars.get("held", 0) + 1
            if self.exit_after and self.vars["held"] >= self.exit_after:
                self.liquidate()

        def should_cancel_entry(self):
            self.vars["pending_balance"] = self.balance
            self.vars["waited"] = self.vars.get("waited", 0) + 1
            return self.vars["waited"] >= 3
    """
)


def bars(*ohlc: tuple[float, float, float, float]) -> list[list[Any]]:
    return [[T0 + i * HOUR, o, h, low, c, 1] for i, (o, h, low, c) in enumerate(ohlc)]


def backtest(rows: list[list[Any]], **params: Any) -> dict[str, Any]:
    return run_backtest(SCRIPTED, rows, "BTCUSDT", "1h", params=params)


def iso(index: int) -> str:
    return f"2024-01-01T{index:02d}:00:00Z"


def test_market_entry_fills_at_the_next_open_and_exits_at_the_take_profit() -> None:
    rows = bars(
        (100, 101, 99, 100),  # decides: buy 10 at market, stop 90, target 110
        (102, 105, 101, 104),  # filled at the open, 102: cost 1020 + fee 1.02
        (104, 111, 103, 108),  # reaches 110: sold at 110, fee 1.10
        (108, 109, 107, 108),
    )
    result = backtest(rows, stop=90, target=110)
    assert result["trades"] == [
        {
            "side": "long",
            "entry_time": iso(1),
            "exit_time": iso(2),
            "qty": "10",
            "entry_price": "102",
            "exit_price": "110",
            "fee": "2.12",
            "pnl": "77.88",  # 1100 - 1020 - 1.02 - 1.10
            "exit_reason": "take_profit",
        }
    ]
    assert result["final_equity"] == "10077.88"
    assert result["open_position"] is None
    metrics = result["metrics"]
    assert metrics["total_return"] == "0.007788"
    assert metrics["max_drawdown"] == "0"
    assert (metrics["win_rate"], metrics["profit_factor"], metrics["trades"]) == (
        "1",
        "Infinity",
        1,
    )
    # equity at each close (after the starting 10000): 10000, 8978.98 + 1040, 10077.88 twice
    equity = [10000, 10000, 10018.98, 10077.88, 10077.88]
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)]
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365 * 24)
    assert float(metrics["sharpe"]) == pytest.approx(sharpe, abs=1e-6)
    assert result["decisions"] == 1
    assert (result["start"], result["end"]) == (iso(0), iso(3))


def test_a_stop_gapped_through_fills_at_the_open() -> None:
    rows = bars(
        (100, 101, 99, 100),
        (100, 101, 99, 100),  # filled at 100: cost 1000 + fee 1
        (93, 94, 90, 92),  # opens below the 95 stop: sold at 93, not 95
    )
    result = backtest(rows, stop=95, target=120)
    [trade] = result["trades"]
    assert (trade["exit_price"], trade["exit_reason"]) == ("93", "stop_loss")
    assert (trade["fee"], trade["pnl"]) == ("1.93", "-71.93")  # 930 - 1000 - 1 - 0.93
    assert result["final_equity"] == "9928.07"
    metrics = result["metrics"]
    assert metrics["max_drawdown"] == "0.007193"  # (10000 - 9928.07) / 10000
    assert (metrics["win_rate"], metrics["profit_factor"]) == ("0", "0")


def test_stop_and_target_in_the_same_candle_assume_the_stop() -> None:
    rows = bars((100, 101, 99, 100), (100, 101, 99, 100), (100, 106, 94, 101))
    [trade] = backtest(rows, stop=95, target=105)["trades"]
    assert (trade["exit_price"], trade["exit_reason"], trade["pnl"]) == (
        "95",
        "stop_loss",
        "-51.95",  # 950 - 1000 - 1 - 0.95
    )


def test_limit_entry_fills_when_the_range_reaches_it() -> None:
    rows = bars(
        (100, 101, 99, 100),  # decides: buy 10 limit 95, stop 90
        (98, 99, 96, 97),  # low 96: still pending
        (97, 98, 94, 96),  # low 94: filled at 95
        (96, 97, 89, 91),  # low 89: stopped at 90
    )
    result = backtest(rows, limit=95, stop=90)
    [trade] = result["trades"]
    assert trade["entry_time"] == iso(2) and trade["exit_time"] == iso(3)
    assert (trade["entry_price"], trade["exit_price"]) == ("95", "90")
    assert (trade["fee"], trade["pnl"]) == ("1.85", "-51.85")  # 900 - 950 - 0.95 - 0.90
    assert result["final_equity"] == "9948.15"


def test_limit_entry_gapped_below_fills_at_the_open() -> None:
    rows = bars((100, 101, 99, 100), (94, 96, 93, 95), (95, 96, 94, 95))
    result = backtest(rows, limit=95)
    assert result["open_position"]["entry_price"] == "94"
    assert result["final_equity"] == "10009.06"  # 10000 - 940.94 + 10 * 95


def test_pending_limit_entry_is_cancelled_and_its_cash_reserved() -> None:
    rows = bars(*[(100, 101, 99, 100)] * 6)
    result = backtest(rows, limit=50, repeat=True)
    # candle 0: buy limit 50; candles 1-3: should_cancel_entry, True on the third; candle 4:
    # flat again, buys again; candle 5: cancels again (the wait count is never reset)
    assert result["trades"] == [] and result["open_position"] is None
    assert result["decisions"] == 4
    assert result["final_equity"] == "10000"
    # a pending entry's cost and fee (500 + 0.5) are not available to the strategy
    assert result["vars"]["pending_balance"] == 9499.5
    assert result["vars"]["balances"] == [10000, 10000]


def test_liquidate_sells_at_the_next_open() -> None:
    rows = bars(
        (100, 101, 99, 100),
        (102, 105, 101, 104),  # filled at 102; update_position 1
        (104, 106, 103, 105),  # update_position 2: liquidate
        (108, 109, 107, 108),  # sold at the open, 108
    )
    result = backtest(rows, exit_after=2)
    [trade] = result["trades"]
    assert (trade["exit_time"], trade["exit_price"], trade["exit_reason"]) == (
        iso(3),
        "108",
        "liquidate",
    )
    assert trade["pnl"] == "57.9"  # 1080 - 1020 - 1.02 - 1.08


def test_several_trades_metrics_and_an_open_position_marked_to_market() -> None:
    rows = bars(
        (100, 101, 99, 100),  # buy
        (102, 105, 101, 104),  # filled at 102
        (104, 111, 103, 108),  # target 110: +77.88; buys again at the close
        (107, 108, 100, 101),  # filled at 107
        (95, 96, 89, 92),  # stop 90: -171.97 (900 - 1070 - 1.07 - 0.90); buys again
        (92, 93, 91, 92),  # filled at 92, still open at the end
    )
    result = backtest(rows, stop=90, target=110, repeat=True)
    assert [trade["pnl"] for trade in result["trades"]] == ["77.88", "-171.97"]
    assert result["open_position"] == {
        "entry_time": iso(5),
        "qty": "10",
        "entry_price": "92",
        "mark_price": "92",
        "unrealized_pnl": "-0.92",
        "stop_loss": "90",
        "take_profit": "110",
    }
    # cash 8984.99 after the third entry + 10 x 92
    assert result["final_equity"] == "9904.99"
    metrics = result["metrics"]
    assert metrics["total_return"] == "-0.009501"
    assert metrics["win_rate"] == "0.5"
    assert metrics["profit_factor"] == str(round(Decimal("77.88") / Decimal("171.97"), 8))
    # peak 10077.88 (candle 2), lowest later 9904.99
    assert metrics["max_drawdown"] == str(
        round((Decimal("10077.88") - Decimal("9904.99")) / Decimal("10077.88"), 8)
    )
    assert metrics["trades"] == 2
    assert result["decisions"] == 3  # three buys; the exits were stop/target fills
    # the quote balance the strategy saw at each entry
    assert result["vars"]["balances"] == [10000, 10077.88, 9905.91]


def test_an_entry_the_cash_cannot_cover_at_the_next_open_is_cut_down() -> None:
    rows = bars((100, 101, 99, 100), (101, 102, 100, 101))
    result = backtest(rows, qty=100)  # affordable at the 100 close, not at the 101 open
    expected = (Decimal(10000) / (Decimal(101) * Decimal("1.001"))).quantize(
        Decimal("0.00000001"), rounding=ROUND_FLOOR
    )
    assert Decimal(result["open_position"]["qty"]) == expected == Decimal("98.91099")
    assert Decimal(result["final_equity"]) < Decimal(10000)


def test_strategy_errors_name_the_users_line() -> None:
    broken = SCRIPTED.replace(
        'self.vars["held"] = self.vars.get("held", 0) + 1', "self.vars['held'] = 1 / 0"
    )
    rows = bars((100, 101, 99, 100), (100, 101, 99, 100))
    with pytest.raises(StrategyRuntimeError) as caught:
        run_backtest(broken, rows, "BTCUSDT", "1h")
    assert str(caught.value) == "line 25: ZeroDivisionError: division by zero"
    with pytest.raises(ValueError, match="unknown timeframe '1x'"):
        run_backtest(SCRIPTED, rows, "BTCUSDT", "1x")


# -- candles CSV -----------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_csv_accepts_milliseconds_and_iso_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path / "candles.csv",
        f"""
        timestamp,open,high,low,close,volume
        {T0},100,101,99,100.5,12
        2024-01-01T01:00:00Z,100.5,102,100,101,3.25
        2024-01-01 02:00:00,101,101,100,100,0
        """,
    )
    assert load_candles_csv(path) == [
        Candle(T0, Decimal(100), Decimal(101), Decimal(99), Decimal("100.5"), Decimal(12)),
        Candle(
            T0 + HOUR, Decimal("100.5"), Decimal(102), Decimal(100), Decimal(101), Decimal("3.25")
        ),
        Candle(T0 + 2 * HOUR, Decimal(101), Decimal(101), Decimal(100), Decimal(100), Decimal(0)),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,open,high,low,close,volume\n", "candles.csv line 1: expected the header"),
        ("timestamp,open,high,low,close,volume\n", "candles.csv: no candles after the header"),
        (
            "timestamp,open,high,low,close,volume\n1,2,3,1,2,1\n2,2,abc,1,2,1\n",
            "candles.csv line 3: high 'abc' is not a number",
        ),
        (
            "timestamp,open,high,low,close,volume\n1,2,3,1,2,1\n2,2,1.5,1,2,1\n",
            "candles.csv line 3: high 1.5 / low 1 do not contain open 2 and close 2",
        ),
        (
            "timestamp,open,high,low,close,volume\n5,2,3,1,2,1\n5,2,3,1,2,1\n",
            "candles.csv line 3: timestamp 5 is not after the previous one (5)",
        ),
        (
            "timestamp,open,high,low,close,volume\nyesterday,2,3,1,2,1\n",
            "candles.csv line 2: timestamp 'yesterday' is neither milliseconds nor ISO-8601",
        ),
        ("timestamp,open,high,low,close,volume\n1,2,3,1,2\n", "candles.csv line 2: expected 6"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(body)
    with pytest.raises(CandleError) as caught:
        load_candles_csv(path)
    assert str(caught.value).startswith(message)


# -- the command -----------------------------------------------------------------------


def aristobot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [ARISTOBOT, "backtest", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_backtest_command_prints_json(tmp_path: Path) -> None:
    strategy = tmp_path / "scripted.py"
    strategy.write_text(
        SCRIPTED.replace("stop = 0.0", "stop = 90.0").replace("target = 0.0", "target = 110.0")
    )
    csv = write(
        tmp_path / "btc.csv",
        """
        timestamp,open,high,low,close,volume
        2024-01-01T00:00:00Z,100,101,99,100,1
        2024-01-01T01:00:00Z,102,105,101,104,1
        2024-01-01T02:00:00Z,104,111,103,108,1
        2024-01-01T03:00:00Z,108,109,107,108,1
        """,
    )
    common = ["--strategy", str(strategy), "--candles", str(csv), "--symbol", "BTCUSDT"]
    done = aristobot(*common, "--timeframe", "1h", "--cash", "5000", "--fee", "0.002", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [trade] = result["trades"]
    # fees 0.2%: 2.04 on the 1020 entry, 2.20 on the 1100 exit
    assert (trade["entry_time"], trade["exit_time"]) == (iso(1), iso(2))
    assert (trade["fee"], trade["pnl"]) == ("4.24", "75.76")
    assert result["final_equity"] == "5075.76"
    assert result["metrics"]["total_return"] == "0.015152"
    human = aristobot(*common, "--timeframe", "1h")
    assert human.returncode == 0, human.stderr
    assert "trades 1, win rate 100.00%" in human.stdout
    assert "final equity 10077.88" in human.stdout


def test_backtest_command_errors_are_one_line(tmp_path: Path) -> None:
    strategy = tmp_path / "bad.py"
    strategy.write_text("import os\nfrom strategies import Strategy\n")
    csv = write(tmp_path / "c.csv", "timestamp,open,high,low,close,volume\n1,2,3,1,2,1\n")
    args = ["--candles", str(csv), "--symbol", "BTCUSDT", "--timeframe", "1h", "--json"]
    bad = aristobot("--strategy", str(strategy), *args)
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith("aristobot: bad.py line 1: import of 'os' is not allowed")
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = aristobot("--strategy", str(tmp_path / "nope.py"), *args)
    assert missing.returncode == 1
    assert "cannot read the strategy file" in missing.stderr
