from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.types import Money

ORDER_STATUSES = ("pending", "open", "partially_filled", "filled", "canceled", "rejected", "error")
ORDER_SOURCES = ("webhook", "manual", "strategy", "reconcile")


class Order(Base):
    __tablename__ = "orders"
    # The client order id is the idempotency key of a placement on one broker.
    __table_args__ = (UniqueConstraint("broker_id", "client_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("brokers.id", ondelete="CASCADE"), index=True)
    position_id: Mapped[int | None] = mapped_column(ForeignKey("positions.id"), index=True)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"))
    strategy_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategies.id", ondelete="SET NULL"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    quantity: Mapped[Decimal | None] = mapped_column(Money)
    quote_amount: Mapped[Decimal | None] = mapped_column(Money)
    filled_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    price: Mapped[Decimal | None] = mapped_column(Money)
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    # Trigger price of a stop_loss / take_profit order.
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    # On an entry (buy): the protection to place once it fills, whoever sees the fill first.
    stop_loss: Mapped[Decimal | None] = mapped_column(Money)
    take_profit: Mapped[Decimal | None] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fee_asset: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    client_order_id: Mapped[str] = mapped_column(String(64))
    exchange_order_id: Mapped[str | None] = mapped_column(String(100))
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # Set once the order is done and its whole fill applied to its position, so a retry
    # never applies it twice. Partial fills are applied as they come: what was applied so
    # far (quantity, quote value at fill prices, fee) lets the next pass apply the rest.
    position_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    applied_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    applied_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Position(Base):
    """A spot long position on one broker and symbol (at most one open at a time)."""

    __tablename__ = "positions"
    # At most one open position per broker and symbol, enforced by the database: two
    # concurrent buys must not each open one (FOR UPDATE cannot lock a missing row).
    __table_args__ = (
        Index(
            "uq_positions_open_broker_symbol",
            "broker_id",
            "symbol",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("brokers.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(5), default="long")
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    entry_price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # Cost of the open quantity in quote, entry fees included: the base of realized P&L.
    cost_basis: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # Gross quantity bought: the weight of the average entry price.
    bought_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    stop_loss: Mapped[Decimal | None] = mapped_column(Money)
    take_profit: Mapped[Decimal | None] = mapped_column(Money)
    # none | pending | protected | unprotected: whether the exchange holds the SL/TP orders.
    protection: Mapped[str] = mapped_column(String(12), default="none")
    protection_error: Mapped[str | None] = mapped_column(Text)
    realized_pnl: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fees_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    opened_webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"))
    opened_strategy_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategies.id", ondelete="SET NULL"), index=True
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
