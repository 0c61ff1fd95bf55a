"""Monitoring: per-minute event progress (event, aggregator, node), cached baselines, alarms.

Revision ID: 0007_monitoring
Revises: 0006_settlement
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_monitoring"
down_revision: str | None = "0006_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, primary_key=primary_key)


def _id(name: str, length: int, *, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=False, primary_key=primary_key)


def _figures() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.BigInteger(), nullable=False) for name in ("target_w", "actual_w", "baseline_w")
    ]


def upgrade() -> None:
    op.create_table(
        "monitoring_minutes",
        _id("event_id", 64, primary_key=True),
        _time("minute_start", primary_key=True),
        _id("event_state", 16),
        *_figures(),
        _time("create_time"),
    )
    op.create_table(
        "monitoring_aggregator_minutes",
        _id("event_id", 64, primary_key=True),
        _time("minute_start", primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        *_figures(),
        sa.Column("response_w", sa.BigInteger(), nullable=False),
        sa.Column("deviation", sa.String(length=64), nullable=True),
        sa.Column("unmeasured", sa.Boolean(), nullable=False),
        sa.Column("node_targets", sa.Text(), nullable=False),
        sa.Column("lag_reset", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "monitoring_node_minutes",
        _id("event_id", 64, primary_key=True),
        _time("minute_start", primary_key=True),
        _id("grid_node", 64, primary_key=True),
        *_figures(),
        sa.Column("response_w", sa.BigInteger(), nullable=False),
        sa.Column("deviation", sa.String(length=64), nullable=True),
        sa.Column("unmeasured", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "monitoring_baselines",
        _id("event_id", 64, primary_key=True),
        _id("scope", 80, primary_key=True),
        _id("method", 16),
        _id("requested_method", 16),
        sa.Column("slot_values", sa.Text(), nullable=False),
        _time("create_time"),
    )
    op.create_table(
        "monitoring_alarms",
        _id("alarm_id", 36, primary_key=True),
        _id("event_id", 64),
        _time("minute_start"),
        _id("kind", 16),
        _id("aggregator_id", 40),
        _id("message", 500),
        _time("raise_time"),
    )
    op.create_index("ix_monitoring_alarms_minute", "monitoring_alarms", ["event_id", "minute_start"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_alarms_minute", table_name="monitoring_alarms")
    op.drop_table("monitoring_alarms")
    op.drop_table("monitoring_baselines")
    op.drop_table("monitoring_node_minutes")
    op.drop_table("monitoring_aggregator_minutes")
    op.drop_table("monitoring_minutes")
