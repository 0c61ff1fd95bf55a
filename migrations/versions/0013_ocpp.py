"""OCPP gateway: station credentials (hashed Basic password) and OCPP transactions mapped to sessions.

Revision ID: 0013_ocpp
Revises: 0011_operations
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_ocpp"
down_revision: str | None = "0011_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocpp_stations",
        sa.Column("charger_id", sa.String(length=64), nullable=False, primary_key=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("last_transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ocpp_transactions",
        sa.Column("charger_id", sa.String(length=64), nullable=False, primary_key=True),
        sa.Column("transaction_id", sa.String(length=36), nullable=False, primary_key=True),
        sa.Column("aggregator_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_time", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ocpp_transactions")
    op.drop_table("ocpp_stations")
