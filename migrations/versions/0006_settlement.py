"""Settlement: evaluations, statements and statement lines (SPEC F8–F10).

Revision ID: 0006_settlement
Revises: 0005_market
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006_settlement"
down_revision: str | None = "0005_market"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False, primary_key: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


def _id(name: str, length: int, *, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=False, primary_key=primary_key)


def _nanos(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _exact(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=200), nullable=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        _id("event_id", 64, primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        _id("direction", 16),
        _id("baseline_method", 16),
        _id("requested_method", 16),
        sa.Column("baseline_days", sa.Text(), nullable=False),
        sa.Column("slots", sa.Text(), nullable=False),
        _exact("mean_rate"),
        _exact("min_rate"),
        _id("energy_responded_wh", 200),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        _time("create_time"),
    )
    op.create_table(
        "statements",
        _id("event_id", 64, primary_key=True),
        _id("statement_id", 64, primary_key=True),
        _id("aggregator_id", 40),
        _id("kind", 16),
        _id("adjusts", 64),
        sa.Column("sequence", sa.Integer(), nullable=False),
        _nanos("compensation_nanos"),
        _nanos("penalty_nanos"),
        _nanos("fee_nanos"),
        _id("state", 16),
        _id("dispute_reason", 2000),
        _time("aggregator_confirm_time", nullable=True),
        _time("grid_confirm_time", nullable=True),
        _time("confirm_time", nullable=True),
        _time("create_time"),
        _time("update_time"),
    )
    op.create_index("ix_statements_aggregator", "statements", ["aggregator_id", "create_time", "event_id"])
    op.create_table(
        "statement_lines",
        _id("event_id", 64, primary_key=True),
        _id("statement_id", 64, primary_key=True),
        _time("slot_start", primary_key=True),
        _nanos("compensation_nanos"),
        _nanos("penalty_nanos"),
        _nanos("instructed_w", nullable=True),
        _exact("baseline_w"),
        _exact("actual_w"),
        _exact("response_w"),
        _exact("rate"),
        _nanos("price_nanos", nullable=True),
        _nanos("line_compensation_nanos", nullable=True),
        _nanos("line_penalty_nanos", nullable=True),
    )


def downgrade() -> None:
    for table in ("statement_lines", "statements", "evaluations"):
        op.drop_table(table)
