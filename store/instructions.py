"""Dispatch instructions (SPEC F6): the stored versions, their setpoints, the reads dispatching needs.

An instruction version is never edited: a revision marks the version in
force CANCELLED and inserts version + 1 under the same instruction id.
Issuing, revising, cancelling and sending setpoints — with the notices that
announce them — are the use cases of ``application.dispatch``; this module
stores and reads what they decide.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.dispatch import Instruction
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from domain.evaluation import Direction
from domain.events import EventState, EventType
from store import bulk, pagination
from store.events import Event
from store.market_tables import ClearedQuantityRow, InstructionRow, InstructionSetpointRow
from store.tables import table_of

instructions = table_of(InstructionRow)
setpoints = table_of(InstructionSetpointRow)
cleared = table_of(ClearedQuantityRow)

ACTIVE, CANCELLED = "ACTIVE", "CANCELLED"
INSTRUCTION_NOT_ALLOWED = "INSTRUCTION_NOT_ALLOWED"
REVISED = "revised by a newer instruction"
_COLLECTION = "instructions"


@dataclass(frozen=True)
class Target:
    """A wanted response: watts per step from ``start``, in force over [validity_start, validity_end)."""

    start: datetime
    step_minutes: int
    values_w: tuple[int, ...]
    validity_start: datetime
    validity_end: datetime


@dataclass(frozen=True)
class Dispatched:
    instructions: list[Instruction]
    shortfall_w: int


@dataclass(frozen=True)
class InstructionPage:
    instructions: list[Instruction]
    next_page_token: str


def new_id() -> str:
    return uuid.uuid4().hex


def new_ids(count: int) -> list[str]:
    """``count`` distinct ids that no other call gives: one random UUID for the batch, then the index
    (``{uuid hex}-{i}``, at most 43 characters for 10^10 items).

    A dispatch names a setpoint per session — 10,000 and more in one transaction — and a UUID
    each costs a random read and a UUID object per row. The contract asks only that a setpoint id
    identify the setpoint (receivers deduplicate by it): the batch's UUID makes the ids unique
    across batches as ``new_id`` does, the index within it.
    """
    base = uuid.uuid4().hex
    return [f"{base}-{i}" for i in range(count)]


def check_target(target: Target) -> None:
    """The curve starts with the validity and covers it exactly, with no negative value."""
    # validity end > start is the contract's TimeWindow rule (time_window.end_after_start).
    violations = []
    if target.start != target.validity_start:
        violations.append(FieldViolation("target.start_time", "must equal validity.start_time"))
    covered = target.start + timedelta(minutes=target.step_minutes * len(target.values_w))
    if covered != target.validity_end:
        violations.append(
            FieldViolation("target.values_w", "steps × step_minutes must cover the validity window exactly")
        )
    violations += [
        FieldViolation(f"target.values_w[{i}]", "must not be negative")
        for i, value in enumerate(target.values_w)
        if value < 0
    ]
    if violations:
        raise InvalidArgument(
            "invalid instruction target", reason="INVALID_INSTRUCTION_TARGET", violations=violations
        )


def insert(conn: Connection, instruction: Instruction, carrier: str | None, *, setpoints_sent: bool) -> None:
    """Store a new ACTIVE instruction version; ``carrier`` is the causing call's trace link, which its
    setpoints (sent now when ``setpoints_sent``, else by the scheduler) keep."""
    conn.execute(
        sa.insert(instructions).values(
            instruction_id=instruction.instruction_id,
            version=instruction.version,
            event_id=instruction.event_id,
            aggregator_id=instruction.aggregator_id,
            grid_node=instruction.grid_node,
            direction=instruction.direction.value,
            target_start=instruction.target_start,
            step_minutes=instruction.step_minutes,
            target_values=json.dumps(list(instruction.target_w)),
            validity_start=instruction.validity_start,
            validity_end=instruction.validity_end,
            state=ACTIVE,
            trace_carrier=carrier,
            create_time=instruction.create_time,
            cancel_reason="",
            setpoints_time=instruction.create_time if setpoints_sent else None,
        )
    )


def cancel(conn: Connection, instruction: Instruction, now: datetime, reason: str) -> Instruction:
    """Mark an active version CANCELLED; the cancelled record. FailedPrecondition INSTRUCTION_NOT_ACTIVE
    when it no longer is active."""
    moved = conn.execute(
        sa.update(instructions)
        .where(
            instructions.c.instruction_id == instruction.instruction_id,
            instructions.c.version == instruction.version,
            instructions.c.state == ACTIVE,
        )
        .values(state=CANCELLED, cancel_time=now, cancel_reason=reason)
    ).rowcount
    if moved != 1:
        raise FailedPrecondition(
            f"instruction {instruction.instruction_id} v{instruction.version} is no longer active",
            reason="INSTRUCTION_NOT_ACTIVE",
        )
    return replace(instruction, active=False, cancel_reason=reason)


def driven_chargers(conn: Connection, instruction: Instruction) -> set[str]:
    """The chargers the version's setpoints drove."""
    return set(
        conn.execute(
            sa.select(setpoints.c.charger_id).where(
                setpoints.c.instruction_id == instruction.instruction_id,
                setpoints.c.version == instruction.version,
            )
        ).scalars()
    )


@dataclass(frozen=True)
class Setpoint:
    """A setpoint sent to a managed session's charger for an instruction version (its first step's power)."""

    setpoint_id: str
    charger_id: str
    session_id: str
    power_w: int


def insert_setpoints(
    conn: Connection, instruction: Instruction, sent: Sequence[Setpoint], now: datetime
) -> None:
    instruction_id, version, at = instruction.instruction_id, instruction.version, bulk.time_param(conn)(now)
    bulk.insert_rows(
        conn,
        _INSERT_SETPOINT,
        _SETPOINT_TYPES,
        [(s.setpoint_id, instruction_id, version, s.charger_id, s.session_id, s.power_w, at) for s in sent],
    )


# Through the driver (store.bulk.insert_rows): a dispatch inserts one row per managed session, 10,000 and
# more; one statement on PostgreSQL, one per 2,000 rows on SQLite, instead of a statement per row.
_INSERT_SETPOINT = (
    f"INSERT INTO {setpoints.name} (setpoint_id, instruction_id, version, charger_id, session_id, power_w, "
    "create_time)"
)
_SETPOINT_TYPES = ("varchar", "varchar", "integer", "varchar", "varchar", "bigint", "timestamptz")


_DISPATCHABLE = {
    EventType.REAL_TIME: (EventState.PUBLISHED, EventState.EXECUTING),
    EventType.DAY_AHEAD: (EventState.CLEARED, EventState.EXECUTING),
    EventType.INTRADAY: (EventState.CLEARED, EventState.EXECUTING),
}


def check_event_dispatch(event: Event, direction: Direction, target: Target) -> None:
    """An event takes instructions in its direction, inside its window, while it may still execute."""
    if event.state not in _DISPATCHABLE.get(event.event_type, ()):
        raise FailedPrecondition(
            f"event {event.event_id} takes no instruction now",
            reason=INSTRUCTION_NOT_ALLOWED,
            violations=[
                PreconditionViolation(
                    "STATE", f"events/{event.event_id}", f"{event.event_type} event in state {event.state}"
                )
            ],
            metadata={"event": f"events/{event.event_id}", "state": event.state.value},
        )
    violations = []
    if direction is not event.direction:
        violations.append(FieldViolation("direction", f"must be the event's direction {event.direction}"))
    if target.validity_start < event.window_start or target.validity_end > event.window_end:
        violations.append(FieldViolation("validity", "must lie inside the event window"))
    if violations:
        raise InvalidArgument("instruction does not fit the event", violations=violations)


def cleared_at_node(conn: Connection, event_id: str, grid_node: str) -> list[tuple[str, datetime, int]]:
    """The event's cleared quantities at the node: (aggregator id, slot start, accepted watts)."""
    return [
        (row.aggregator_id, row.slot_start, row.accepted_w)
        for row in conn.execute(
            sa.select(cleared.c.aggregator_id, cleared.c.slot_start, cleared.c.accepted_w).where(
                cleared.c.event_id == event_id, cleared.c.grid_node == grid_node
            )
        )
    ]


def revised_by(
    conn: Connection, event_id: str, grid_node: str, aggregator_id: str | None, target: Target
) -> list[Instruction]:
    """The active versions a new instruction for the same place revises, oldest first (see ``_in_force``)."""
    return _in_force(conn, event_id, grid_node, aggregator_id, target)


def _in_force(
    conn: Connection, event_id: str, grid_node: str, aggregator_id: str | None, target: Target
) -> list[Instruction]:
    """The active versions a new instruction for the same place revises, oldest first.

    Not the version in force at an instant (``domain.in_force``): a revision replaces the current version
    (state ACTIVE, cancelled by none) whatever its validity — one that has not started yet included — and
    whatever the instant it was issued at.
    """
    query = sa.select(instructions).where(
        instructions.c.state == ACTIVE,
        instructions.c.event_id == event_id,
        instructions.c.grid_node == grid_node,
    )
    if aggregator_id is not None:
        query = query.where(instructions.c.aggregator_id == aggregator_id)
    if not event_id:
        query = query.where(
            instructions.c.validity_start < target.validity_end,
            instructions.c.validity_end > target.validity_start,
        )
    rows = conn.execute(query.order_by(instructions.c.create_time, instructions.c.instruction_id))
    return [_record(row) for row in rows]


def event_versions(conn: Connection, event_id: str, aggregator_id: str | None = None) -> list[Instruction]:
    """Every version of the event's instructions (an aggregator's only, if given), cancelled ones too, oldest
    first: what ``domain.in_force`` picks the version in force at an instant from."""
    c = instructions.c
    query = sa.select(instructions).where(c.event_id == event_id)
    if aggregator_id is not None:
        query = query.where(c.aggregator_id == aggregator_id)
    rows = conn.execute(query.order_by(c.create_time, c.instruction_id, c.version))
    return [_record(row) for row in rows]


def active_for_event(conn: Connection, event_id: str) -> list[Instruction]:
    """Every instruction version still in force (ACTIVE) for an event."""
    return [
        _record(row)
        for row in conn.execute(
            sa.select(instructions).where(instructions.c.event_id == event_id, instructions.c.state == ACTIVE)
        )
    ]


def list_page(
    conn: Connection,
    *,
    page_size: int,
    page_token: str,
    event_id: str = "",
    active_only: bool = False,
    aggregator_id: str | None = None,
) -> InstructionPage:
    """Instruction versions, oldest first (keyset on create_time, id, version); an aggregator sees its own."""
    collection = f"{_COLLECTION}?event={event_id}&active={active_only}&aggregator={aggregator_id or ''}"
    c = instructions.c
    query = sa.select(instructions)
    if event_id:
        query = query.where(c.event_id == event_id)
    if active_only:
        query = query.where(c.state == ACTIVE)
    if aggregator_id is not None:
        query = query.where(c.aggregator_id == aggregator_id)
    rows, token = pagination.keyset(
        conn,
        query,
        [
            pagination.Key(c.create_time, datetime.fromisoformat),
            pagination.Key(c.instruction_id),
            pagination.Key(c.version, int),
        ],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return InstructionPage([_record(row) for row in rows], token)


def pending_setpoints(conn: Connection, now: datetime, limit: int) -> list[Instruction]:
    """Active instructions whose validity has started and whose setpoints have not gone out."""
    c = instructions.c
    rows = conn.execute(
        sa.select(instructions)
        .where(c.state == ACTIVE, c.setpoints_time.is_(None), c.validity_start <= now, c.validity_end > now)
        .order_by(c.validity_start, c.instruction_id)
        .limit(limit)
    )
    return [_record(row) for row in rows]


def claim_setpoints(conn: Connection, instruction: Instruction, now: datetime) -> bool:
    """Mark the setpoints of a version as sent; False when another process did it first."""
    c = instructions.c
    return (
        conn.execute(
            sa.update(instructions)
            .where(
                c.instruction_id == instruction.instruction_id,
                c.version == instruction.version,
                c.state == ACTIVE,
                c.setpoints_time.is_(None),
            )
            .values(setpoints_time=now)
        ).rowcount
        == 1
    )


def carrier_of(conn: Connection, instruction: Instruction) -> str | None:
    return conn.execute(
        sa.select(instructions.c.trace_carrier).where(
            instructions.c.instruction_id == instruction.instruction_id,
            instructions.c.version == instruction.version,
        )
    ).scalar_one()


def _record(row: sa.Row[tuple[object, ...]]) -> Instruction:
    return Instruction(
        instruction_id=row.instruction_id,
        version=row.version,
        event_id=row.event_id,
        aggregator_id=row.aggregator_id,
        grid_node=row.grid_node,
        direction=Direction(row.direction),
        target_start=row.target_start,
        step_minutes=row.step_minutes,
        target_w=tuple(json.loads(row.target_values)),
        validity_start=row.validity_start,
        validity_end=row.validity_end,
        active=row.state == ACTIVE,
        create_time=row.create_time,
        cancel_reason=row.cancel_reason,
        cancel_time=row.cancel_time,
    )
