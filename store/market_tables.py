"""Market tables (SPEC F4–F6): programs, events and their history, bids, clearing, instructions.

Money is stored as whole nanos of CNY (``*_nanos``, the google.type.Money
resolution) so prices compare and sum exactly on both databases. Slots are
identified by their UTC start. Grid nodes, aggregators and chargers are
referenced by id without foreign keys: those tables belong to other features,
and an event must outlive a node that is later deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


class ProgramRow(SQLModel, table=True):
    """Per-program settings (vgi.operator.v1.Program); ``default`` is seeded by the migration.

    Rates are exact decimals kept as their string form; dates are JSON lists
    of ISO dates.
    """

    __tablename__: ClassVar[str] = "programs"  # type: ignore[misc]

    program_id: str = Field(primary_key=True, max_length=40)
    baseline_method: str = Field(max_length=16)
    fallback_baseline_method: str = Field(default="", max_length=16)
    clearing_mode: str = Field(max_length=16)
    price_mode: str = Field(max_length=16)
    penalty_threshold_rate: str = Field(max_length=32)
    cap_rate: str = Field(max_length=32)
    penalty_factor: str = Field(max_length=32)
    qualified_min_rate: str = Field(max_length=32)
    qualified_max_rate: str = Field(max_length=32)
    fee_ratio: str = Field(max_length=32)
    holidays: str = Field(default="[]", sa_column=sa.Column(sa.Text(), nullable=False))
    make_up_working_days: str = Field(default="[]", sa_column=sa.Column(sa.Text(), nullable=False))
    deviation_threshold: str = Field(max_length=32)
    deviation_minutes: int
    require_instruction_signatures: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false())
    )
    redispatch_enabled: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.true())
    )
    update_time: datetime = Field(sa_column=utc_column())


class EventRow(SQLModel, table=True):
    """A demand-response event; ``state`` changes only by conditional UPDATE (… WHERE state = old)."""

    __tablename__: ClassVar[str] = "events"  # type: ignore[misc]
    __table_args__ = (
        sa.Index("ix_events_create_time", "create_time", "event_id"),
        # The scheduler looks for events whose next deadline has passed.
        sa.Index("ix_events_state", "state"),
    )

    event_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(max_length=16)
    direction: str = Field(max_length=16)
    window_start: datetime = Field(sa_column=utc_column())
    window_end: datetime = Field(sa_column=utc_column())
    bid_deadline: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    price_cap_nanos: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    announced_price_nanos: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    clearing_mode: str = Field(max_length=16)
    price_mode: str = Field(max_length=16)
    baseline_method: str = Field(max_length=16)
    program_id: str = Field(max_length=40)
    state: str = Field(max_length=16)
    publisher: str = Field(max_length=200)
    trace_carrier: str | None = Field(default=None, max_length=128)
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())


class EventTargetRow(SQLModel, table=True):
    """The response wanted at one grid node in one slot of an event's window."""

    __tablename__: ClassVar[str] = "event_targets"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    grid_node: str = Field(primary_key=True, max_length=64)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    position: int
    target_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class EventTransitionRow(SQLModel, table=True):
    """One state an event entered; each state is entered at most once (the unique key guards racing writers)."""

    __tablename__: ClassVar[str] = "event_transitions"  # type: ignore[misc]
    __table_args__ = (sa.UniqueConstraint("event_id", "state", name="uq_event_transitions_state"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, index=True)
    state: str = Field(max_length=16)
    actor: str = Field(max_length=16)
    reason: str = Field(default="", max_length=500)
    transition_time: datetime = Field(sa_column=utc_column())


class EventInvitationRow(SQLModel, table=True):
    """An aggregator invited to an event because it served one of the event's nodes at publication."""

    __tablename__: ClassVar[str] = "event_invitations"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_event_invitations_aggregator", "aggregator_id", "event_id"),)

    event_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(primary_key=True, max_length=40)
    grid_node: str = Field(primary_key=True, max_length=64)


class BidRow(SQLModel, table=True):
    """An aggregator's one bid for an event; resubmission replaces its slots and its submit time."""

    __tablename__: ClassVar[str] = "bids"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(primary_key=True, max_length=40)
    state: str = Field(max_length=16)
    submit_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())


class BidSlotRow(SQLModel, table=True):
    """A bid's offer for one slot: capacity (W) at a price (nanos of CNY per kWh)."""

    __tablename__: ClassVar[str] = "bid_slots"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(primary_key=True, max_length=40)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    capacity_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    price_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class ClearingResultRow(SQLModel, table=True):
    """How and when an event was cleared (one per event)."""

    __tablename__: ClassVar[str] = "clearing_results"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    cleared_by: str = Field(max_length=16)
    price_mode: str = Field(max_length=16)
    clear_time: datetime = Field(sa_column=utc_column())


class ClearedQuantityRow(SQLModel, table=True):
    """An accepted quantity of one aggregator at one node in one slot, and its settlement price."""

    __tablename__: ClassVar[str] = "cleared_quantities"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_cleared_quantities_aggregator", "aggregator_id", "event_id"),)

    event_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(primary_key=True, max_length=40)
    grid_node: str = Field(primary_key=True, max_length=64)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    accepted_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    price_nanos: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class InstructionRow(SQLModel, table=True):
    """One version of a dispatch instruction; never edited except to cancel it (cancel-and-reissue).

    ``target_values`` is the JSON list of watts per step from
    ``target_start``. ``setpoints_time`` is when the setpoints for its
    platform-managed devices were issued (NULL until the validity starts).
    """

    __tablename__: ClassVar[str] = "instructions"  # type: ignore[misc]
    __table_args__ = (
        sa.Index("ix_instructions_aggregator", "aggregator_id", "create_time"),
        sa.Index("ix_instructions_event", "event_id", "create_time"),
        sa.Index("ix_instructions_state", "state", "validity_start"),
    )

    instruction_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    event_id: str = Field(default="", max_length=64)
    aggregator_id: str = Field(max_length=40)
    grid_node: str = Field(default="", max_length=64)
    direction: str = Field(max_length=16)
    target_start: datetime = Field(sa_column=utc_column())
    step_minutes: int
    target_values: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    validity_start: datetime = Field(sa_column=utc_column())
    validity_end: datetime = Field(sa_column=utc_column())
    state: str = Field(max_length=16)
    trace_carrier: str | None = Field(default=None, max_length=128)
    create_time: datetime = Field(sa_column=utc_column())
    cancel_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    cancel_reason: str = Field(default="", max_length=500)
    setpoints_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class InstructionSetpointRow(SQLModel, table=True):
    """A setpoint sent to a platform-managed device for an instruction version (to release it on cancel)."""

    __tablename__: ClassVar[str] = "instruction_setpoints"  # type: ignore[misc]

    setpoint_id: str = Field(primary_key=True, max_length=64)
    instruction_id: str = Field(max_length=64, index=True)
    version: int
    charger_id: str = Field(max_length=64)
    session_id: str = Field(max_length=64)
    power_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    create_time: datetime = Field(sa_column=utc_column())
