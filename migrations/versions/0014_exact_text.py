"""Exact fractions of evaluations and statement lines as text of any length.

Slot means of field telemetry (irregular sampling, interpolated registers) are
rationals whose numerators and denominators run to a hundred digits and more;
VARCHAR(200) refused them on PostgreSQL (SQLite never enforced the length).

Revision ID: 0014_exact_text
Revises: 0013_ocpp
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_exact_text"
down_revision: str | None = "0013_ocpp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = {
    "evaluations": (("mean_rate", True), ("min_rate", True), ("energy_responded_wh", False)),
    "statement_lines": (("baseline_w", True), ("actual_w", True), ("response_w", True), ("rate", True)),
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, nullable in columns:
                batch.alter_column(
                    name, existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=nullable
                )


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, nullable in columns:
                batch.alter_column(
                    name, existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=nullable
                )
