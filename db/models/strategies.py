from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, utcnow

STRATEGY_STATUSES = ("active", "paused", "error")


class Strategy(Base):
    """A user's strategy: its current code and where it trades (one broker, symbol and
    timeframe) while `active`. The code runs only in the sandbox processes."""

    __tablename__ = "strategies"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        # Positions are per broker and symbol: one active strategy trades there, enforced by
        # the database against two concurrent activations.
        Index(
            "uq_strategies_active_broker_symbol",
            "broker_id",
            "symbol",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(10), default="paused", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    broker_id: Mapped[int | None] = mapped_column(
        ForeignKey("brokers.id", ondelete="SET NULL"), index=True
    )
    symbol: Mapped[str | None] = mapped_column(String(40))  # unified, BTC/USDT
    timeframe: Mapped[str | None] = mapped_column(String(4))
    # The strategy's own state kept between candles (`self.vars`), JSON.
    vars: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Open time of the last candle evaluated: the runner never evaluates one twice.
    last_candle_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StrategyVersion(Base):
    """Every saved version of a strategy's code, kept for history and rollback."""

    __tablename__ = "strategy_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy_id: Mapped[int] = mapped_column(
        ForeignKey("strategies.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StrategyEvaluation(Base):
    """One strategy evaluated on one closed candle: at most once (the unique key), with its
    decision and the order workflow it started."""

    __tablename__ = "strategy_evaluations"
    __table_args__ = (UniqueConstraint("strategy_id", "timeframe", "candle_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy_id: Mapped[int] = mapped_column(
        ForeignKey("strategies.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    timeframe: Mapped[str] = mapped_column(String(4))
    candle_time: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # none, buy, sell, protect, cancel_entry, error
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
