"""position protection (SL/TP orders and their state), fills applied as they come

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = db.types.Money(precision=38, scale=18)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("stop_price", MONEY, nullable=True))
        batch.add_column(sa.Column("stop_loss", MONEY, nullable=True))
        batch.add_column(sa.Column("take_profit", MONEY, nullable=True))
        for column in ("applied_quantity", "applied_cost", "applied_fee"):
            batch.add_column(sa.Column(column, MONEY, nullable=False, server_default="0"))
    with op.batch_alter_table("positions") as batch:
        batch.add_column(
            sa.Column("protection", sa.String(length=12), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("protection_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("protection_error")
        batch.drop_column("protection")
    with op.batch_alter_table("orders") as batch:
        for column in ("applied_fee", "applied_cost", "applied_quantity"):
            batch.drop_column(column)
        batch.drop_column("take_profit")
        batch.drop_column("stop_loss")
        batch.drop_column("stop_price")
