"""Charger membership of stations over time (SPEC F2): moving a charger never moves its history.

Revision ID: 0017_charger_membership
Revises: 0016_late_arrival
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_charger_membership"
down_revision: str | None = "0016_late_arrival"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charger_memberships",
        sa.Column("charger_id", sa.String(length=64), nullable=False, primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
    )
    # Every existing charger has been at its station since before any reading (NULL = unbounded).
    op.execute(
        "INSERT INTO charger_memberships (charger_id, seq, station_id, valid_from, valid_to)"
        " SELECT charger_id, 0, station_id, NULL, NULL FROM chargers"
    )


def downgrade() -> None:
    op.drop_table("charger_memberships")
