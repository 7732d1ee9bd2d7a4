"""Names, ids and inputs of the strategy workflows (the runner fed by the heartbeat, and the
actions it starts): what the heartbeat and the API need, without workflow code."""

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from workflows.inputs import OrderIntent, ProtectRequest

STRATEGY_RUNNER = "StrategyRunner"
STRATEGY_ACTION = "StrategyAction"
CANDLE_CLOSED = "candle_closed"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def runner_workflow_id(symbol: str, timeframe: str) -> str:
    """One runner per market and timeframe, shared by every user's strategies on it."""
    return f"strategies-{_slug(symbol)}-{timeframe}"


def action_workflow_id(strategy_id: int, timeframe: str, candle_ms: int, action: str) -> str:
    """From the strategy and the candle: a decision is acted on once, however often the
    evaluation that took it is retried."""
    return f"strategy-s{strategy_id}-{timeframe}-{candle_ms}-{action}"


class CandlesClosed(BaseModel):
    """Closed candles newly stored by the heartbeat, oldest first (a backfill brings many
    at once: one signal)."""

    open_times: list[datetime]


class RunnerInput(BaseModel):
    symbol: str  # unified, BTC/USDT
    timeframe: str
    # Carried over continue-as-new: candles signalled but not evaluated yet, and the last
    # one evaluated (an older or equal one signalled again is skipped).
    pending: list[datetime] = []
    last_done: datetime | None = None
    evaluated: int = 0


class EvaluationRequest(BaseModel):
    strategy_id: int
    symbol: str
    timeframe: str
    open_time: datetime


class EvaluationResult(BaseModel):
    strategy_id: int
    action: str  # none, buy, sell, protect, cancel_entry, error, skipped
    message: str
    workflow_id: str | None = None


class StrategyActionInput(BaseModel):
    """What a decision asks for: an order (buy, or liquidate), or new stop-loss /
    take-profit prices for the open position. (Cancelling a resting entry is the dashboard's
    own CancelOrder workflow.)"""

    strategy_id: int
    kind: Literal["order", "protect"]
    intent: OrderIntent | None = None
    broker_id: int | None = None
    symbol: str | None = None
    protect: ProtectRequest | None = None


class StrategyActionResult(BaseModel):
    status: str
    outcome: str
    order_id: int | None = None
    position_id: int | None = None
