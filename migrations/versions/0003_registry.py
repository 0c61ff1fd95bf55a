"""Registry, telemetry, capacity and prices: grid nodes, stations, chargers, EV sessions, meter values,
interval aggregates, telemetry batches, capacity declarations and samples, price curves.

Revision ID: 0003_registry
Revises: 0002_audit
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_registry"
down_revision: str | None = "0002_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False, primary_key: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


def _big(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "grid_nodes",
        sa.Column("node_id", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        _big("capacity_limit_w"),
        _big("base_load_w"),
        _time("create_time"),
        _time("update_time"),
        _time("delete_time", nullable=True),
    )
    op.create_index("ix_grid_nodes_parent", "grid_nodes", ["parent_id"])
    op.create_table(
        "stations",
        sa.Column("aggregator_id", sa.String(length=40), primary_key=True),
        sa.Column("station_id", sa.String(length=64), primary_key=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("grid_node_id", sa.String(length=64), nullable=False),
        _big("import_limit_w"),
        _big("export_limit_w"),
        _time("create_time"),
        _time("update_time"),
        _time("delete_time", nullable=True),
    )
    op.create_index("ix_stations_grid_node", "stations", ["grid_node_id"])
    op.create_table(
        "chargers",
        sa.Column("charger_id", sa.String(length=64), primary_key=True),
        sa.Column("aggregator_id", sa.String(length=40), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _big("rated_charge_w"),
        _big("rated_discharge_w"),
        sa.Column("bidirectional", sa.Boolean(), nullable=False),
        sa.Column("platform_managed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("status_time", nullable=True),
        _time("last_heartbeat_time", nullable=True),
        _big("last_power_w", nullable=True),
        _big("last_energy_register_wh", nullable=True),
        _time("last_meter_time", nullable=True),
        _time("create_time"),
        _time("update_time"),
        _time("delete_time", nullable=True),
    )
    op.create_index("ix_chargers_aggregator", "chargers", ["aggregator_id", "charger_id"])
    op.create_index("ix_chargers_station", "chargers", ["aggregator_id", "station_id"])
    op.create_table(
        "ev_sessions",
        sa.Column("aggregator_id", sa.String(length=40), primary_key=True),
        sa.Column("session_id", sa.String(length=64), primary_key=True),
        sa.Column("charger_id", sa.String(length=64), nullable=False),
        _time("plug_in_time"),
        _time("expected_departure_time"),
        _big("battery_wh"),
        _big("soc_ppb"),
        _big("target_soc_ppb"),
        _big("v2g_floor_soc_ppb"),
        _big("max_charge_w"),
        _big("max_discharge_w"),
        sa.Column("bidirectional", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _time("end_time", nullable=True),
        _time("create_time"),
        _time("update_time"),
    )
    op.create_index("ix_ev_sessions_state", "ev_sessions", ["state", "charger_id"])
    op.create_index("ix_ev_sessions_charger", "ev_sessions", ["charger_id"])
    op.create_table(
        "capacity_declarations",
        sa.Column("aggregator_id", sa.String(length=40), primary_key=True),
        _time("day_start_time", primary_key=True),
        sa.Column("decrease_w", sa.JSON(), nullable=False),
        sa.Column("increase_w", sa.JSON(), nullable=False),
        sa.Column("decrease_price", sa.String(length=40), nullable=False),
        sa.Column("increase_price", sa.String(length=40), nullable=False),
        _time("update_time"),
    )
    op.create_table(
        "capacity_samples",
        sa.Column("scope", sa.String(length=120), primary_key=True),
        _time("slot_start", primary_key=True),
        _big("decrease_w"),
        _big("increase_w"),
    )
    op.create_table(
        "price_curves",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("price_curve_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("grid_node_id", sa.String(length=64), nullable=False),
        _time("start_time"),
        sa.Column("step_minutes", sa.Integer(), nullable=False),
        sa.Column("prices", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _time("publish_time"),
    )
    op.create_index("ix_price_curves_published", "price_curves", ["publish_time", "id"])
    op.create_table(
        "meter_values",
        sa.Column("charger_id", sa.String(length=64), primary_key=True),
        _time("sample_time", primary_key=True),
        _big("power_w"),
        _big("energy_register_wh"),
        _big("soc_ppb", nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
    )
    op.create_table(
        "interval_aggregates",
        sa.Column("aggregator_id", sa.String(length=40), primary_key=True),
        sa.Column("station_id", sa.String(length=64), primary_key=True),
        _time("slot_start", primary_key=True),
        _big("mean_power_w"),
        _time("update_time"),
    )
    op.create_table(
        "telemetry_batches",
        sa.Column("source", sa.String(length=120), primary_key=True),
        sa.Column("batch_id", sa.String(length=64), primary_key=True),
        sa.Column("stored_points", sa.Integer(), nullable=False),
        _time("create_time"),
    )


def downgrade() -> None:
    for table in ("telemetry_batches", "interval_aggregates", "meter_values"):
        op.drop_table(table)
    op.drop_index("ix_price_curves_published", table_name="price_curves")
    op.drop_table("price_curves")
    op.drop_table("capacity_samples")
    op.drop_table("capacity_declarations")
    op.drop_index("ix_ev_sessions_charger", table_name="ev_sessions")
    op.drop_index("ix_ev_sessions_state", table_name="ev_sessions")
    op.drop_table("ev_sessions")
    op.drop_index("ix_chargers_station", table_name="chargers")
    op.drop_index("ix_chargers_aggregator", table_name="chargers")
    op.drop_table("chargers")
    op.drop_index("ix_stations_grid_node", table_name="stations")
    op.drop_table("stations")
    op.drop_index("ix_grid_nodes_parent", table_name="grid_nodes")
    op.drop_table("grid_nodes")
