"""paper trigger orders: stop price and trigger time of stop-loss / take-profit orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.base
import db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stop_price", db.types.Money(precision=38, scale=18), nullable=True)
        )
        batch_op.add_column(
            sa.Column("triggered_at", db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.drop_column("triggered_at")
        batch_op.drop_column("stop_price")
