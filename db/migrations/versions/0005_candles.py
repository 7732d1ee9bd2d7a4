"""closed candles of the market feed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 16:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base
import db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = db.types.Money(precision=38, scale=18)


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=4), nullable=False),
        sa.Column("open_time", db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("open", MONEY, nullable=False),
        sa.Column("high", MONEY, nullable=False),
        sa.Column("low", MONEY, nullable=False),
        sa.Column("close", MONEY, nullable=False),
        sa.Column("volume", MONEY, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("symbol", "timeframe", "open_time"),
    )


def downgrade() -> None:
    op.drop_table("candles")
