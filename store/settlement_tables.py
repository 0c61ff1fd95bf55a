"""Settlement tables (SPEC F8–F10): evaluations, statements and their lines.

Exact values (baseline, actual, response, rate: rationals, since a TRIMMED
baseline divides by 3) are kept as ``Fraction`` text (``"620/3"``) so a later
adjustment recomputes from exactly what was settled; money is whole nanos of
CNY like the market tables. An evaluation's slots are one JSON payload: they
are always read and written together. Events and aggregators are referenced
by id without foreign keys (those tables belong to other features).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


class EvaluationRow(SQLModel, table=True):
    """One aggregator's evaluation of one event (SPEC F9) with the baseline it used (F8).

    ``slots`` is the JSON list of evaluated slots (``slot_start``, ``instructed_w``
    and the exact ``baseline_w``/``actual_w``/``response_w``/``rate``);
    ``baseline_days`` the JSON list of ISO days averaged. The rates are NULL
    when no slot had an instructed quantity. Exact fractions are text of any
    length: field telemetry gives denominators of a hundred digits and more.
    """

    __tablename__: ClassVar[str] = "evaluations"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(primary_key=True, max_length=40)
    direction: str = Field(max_length=16)
    baseline_method: str = Field(max_length=16)
    requested_method: str = Field(max_length=16)
    baseline_days: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    slots: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    mean_rate: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    min_rate: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    energy_responded_wh: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    qualified: bool
    create_time: datetime = Field(sa_column=utc_column())


class StatementRow(SQLModel, table=True):
    """A statement (结算单): an aggregator's regular statement for an event, or an adjustment of one.

    The regular statement's id is the aggregator id; adjustments are
    ``{aggregator}.adj-{n}``. ``state`` changes only by conditional UPDATE
    (``WHERE state = old``); a CONFIRMED row is never updated again. The two
    confirmation times record each party's confirmation (see store.settlement).
    """

    __tablename__: ClassVar[str] = "statements"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_statements_aggregator", "aggregator_id", "create_time", "event_id"),)

    event_id: str = Field(primary_key=True, max_length=64)
    statement_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(max_length=40)
    kind: str = Field(max_length=16)
    adjusts: str = Field(default="", max_length=64)
    sequence: int
    compensation_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    penalty_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    fee_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    state: str = Field(max_length=16)
    dispute_reason: str = Field(default="", max_length=2000)
    aggregator_confirm_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    grid_confirm_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    confirm_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())


class StatementLineRow(SQLModel, table=True):
    """One slot of a statement.

    A regular line holds the settled slot (C, B, A, R, r exact), its price and
    its rounded money. An adjustment line holds the differences in
    ``compensation_nanos``/``penalty_nanos`` and the corrected line in the
    other columns, which are NULL when the slot is no longer settled.
    """

    __tablename__: ClassVar[str] = "statement_lines"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    statement_id: str = Field(primary_key=True, max_length=64)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    compensation_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    penalty_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    instructed_w: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    baseline_w: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    actual_w: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    response_w: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    rate: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    price_nanos: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    line_compensation_nanos: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    line_penalty_nanos: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
