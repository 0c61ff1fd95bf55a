"""Metering (SPEC F2): field presence for power and registers, the export register, data-quality records.

Revision ID: 0008_metering
Revises: 0007_monitoring
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_metering"
down_revision: str | None = "0007_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meter_values") as batch:
        batch.alter_column("power_w", existing_type=sa.BigInteger(), nullable=True)
        batch.alter_column("energy_register_wh", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("export_register_wh", sa.BigInteger(), nullable=True))
    op.create_table(
        "meter_data_quality",
        sa.Column("charger_id", sa.String(length=64), primary_key=True),
        sa.Column("sample_time", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("reason", sa.String(length=40), primary_key=True),
        sa.Column("detail", sa.String(length=300), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meter_data_quality")
    # Readings without power or import register cannot be kept in the older schema.
    op.execute("DELETE FROM meter_values WHERE power_w IS NULL OR energy_register_wh IS NULL")
    with op.batch_alter_table("meter_values") as batch:
        batch.drop_column("export_register_wh")
        batch.alter_column("energy_register_wh", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("power_w", existing_type=sa.BigInteger(), nullable=False)
