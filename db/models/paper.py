from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.types import Money


class PaperBalance(Base):
    """The simulated exchange's wallet of one paper broker."""

    __tablename__ = "paper_balances"

    broker_id: Mapped[int] = mapped_column(
        ForeignKey("brokers.id", ondelete="CASCADE"), primary_key=True
    )
    asset: Mapped[str] = mapped_column(String(20), primary_key=True)
    free: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    locked: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class PaperOrder(Base):
    """An order as the simulated exchange knows it (its own ids, its own state)."""

    __tablename__ = "paper_orders"
    __table_args__ = (UniqueConstraint("broker_id", "client_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broker_id: Mapped[int] = mapped_column(ForeignKey("brokers.id", ondelete="CASCADE"), index=True)
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(20))
    # new -> filled | canceled | rejected; limit orders stay new (resting) until the market
    # crosses, stop_loss / take_profit until triggered (then as a market or a limit order).
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    quantity: Mapped[Decimal | None] = mapped_column(Money)
    quote_amount: Mapped[Decimal | None] = mapped_column(Money)
    price: Mapped[Decimal | None] = mapped_column(Money)
    # Trigger price of a stop_loss / take_profit, and when it fired (None: still waiting,
    # holding no funds, as exchanges keep trigger orders off the book).
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filled_quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fee_asset: Mapped[str | None] = mapped_column(String(20))
    reject_reason: Mapped[str | None] = mapped_column(String(255))
    # Until when the market was already checked against this resting order.
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
