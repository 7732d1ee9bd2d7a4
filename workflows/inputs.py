"""Workflow names, ids and inputs: what starters (the API) need, without workflow code."""

import re
from decimal import Decimal

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


def reconcile_schedule_id(broker_id: int) -> str:
    return f"reconcile-b{broker_id}"
