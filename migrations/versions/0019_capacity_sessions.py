"""The denormalised F3 inputs of the active sessions (store.capacity_rows): a node's capacity reads one table.

Revision ID: 0019_capacity_sessions
Revises: 0018_meter_partitions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_capacity_sessions"
down_revision: str | None = "0018_meter_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As store.capacity_rows computes them at this revision (a migration keeps its own copy).
_DEPARTURE_US = {
    "sqlite": "(CAST(strftime('%s', s.expected_departure_time) AS INTEGER) * 1000000"
    " + CAST(substr(s.expected_departure_time, 21, 6) AS INTEGER))",
    "postgresql": "CAST(EXTRACT(EPOCH FROM s.expected_departure_time) * 1000000 AS BIGINT)",
}
_BACKFILL = (
    "INSERT INTO capacity_sessions (aggregator_id, session_id, charger_id, grid_node_id, battery_wh, need_ppb,"
    " above_floor_ppb, departure_us, charge_w, discharge_w, plug_in_time, meter_power_w, meter_time)"
    " SELECT s.aggregator_id, s.session_id, s.charger_id, st.grid_node_id, s.battery_wh,"
    " s.target_soc_ppb - s.soc_ppb, s.soc_ppb - s.v2g_floor_soc_ppb, {departure},"
    " CASE WHEN s.max_charge_w <= c.rated_charge_w THEN s.max_charge_w ELSE c.rated_charge_w END,"
    " CASE WHEN s.bidirectional AND c.bidirectional THEN"
    " CASE WHEN s.max_discharge_w <= c.rated_discharge_w THEN s.max_discharge_w ELSE c.rated_discharge_w END"
    " END,"
    " s.plug_in_time, c.last_power_w, c.last_meter_time"
    " FROM ev_sessions s JOIN chargers c ON c.charger_id = s.charger_id"
    " JOIN stations st ON st.aggregator_id = c.aggregator_id AND st.station_id = c.station_id"
    " WHERE s.state = 'ACTIVE' AND c.delete_time IS NULL AND st.delete_time IS NULL"
)


def upgrade() -> None:
    op.create_table(
        "capacity_sessions",
        sa.Column("aggregator_id", sa.String(length=40), nullable=False, primary_key=True),
        sa.Column("session_id", sa.String(length=64), nullable=False, primary_key=True),
        sa.Column("charger_id", sa.String(length=64), nullable=False),
        sa.Column("grid_node_id", sa.String(length=64), nullable=False),
        sa.Column("battery_wh", sa.BigInteger(), nullable=False),
        sa.Column("need_ppb", sa.BigInteger(), nullable=False),
        sa.Column("above_floor_ppb", sa.BigInteger(), nullable=False),
        sa.Column("departure_us", sa.BigInteger(), nullable=False),
        sa.Column("charge_w", sa.BigInteger(), nullable=False),
        sa.Column("discharge_w", sa.BigInteger(), nullable=True),
        sa.Column("plug_in_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meter_power_w", sa.BigInteger(), nullable=True),
        sa.Column("meter_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_capacity_sessions_node", "capacity_sessions", ["grid_node_id"])
    op.create_index("ix_capacity_sessions_charger", "capacity_sessions", ["charger_id"])
    departure = _DEPARTURE_US[op.get_bind().dialect.name]
    # Literal SQL through op.execute: a '%' is not a driver placeholder here.
    op.execute(sa.text(_BACKFILL.format(departure=departure)))


def downgrade() -> None:
    op.drop_index("ix_capacity_sessions_charger", table_name="capacity_sessions")
    op.drop_index("ix_capacity_sessions_node", table_name="capacity_sessions")
    op.drop_table("capacity_sessions")
