"""Hardening: audit records carry a detail (a telemetry batch's point count); grid signing keys;
programs may require signed instructions.

Revision ID: 0010_hardening
Revises: 0009_arrival
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_hardening"
down_revision: str | None = "0009_arrival"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("detail", sa.String(length=200), nullable=False, server_default=""))
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=128), primary_key=True),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoke_time", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("programs") as batch:
        batch.add_column(
            sa.Column(
                "require_instruction_signatures", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("require_instruction_signatures")
    op.drop_table("signing_keys")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("detail")
