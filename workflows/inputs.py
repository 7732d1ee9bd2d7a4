"""Workflow names, ids and inputs: what starters (the API) need, without workflow code."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

WEBHOOK_SIGNAL = "WebhookSignal"


class WebhookSignalInput(BaseModel):
    webhook_id: int
    user_id: int
    broker_id: int
    action: str
    symbol: str | None = None
    price: Decimal | None = None
    percent: Decimal = Decimal(100)
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


class WebhookSignalResult(BaseModel):
    status: str
    outcome: str
    order_id: int | None = None
    position_id: int | None = None


def webhook_workflow_id(
    broker_id: int, webhook_id: int, action: str, symbol: str | None, trace_id: str
) -> str:
    """Readable and unique: `webhook-b3-w42-buymarket-btc-usdt-1a76a745`. The trace id's
    head keeps ids unique even if row ids are reused (a database recreated next to a
    Temporal server that kept its history)."""
    tail = f"-{re.sub(r'[^a-z0-9]+', '-', symbol.lower())}" if symbol else ""
    return f"webhook-b{broker_id}-w{webhook_id}-{action.lower()}{tail}-{trace_id[:8]}"


SYMBOL_SYNC = "SymbolSync"


class SymbolSyncInput(BaseModel):
    sync_id: int
    broker_id: int
    user_id: int


class SymbolSyncResult(BaseModel):
    total: int
    added: int
    delisted: int


def symbol_sync_workflow_id(broker_id: int) -> str:
    """One per broker: Temporal refuses a second run while one is open."""
    return f"symbols-b{broker_id}"


RECONCILE = "ReconcileBroker"


class ReconcileInput(BaseModel):
    broker_id: int


class ReconcileResult(BaseModel):
    updated: int = 0
    imported: int = 0
    # Positions whose stop-loss / take-profit must follow what the pass recorded.
    positions: list[int] = []


def reconcile_schedule_id(broker_id: int) -> str:
    return f"reconcile-b{broker_id}"


class OrderIntent(BaseModel):
    """One order to place, whoever asks (webhook, dashboard, strategy). Sized by exactly one
    of: `percent` (of the free quote on a buy, of the free base on a sell), `quantity` (base),
    `quote_amount` (quote, market buys) or `close_quantity` (a sell closing a position: that
    quantity, or all the free base when less is held)."""

    user_id: int
    broker_id: int
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    source: Literal["webhook", "manual", "strategy"]
    percent: Decimal | None = None
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    # A strategy's exit sells its position, not coins the account holds besides it; capped
    # at the free base (a fee taken in the base leaves a little less than was bought).
    close_quantity: Decimal | None = None
    price: Decimal | None = None  # limit price
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    webhook_id: int | None = None
    strategy_id: int | None = None


class OrderOutcome(BaseModel):
    order_id: int
    status: str  # the order's status: filled, open (resting limit), partially_filled...
    outcome: str  # one sentence for the user
    position_id: int | None = None


POSITION_GUARD = "PositionGuard"


def guard_calls_queue(task_queue: str) -> str:
    """Where the activities waiting for a guard run (see workers/worker.py)."""
    return f"{task_queue}-guard-calls"


def position_guard_workflow_id(position_id: int) -> str:
    """One per position: every change to its protective orders goes through this workflow."""
    return f"position-{position_id}"


class GuardInput(BaseModel):
    position_id: int
    # Carried over continue-as-new: client id numbering, and the sells holding the quantity
    # (hold request id -> until when).
    seq: int | None = None
    holds: dict[str, datetime] = {}


class GuardCall(BaseModel):
    position_id: int
    request_id: str
    # On `resume`: the request id of the hold it ends (each sell lifts only its own).
    hold_id: str | None = None


class ProtectRequest(BaseModel):
    """New stop-loss / take-profit prices. With `replace_both`, a missing price removes that
    leg (dashboard edit); without, a missing price keeps the current one (MAJ webhook)."""

    request_id: str
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    replace_both: bool = False
    source: str = "webhook"


class ProtectOutcome(BaseModel):
    # applied | superseded | rejected (bad prices, nothing changed) | restored (the new
    # orders were refused, the previous ones re-placed) | unprotected | closed
    status: str
    message: str
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    position_id: int | None = None


class HoldRequest(BaseModel):
    """A sell is about to use the position's quantity: cancel its protective orders and keep
    them off until the matching `resume`."""

    request_id: str


class HoldOutcome(BaseModel):
    held: bool
    message: str = ""
