from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow
from db.types import Money

EXCHANGES = ("paper", "binance", "bitget", "kraken")
TRADING_MODES = ("off", "strategies", "webhooks")


class Broker(Base):
    """One exchange account of a user."""

    __tablename__ = "brokers"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    exchange: Mapped[str] = mapped_column(String(20))
    trading_mode: Mapped[str] = mapped_column(String(20), default="off")
    base_url: Mapped[str | None] = mapped_column(String(255))
    # Fernet-encrypted JSON {"api_key","api_secret","passphrase"}; never leaves the server.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    # The webhook token: SHA-256 for lookup (unique index), Fernet for showing the URL again.
    webhook_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_token_encrypted: Mapped[str] = mapped_column(Text)
    paper_fee_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.001"))
    paper_slippage: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
