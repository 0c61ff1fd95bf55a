"""Real-world arrival (SPEC F2): correction history, truthful batch answers, station membership over time.

Revision ID: 0009_arrival
Revises: 0008_metering
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_arrival"
down_revision: str | None = "0008_metering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, primary_key: bool = False, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


def _id(name: str, length: int, *, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=False, primary_key=primary_key)


def _reading(prefix: str) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}_power_w", sa.BigInteger(), nullable=True),
        sa.Column(f"{prefix}_energy_register_wh", sa.BigInteger(), nullable=True),
        sa.Column(f"{prefix}_export_register_wh", sa.BigInteger(), nullable=True),
        sa.Column(f"{prefix}_soc_ppb", sa.BigInteger(), nullable=True),
        sa.Column(f"{prefix}_status", sa.SmallInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "meter_value_corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _id("charger_id", 64),
        _time("sample_time"),
        _id("source", 120),
        _id("batch_id", 64),
        _time("correct_time"),
        *_reading("old"),
        *_reading("new"),
    )
    op.create_index(
        "ix_meter_value_corrections_charger_time", "meter_value_corrections", ["charger_id", "sample_time"]
    )
    op.create_index("ix_meter_value_corrections_correct_time", "meter_value_corrections", ["correct_time"])
    with op.batch_alter_table("telemetry_batches") as batch:
        batch.add_column(sa.Column("duplicate_points", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("corrected_points", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "station_memberships",
        _id("aggregator_id", 40, primary_key=True),
        _id("station_id", 64, primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        _id("grid_node_id", 64),
        _time("valid_from", nullable=True),
        _time("valid_to", nullable=True),
    )
    op.create_index("ix_station_memberships_node", "station_memberships", ["grid_node_id"])
    # Every existing station has belonged to its node since before any reading
    # (NULL = unbounded); a deleted one until its deletion.
    op.execute(
        "INSERT INTO station_memberships (aggregator_id, station_id, seq, grid_node_id, valid_from, valid_to)"
        " SELECT aggregator_id, station_id, 0, grid_node_id, NULL, delete_time FROM stations"
    )


def downgrade() -> None:
    op.drop_index("ix_station_memberships_node", table_name="station_memberships")
    op.drop_table("station_memberships")
    with op.batch_alter_table("telemetry_batches") as batch:
        batch.drop_column("corrected_points")
        batch.drop_column("duplicate_points")
    op.drop_index("ix_meter_value_corrections_correct_time", table_name="meter_value_corrections")
    op.drop_index("ix_meter_value_corrections_charger_time", table_name="meter_value_corrections")
    op.drop_table("meter_value_corrections")
