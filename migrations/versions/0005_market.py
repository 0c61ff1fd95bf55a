"""Market: programs (with the seeded `default`), events, transitions, invitations, bids, clearing, instructions.

Revision ID: 0005_market
Revises: 0004_outbox
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005_market"
down_revision: str | None = "0004_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False, primary_key: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


def _id(name: str, length: int, *, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=False, primary_key=primary_key)


def upgrade() -> None:
    programs = op.create_table(
        "programs",
        _id("program_id", 40, primary_key=True),
        _id("baseline_method", 16),
        _id("fallback_baseline_method", 16),
        _id("clearing_mode", 16),
        _id("price_mode", 16),
        _id("penalty_threshold_rate", 32),
        _id("cap_rate", 32),
        _id("penalty_factor", 32),
        _id("qualified_min_rate", 32),
        _id("qualified_max_rate", 32),
        _id("fee_ratio", 32),
        sa.Column("holidays", sa.Text(), nullable=False),
        sa.Column("make_up_working_days", sa.Text(), nullable=False),
        _id("deviation_threshold", 32),
        sa.Column("deviation_minutes", sa.Integer(), nullable=False),
        _time("update_time"),
    )
    # `programs/default` always exists (vgi.operator.v1.Program); these are
    # the SPEC defaults. The platform fee has no SPEC default: 0 until set.
    op.bulk_insert(
        programs,
        [
            {
                "program_id": "default",
                "baseline_method": "TOP5_OF_10",
                "fallback_baseline_method": "",
                "clearing_mode": "PLATFORM",
                "price_mode": "UNIFORM",
                "penalty_threshold_rate": "0.5",
                "cap_rate": "1.2",
                "penalty_factor": "0.5",
                "qualified_min_rate": "0.8",
                "qualified_max_rate": "1.2",
                "fee_ratio": "0",
                "holidays": "[]",
                "make_up_working_days": "[]",
                "deviation_threshold": "0.1",
                "deviation_minutes": 2,
                "update_time": datetime(2026, 11, 27, tzinfo=UTC),
            }
        ],
    )
    op.create_table(
        "events",
        _id("event_id", 64, primary_key=True),
        _id("event_type", 16),
        _id("direction", 16),
        _time("window_start"),
        _time("window_end"),
        _time("bid_deadline", nullable=True),
        sa.Column("price_cap_nanos", sa.BigInteger(), nullable=True),
        sa.Column("announced_price_nanos", sa.BigInteger(), nullable=True),
        _id("clearing_mode", 16),
        _id("price_mode", 16),
        _id("baseline_method", 16),
        _id("program_id", 40),
        _id("state", 16),
        _id("publisher", 200),
        sa.Column("trace_carrier", sa.String(length=128), nullable=True),
        _time("create_time"),
        _time("update_time"),
    )
    op.create_index("ix_events_create_time", "events", ["create_time", "event_id"])
    op.create_index("ix_events_state", "events", ["state"])
    op.create_table(
        "event_targets",
        _id("event_id", 64, primary_key=True),
        _id("grid_node", 64, primary_key=True),
        _time("slot_start", primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target_w", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "event_transitions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _id("event_id", 64),
        _id("state", 16),
        _id("actor", 16),
        _id("reason", 500),
        _time("transition_time"),
        sa.UniqueConstraint("event_id", "state", name="uq_event_transitions_state"),
    )
    op.create_index("ix_event_transitions_event_id", "event_transitions", ["event_id"])
    op.create_table(
        "event_invitations",
        _id("event_id", 64, primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        _id("grid_node", 64, primary_key=True),
    )
    op.create_index("ix_event_invitations_aggregator", "event_invitations", ["aggregator_id", "event_id"])
    op.create_table(
        "bids",
        _id("event_id", 64, primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        _id("state", 16),
        _time("submit_time"),
        _time("update_time"),
    )
    op.create_table(
        "bid_slots",
        _id("event_id", 64, primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        _time("slot_start", primary_key=True),
        sa.Column("capacity_w", sa.BigInteger(), nullable=False),
        sa.Column("price_nanos", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "clearing_results",
        _id("event_id", 64, primary_key=True),
        _id("cleared_by", 16),
        _id("price_mode", 16),
        _time("clear_time"),
    )
    op.create_table(
        "cleared_quantities",
        _id("event_id", 64, primary_key=True),
        _id("aggregator_id", 40, primary_key=True),
        _id("grid_node", 64, primary_key=True),
        _time("slot_start", primary_key=True),
        sa.Column("accepted_w", sa.BigInteger(), nullable=False),
        sa.Column("price_nanos", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_cleared_quantities_aggregator", "cleared_quantities", ["aggregator_id", "event_id"])
    op.create_table(
        "instructions",
        _id("instruction_id", 64, primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, primary_key=True),
        _id("event_id", 64),
        _id("aggregator_id", 40),
        _id("grid_node", 64),
        _id("direction", 16),
        _time("target_start"),
        sa.Column("step_minutes", sa.Integer(), nullable=False),
        sa.Column("target_values", sa.Text(), nullable=False),
        _time("validity_start"),
        _time("validity_end"),
        _id("state", 16),
        sa.Column("trace_carrier", sa.String(length=128), nullable=True),
        _time("create_time"),
        _time("cancel_time", nullable=True),
        _id("cancel_reason", 500),
        _time("setpoints_time", nullable=True),
    )
    op.create_index("ix_instructions_aggregator", "instructions", ["aggregator_id", "create_time"])
    op.create_index("ix_instructions_event", "instructions", ["event_id", "create_time"])
    op.create_index("ix_instructions_state", "instructions", ["state", "validity_start"])
    op.create_table(
        "instruction_setpoints",
        _id("setpoint_id", 64, primary_key=True),
        _id("instruction_id", 64),
        sa.Column("version", sa.Integer(), nullable=False),
        _id("charger_id", 64),
        _id("session_id", 64),
        sa.Column("power_w", sa.BigInteger(), nullable=False),
        _time("create_time"),
    )
    op.create_index("ix_instruction_setpoints_instruction_id", "instruction_setpoints", ["instruction_id"])


def downgrade() -> None:
    for table in (
        "instruction_setpoints",
        "instructions",
        "cleared_quantities",
        "clearing_results",
        "bid_slots",
        "bids",
        "event_invitations",
        "event_transitions",
        "event_targets",
        "events",
        "programs",
    ):
        op.drop_table(table)
