"""Security tables: the hash-chained audit log (SPEC F12).

Rows are only ever inserted (``store.audit``). ``seq`` is the place in the
whole log (the primary key, list and page order); ``(chain, chain_seq)`` the
place in a process's chain, unique, so two writers cannot both append place N
of one chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import utc_column


class AuditLogRow(SQLModel, table=True):
    """One mutating call: who, what, with which request, how it ended; linked to the previous row of its
    chain (``infra.security.audit_chain``)."""

    __tablename__: ClassVar[str] = "audit_log"  # type: ignore[misc]
    __table_args__ = (
        # ListAuditRecords filters by principal or method and pages by seq.
        sa.Index("ix_audit_log_principal_seq", "principal", "seq"),
        sa.Index("ix_audit_log_method_seq", "method", "seq"),
        # One row per place of a chain: a second writer on a chain fails rather than forks it. Legacy rows
        # (chain_seq NULL) are placed by seq, the primary key.
        sa.Index("ux_audit_log_chain_seq", "chain", "chain_seq", unique=True),
    )

    seq: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    time: datetime = Field(sa_column=utc_column())
    principal: str = Field(max_length=200)
    method: str = Field(max_length=200)
    request_id: str = Field(max_length=128)
    request_digest: str = Field(max_length=64)
    outcome: str = Field(max_length=32)
    trace_id: str = Field(max_length=32)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: What the call did beyond its outcome (a telemetry batch: its point count); part of the hash when set.
    detail: str = Field(
        default="", sa_column=sa.Column(sa.String(length=200), nullable=False, server_default="")
    )
    #: The writing process's chain (16 hex digits, made when its AuditWriter starts); "" for the rows written
    #: before chains were per process (the legacy chain).
    chain: str = Field(
        default="", sa_column=sa.Column(sa.String(length=16), nullable=False, server_default="")
    )
    #: The row's place in its chain, from 1; NULL on the legacy chain, whose place is seq.
    chain_seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))


class SigningKeyRow(SQLModel, table=True):
    """A public key a grid principal signs dispatch instructions with; revoked keys are kept."""

    __tablename__: ClassVar[str] = "signing_keys"  # type: ignore[misc]

    key_id: str = Field(primary_key=True, max_length=128)
    principal: str = Field(max_length=200)
    algorithm: str = Field(max_length=32)
    public_key: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    create_time: datetime = Field(sa_column=utc_column())
    revoke_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
