"""SQLModel table classes: the schema Alembic migrates (``target_metadata = SQLModel.metadata``).

Conventions for every resource table: times are timezone-aware UTC
(``UTCDateTime``), soft deletion sets ``delete_time`` and live rows are
``delete_time IS NULL``; hot paths use Core statements on the typed table
handle ``table_of(Model)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no zone, so values are normalised to UTC on the way in and
    labelled UTC on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, nullable: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable)


def table_of(row: type[SQLModel]) -> sa.Table:
    """The Core table of a SQLModel table class, typed (SQLModel leaves ``__table__`` untyped).

    The one place the store reads ``__table__``: modules keep a module-level handle,
    ``bids = table_of(BidRow)``, for their Core statements.
    """
    table = getattr(row, "__table__", None)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{row.__name__} is not a table class")
    return table


class AggregatorRow(SQLModel, table=True):
    """One aggregator tenant (vgi.common.v1.Aggregator)."""

    __tablename__: ClassVar[str] = "aggregators"  # type: ignore[misc]
    __table_args__ = (
        # Display names are unique among live aggregators only, so a deleted
        # tenant's name can be reused.
        sa.Index(
            "uq_aggregators_display_name_live",
            "display_name",
            unique=True,
            sqlite_where=sa.text("delete_time IS NULL"),
            postgresql_where=sa.text("delete_time IS NULL"),
        ),
    )

    aggregator_id: str = Field(primary_key=True, max_length=40)
    display_name: str = Field(max_length=200)
    unified_social_credit_code: str = Field(default="", max_length=18)
    contact_email: str = Field(default="", max_length=254)
    state: str = Field(max_length=16)
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())
    delete_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class IdempotencyKeyRow(SQLModel, table=True):
    """The first answer to a mutating call, keyed by (principal, method, request_id) — AIP-155.

    ``response`` is NULL only inside the transaction that claims the key; it is
    filled before that transaction commits.
    """

    __tablename__: ClassVar[str] = "idempotency_keys"  # type: ignore[misc]
    __table_args__ = (
        sa.UniqueConstraint("principal", "method", "request_id", name="uq_idempotency_keys_call"),
        # The retention purge (store/retention.py) walks keys by age.
        sa.Index("ix_idempotency_keys_create_time", "create_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(max_length=200)
    method: str = Field(max_length=200)
    request_id: str = Field(max_length=64)
    request_digest: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    response: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary(), nullable=True))
    create_time: datetime = Field(sa_column=utc_column())
