"""Late arrival (SPEC F2): corrections of uploaded 15-minute aggregates kept with their history, and each
reading's receive time, so readings that arrive after an evaluation mark it stale like corrections do.

Revision ID: 0016_late_arrival
Revises: 0015_batch_digest
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_late_arrival"
down_revision: str | None = "0015_batch_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str, length: int) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=False)


def upgrade() -> None:
    op.create_table(
        "interval_aggregate_corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _id("aggregator_id", 40),
        _id("station_id", 64),
        _time("slot_start"),
        _id("source", 120),
        _id("batch_id", 64),
        _time("correct_time"),
        sa.Column("old_mean_power_w", sa.BigInteger(), nullable=False),
        sa.Column("new_mean_power_w", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_interval_aggregate_corrections_slot",
        "interval_aggregate_corrections",
        ["aggregator_id", "slot_start"],
    )
    # Readings stored before this revision count as received before any evaluation made after it.
    with op.batch_alter_table("meter_values") as batch:
        batch.add_column(_time("receive_time", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meter_values") as batch:
        batch.drop_column("receive_time")
    op.drop_index("ix_interval_aggregate_corrections_slot", table_name="interval_aggregate_corrections")
    op.drop_table("interval_aggregate_corrections")
