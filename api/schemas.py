"""Response shapes (CONTRACT.md field names; decimals serialize as strings)."""

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from config.settings import Settings
from db.models import MarketRow, Order, Position, SymbolSync, Webhook
from trading.positions import PositionState, unrealized_pnl

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class UserOut(BaseModel):
    id: int
    username: str
    is_admin: bool


class OrderOut(BaseModel):
    id: int
    broker_id: int
    symbol: str
    side: str
    type: str
    status: str
    quantity: Decimal | None
    quote_amount: Decimal | None
    filled_quantity: Decimal
    price: Decimal | None
    # Trigger price of a stop_loss / take_profit order.
    stop_price: Decimal | None
    average_price: Decimal | None
    fee: Decimal
    fee_asset: str | None
    source: str
    client_order_id: str
    exchange_order_id: str | None
    position_id: int | None
    webhook_id: int | None
    strategy_id: int | None
    workflow_id: str | None
    workflow_url: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order, settings: Settings) -> "OrderOut":
        return cls(
            **{k: getattr(order, k) for k in cls.model_fields if k != "workflow_url"},
            workflow_url=settings.workflow_url(order.workflow_id),
        )


class OrderDetail(OrderOut):
    raw: dict[str, Any] | None

    @classmethod
    def of(cls, order: Order, settings: Settings) -> "OrderDetail":
        return cls(**OrderOut.of(order, settings).model_dump(), raw=order.raw)


class PositionOut(BaseModel):
    id: int
    broker_id: int
    symbol: str
    side: str
    status: str
    quantity: Decimal
    entry_price: Decimal
    cost_basis: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    current_price: Decimal | None
    fees_paid: Decimal
    # "none", "pending", "protected" or "unprotected" (SL/TP orders on the exchange).
    protection: str
    protection_error: str | None
    opened_webhook_id: int | None
    opened_strategy_id: int | None
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, position: Position, price: Decimal | None) -> "PositionOut":
        unrealized = None
        if position.status == "open" and price is not None:
            held = PositionState(quantity=position.quantity, cost_basis=position.cost_basis)
            unrealized = unrealized_pnl(held, price)
        fields = {
            k: getattr(position, k)
            for k in cls.model_fields
            if k not in ("unrealized_pnl", "current_price")
        }
        return cls(**fields, unrealized_pnl=unrealized, current_price=price)


class WebhookStats(BaseModel):
    """Counts of the webhooks received in a window, by outcome."""

    window: str
    since: datetime
    total: int
    processed: int
    rejected: int
    errors: int
    duplicates: int
    # received or processing: not finished yet.
    pending: int
    # Percent of `total` processed, one decimal; None when nothing arrived.
    success_rate: Decimal | None
    open_positions: int


class WebhookOut(BaseModel):
    id: int
    broker_id: int
    status: str
    action: str | None
    symbol: str | None
    price: Decimal | None
    percent: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    alert_id: str | None
    interval: str | None
    bar_time: str | None
    exchange: str | None
    error: str | None
    outcome: str | None
    trace_id: str
    workflow_id: str | None
    workflow_url: str | None
    duplicate_of_id: int | None
    order_id: int | None
    received_at: datetime
    updated_at: datetime
    raw_body: str
    content_type: str | None

    @classmethod
    def of(cls, webhook: Webhook, settings: Settings) -> "WebhookOut":
        return cls(
            **{k: getattr(webhook, k) for k in cls.model_fields if k != "workflow_url"},
            workflow_url=settings.workflow_url(webhook.workflow_id),
        )


class SymbolOut(BaseModel):
    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_qty: Decimal
    min_notional: Decimal
    active: bool
    synced_at: datetime

    @classmethod
    def of(cls, row: MarketRow) -> "SymbolOut":
        return cls(**{k: getattr(row, k) for k in cls.model_fields})


class SymbolSyncOut(BaseModel):
    id: int
    broker_id: int
    status: str
    total: int
    stored: int
    added: int
    delisted: int
    error: str | None
    workflow_id: str | None
    workflow_url: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, sync: SymbolSync, settings: Settings) -> "SymbolSyncOut":
        return cls(
            **{k: getattr(sync, k) for k in cls.model_fields if k != "workflow_url"},
            workflow_url=settings.workflow_url(sync.workflow_id),
        )
