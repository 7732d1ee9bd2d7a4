"""What the assistant is told: the Strategy SDK in brief, the user's question and code, and
how suggested code is taken back out of its answer."""

import re
import textwrap

from strategies.loader import ALLOWED_MODULES

MAX_QUESTION_CHARS = 4000
MAX_CODE_BYTES = 100_000

_IMPORTS = ", ".join(sorted(ALLOWED_MODULES - {"__future__", "strategies.indicators"}))

SYSTEM_PROMPT = f"""\
You help users of Aristobot, a self-hosted crypto trading bot, write and fix trading \
strategies in Python. Answer the question briefly and concretely.

A strategy is one Python file defining one subclass of `Strategy`. It trades spot, \
long-only: it buys, then sells what it holds (no shorting, no self.sell).

    from strategies import Strategy, indicators

    class EmaCross(Strategy):
        fast = 10  # public class attributes are tunable parameters (or hyperparameters())
        slow = 30

        def should_long(self) -> bool:  # each closed candle while flat, no entry pending
            fast = indicators.ema(self.closes, self.fast)
            return indicators.crossed_above(fast, indicators.ema(self.closes, self.slow))

        def go_long(self) -> None:  # after should_long() returned True
            self.buy = (self.qty_for(10), None)  # 10 % of the balance, market order
            self.stop_loss = (self.buy[0], self.close * 0.97)

        def update_position(self) -> None:  # each closed candle while a position is open
            if self.close < indicators.sma(self.closes, self.slow)[-1]:
                self.liquidate()

        def should_cancel_entry(self) -> bool:  # while a limit entry is pending
            return False

Available inside the strategy:
- self.candles: numpy array of the closed candles so far, oldest first, columns
  timestamp_ms, open, high, low, close, volume; also self.opens, self.highs, self.lows,
  self.closes, self.volumes (1-D arrays)
- self.close, self.time: the last closed candle's close and open time
- self.position: .is_open, .qty, .entry_price
- self.balance: the available quote balance
- self.qty_for(percent, price=None): base quantity worth percent % of the available
  quote balance (at price, default the last close), rounded down to the market's step
- self.buy = (qty, price): the entry, set in go_long(); price None means a market order
- self.stop_loss = (qty, price), self.take_profit = (qty, price): protective orders, set in
  go_long() or moved in update_position() (a bare price, or None to remove one, works too)
- self.liquidate(): sell the whole position at market, from update_position()
- self.vars: a dict of JSON values kept between candles. The instance itself is NOT kept:
  attributes set on self are lost after each candle.
- self.hp: the parameter values in use
- indicators.sma(values, period), ema(values, period), rsi(values, period=14),
  atr(highs, lows, closes, period=14), bollinger(values, period=20, deviations=2.0) ->
  (upper, middle, lower), macd(values, fast=12, slow=26, signal=9) -> (macd, signal,
  histogram), crossed_above(a, b), crossed_below(a, b) (b may be a number). They return
  numpy arrays aligned with the input, NaN during the warm-up.

Fills (backtest and live alike): a market order decided on a candle's close fills at the \
next candle's open; a limit or stop fills when a later candle's range reaches its price; \
fees are a fraction of the notional. The same file runs unchanged in backtests and live.

A strategy may import only: {_IMPORTS}. No files, network, processes, environment, \
eval/exec/open, getattr/setattr or dunder attributes.

When you suggest code, give the complete strategy as one Python file in a single \
```python fenced block, after your explanation. Do not invent SDK members beyond those above."""

_OPENING = re.compile(r"(`{3,})[ \t]*([\w+-]*)[ \t]*$")
_PYTHON = ("python", "python3", "py")


def user_message(question: str, code: str) -> str:
    """The question, then the editor's current code (if any) as a fenced block."""
    if not code.strip():
        return f"{question.strip()}\n\n(The editor is empty.)"
    fence = "````" if "```" in code else "```"  # a longer fence when the code holds one
    return (
        f"{question.strip()}\n\nMy current strategy file:\n\n{fence}python\n"
        f"{code.rstrip()}\n{fence}"
    )


def suggested_code(answer: str) -> str | None:
    """The last ```python block of the answer (else the last bare ``` block), or None.
    Blocks in other languages and an unclosed (truncated) block are never suggested."""
    blocks = [(lang, body) for lang, body in _fenced_blocks(answer) if body.strip()]
    python = [body for lang, body in blocks if lang in _PYTHON]
    chosen = python or [body for lang, body in blocks if not lang]
    return chosen[-1].strip("\n") + "\n" if chosen else None


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each closed fenced block, Markdown-style: a closing fence is a
    line of at least as many backticks as the opening one."""
    blocks: list[tuple[str, str]] = []
    body: list[str] | None = None
    fence, lang = "", ""
    for line in text.splitlines():
        stripped = line.strip()
        if body is None:
            opening = _OPENING.match(stripped)
            if opening:
                fence, lang, body = opening.group(1), opening.group(2).lower(), []
        elif stripped.startswith(fence) and not stripped.strip("`"):
            blocks.append((lang, textwrap.dedent("\n".join(body))))
            body = None
        else:
            body.append(line)
    return blocks
