from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow


class FeedStatus(Base):
    """The market feed's health, written by the heartbeat process and read by the API (they
    may run in different processes): one row per feed."""

    __tablename__ = "feed_status"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))  # binance | simulated
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    streams: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Milliseconds between the exchange's event time and its arrival here.
    lag_ms: Mapped[int | None] = mapped_column(Integer)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    backfilled: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
