"""The audit log becomes one hash chain per server process: chain and chain_seq, and (PostgreSQL) a
sequence for the log-wide seq, so appending takes no cross-process lock.

The rows already there stay the legacy chain (chain "", chain_seq NULL) and
keep their hashes. Downgrading to a revision that keeps the audit log
refuses while a process chain has rows: the single-chain code could not
verify them, and the log is never cut. Downgrading to 0001_initial or base
drops the whole log anyway (0002's downgrade), as ``vgi migrate downgrade
--yes`` says, so it goes on.

Revision ID: 0020_audit_chains
Revises: 0019_capacity_sessions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0020_audit_chains"
down_revision: str | None = "0019_capacity_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The name store.audit takes the log-wide seq from (a migration keeps its own copy).
_SEQUENCE = "audit_log_seq"
# Downgrade targets below 0002_audit, whose downgrade drops audit_log with every row (alembic names
# base None).
_LOG_DROPPED: set[str | None] = {None, "0001_initial"}


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.create_index("ux_audit_log_chain_seq", "audit_log", ["chain", "chain_seq"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"CREATE SEQUENCE {_SEQUENCE} AS bigint"))
        # The next seq follows the legacy chain's last row.
        op.execute(
            sa.text(f"SELECT setval('{_SEQUENCE}', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false)")
        )


def downgrade() -> None:
    chained = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE chain <> ''")).scalar()
    if chained and context.get_revision_argument() not in _LOG_DROPPED:
        raise RuntimeError(
            f"audit_log holds {chained} rows of per-process chains, which revision 0019 cannot verify; "
            "the audit log is append-only, so this downgrade is refused (0001_initial or base drop the "
            "whole log)"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"DROP SEQUENCE {_SEQUENCE}"))
    op.drop_index("ux_audit_log_chain_seq", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("chain_seq")
        batch.drop_column("chain")
