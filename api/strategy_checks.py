"""Checking a strategy's code before it is saved: the static rules (syntax, allowed imports,
one Strategy subclass), then a dry run on recent candles in the sandbox. Problems carry the
line they are about, so the editor can point at it."""

from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel

from market.candle_store import latest, timeframe_seconds
from market.simulated import simulated_candles
from workers.runtime import Runtime

# Candles of the dry run: enough for the usual indicators to warm up and decide.
DRY_RUN_CANDLES = 240
DEFAULT_MARKET = ("BTC/USDT", "1h")


class Problem(BaseModel):
    line: int | None
    message: str


class DryRun(BaseModel):
    candles: int
    decisions: int
    trades: int
    simulated: bool


class CodeCheck(BaseModel):
    ok: bool
    problems: list[Problem]
    dry_run: DryRun | None = None

    @property
    def summary(self) -> str:
        return "; ".join(
            f"line {p.line}: {p.message}" if p.line else p.message for p in self.problems
        )


async def check_code(
    runtime: Runtime, code: str, symbol: str | None = None, timeframe: str | None = None
) -> CodeCheck:
    from sandbox import StrategyFailed
    from strategies.loader import validate

    problems = [Problem(line=p.line, message=p.message) for p in validate(code)]
    if problems:
        return CodeCheck(ok=False, problems=problems)
    candles, simulated = await _recent_candles(runtime, symbol, timeframe)
    try:
        answer = await runtime.sandbox.call("dry_run", {"code": code, "candles": candles})
    except StrategyFailed as failure:
        return CodeCheck(ok=False, problems=[_problem(failure.reason)])
    except RuntimeError as refused:  # the machine cannot isolate strategy code: say so
        raise HTTPException(503, str(refused)) from refused
    problems = [Problem.model_validate(p) for p in answer.get("problems", [])]
    return CodeCheck(
        ok=not problems,
        problems=problems,
        dry_run=DryRun(
            candles=len(candles),
            decisions=int(answer.get("decisions", 0)),
            trades=int(answer.get("trades", 0)),
            simulated=simulated,
        ),
    )


async def _recent_candles(
    runtime: Runtime, symbol: str | None, timeframe: str | None
) -> tuple[list[list[Any]], bool]:
    """The market's stored candles; the simulated walk when the feed has not stored enough
    yet (a fresh install), so the dry run always runs."""
    symbol, timeframe = symbol or DEFAULT_MARKET[0], timeframe or DEFAULT_MARKET[1]
    async with runtime.sessions() as session:
        rows = await latest(session, symbol, timeframe, DRY_RUN_CANDLES)
    if len(rows) >= DRY_RUN_CANDLES // 2:
        return [_row(r.open_time, r.open, r.high, r.low, r.close, r.volume) for r in rows], False
    generated = simulated_candles(
        symbol, timeframe_seconds(timeframe), None, DRY_RUN_CANDLES + 1, datetime.now(UTC)
    )
    closed = [c for c in generated if c.closed]
    return [_row(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in closed], True


def _row(at: datetime, *values: Any) -> list[Any]:
    return [int(at.timestamp() * 1000), *(str(v) for v in values)]


def _problem(reason: str) -> Problem:
    """`line 12: ZeroDivisionError: …` from the sandbox becomes a problem on line 12."""
    head, _, rest = reason.partition(": ")
    if head.startswith("line ") and head[5:].isdigit():
        return Problem(line=int(head[5:]), message=rest)
    return Problem(line=None, message=reason)
