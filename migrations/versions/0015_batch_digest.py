"""Telemetry batches keep a digest of their content: a batch id reused for other content is refused.

Revision ID: 0015_batch_digest
Revises: 0014_exact_text
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_batch_digest"
down_revision: str | None = "0014_exact_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_batches") as batch:
        batch.add_column(sa.Column("content_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_batches") as batch:
        batch.drop_column("content_digest")
