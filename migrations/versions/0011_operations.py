"""Operations: an index on idempotency_keys.create_time, so the retention purge finds old keys cheaply;
programs.redispatch_enabled, the switch of closed-loop re-dispatch (on, as before, for existing programs).

Revision ID: 0011_operations
Revises: 0010_hardening
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_operations"
down_revision: str | None = "0010_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_create_time", "idempotency_keys", ["create_time"])
    with op.batch_alter_table("programs") as batch:
        batch.add_column(
            sa.Column("redispatch_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("redispatch_enabled")
    op.drop_index("ix_idempotency_keys_create_time", table_name="idempotency_keys")
