"""Dispatch instructions (SPEC F6): issue, cancel-and-reissue, list, and the setpoints of managed devices.

An instruction version is never edited: a revision cancels the version in
force (state CANCELLED, an InstructionCancelled notification naming the
reissued version) and inserts version + 1 under the same instruction id.
Setpoints for platform-managed chargers are issued when the instruction's
validity starts — at once for a real-time instruction, by the scheduler for
one that starts later — and released (valid_until = now) when it is
cancelled without a replacement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.dispatch import Instruction, ManagedSession, session_schedules, split_curve
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from domain.evaluation import Direction
from domain.events import SLOT_MINUTES, EventState, EventType
from domain.notices import InstructionCancelled, InstructionIssued, SetpointIssued, SetpointSchedule
from store import capacity, pagination
from store.db import notify
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


def issue(
    conn: Connection,
    *,
    event_id: str,
    aggregator_id: str,
    grid_node: str,
    direction: Direction,
    target: Target,
    now: datetime,
    carrier: str | None,
    heartbeat_timeout: timedelta,
    replacing: Instruction | None = None,
) -> Instruction:
    """Insert a new instruction (or version + 1 of ``replacing``, which is cancelled), notify the aggregator.

    If the validity has started, the setpoints of the aggregator's
    platform-managed sessions go out in the same transaction.
    """
    instruction = Instruction(
        instruction_id=replacing.instruction_id if replacing else new_id(),
        version=replacing.version + 1 if replacing else 1,
        event_id=event_id,
        aggregator_id=aggregator_id,
        grid_node=grid_node,
        direction=direction,
        target_start=target.start,
        step_minutes=target.step_minutes,
        target_w=target.values_w,
        validity_start=target.validity_start,
        validity_end=target.validity_end,
        active=True,
        create_time=now,
        cancel_reason="",
    )
    released: set[str] = set()
    if replacing is not None:
        released = cancel(conn, replacing, now, REVISED, carrier, reissued_version=instruction.version)
    started = target.validity_start <= now < target.validity_end
    conn.execute(
        sa.insert(instructions).values(
            instruction_id=instruction.instruction_id,
            version=instruction.version,
            event_id=event_id,
            aggregator_id=aggregator_id,
            grid_node=grid_node,
            direction=direction.value,
            target_start=target.start,
            step_minutes=target.step_minutes,
            target_values=json.dumps(list(target.values_w)),
            validity_start=target.validity_start,
            validity_end=target.validity_end,
            state=ACTIVE,
            trace_carrier=carrier,
            create_time=now,
            cancel_reason="",
            setpoints_time=now if started else None,
        )
    )
    notify(conn, InstructionIssued(instruction), carrier)
    driven: set[str] = set()
    if started:
        driven = send_setpoints(conn, instruction, now, carrier, heartbeat_timeout)
    _release(conn, instruction, sorted(released - driven), now, carrier)
    return instruction


def cancel(
    conn: Connection,
    instruction: Instruction,
    now: datetime,
    reason: str,
    carrier: str | None,
    *,
    reissued_version: int = 0,
) -> set[str]:
    """Cancel an active version and notify its aggregator; returns the chargers its setpoints drove.

    Without a reissue the chargers are released here; with one, the caller
    releases those the new version does not drive.
    """
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
    cancelled = replace(instruction, active=False, cancel_reason=reason)
    notify(conn, InstructionCancelled(cancelled, reissued_version), carrier)
    chargers = set(
        conn.execute(
            sa.select(setpoints.c.charger_id).where(
                setpoints.c.instruction_id == instruction.instruction_id,
                setpoints.c.version == instruction.version,
            )
        ).scalars()
    )
    if not reissued_version:
        _release(conn, cancelled, sorted(chargers), now, carrier)
    return chargers


def _release(
    conn: Connection, instruction: Instruction, chargers: Sequence[str], now: datetime, carrier: str | None
) -> None:
    """Tell devices an instruction no longer holds them: a setpoint valid until now (SPEC: back to unmanaged)."""
    for charger_id in chargers:
        notify(conn, SetpointIssued(new_id(), charger_id, 0, now, instruction.name), carrier)


def send_setpoints(
    conn: Connection,
    instruction: Instruction,
    now: datetime,
    carrier: str | None,
    heartbeat_timeout: timedelta,
) -> set[str]:
    """F6 (b): split the instruction over the aggregator's platform-managed sessions; returns the chargers driven.

    Each session gets a setpoint per step (``schedule`` when the target has
    several steps) valid until the instruction ends; for a load increase the
    sessions at each grid node stay within the node's headroom.
    """
    managed = [
        s
        for s in capacity.session_capacities(
            conn,
            now,
            heartbeat_timeout,
            aggregator_id=instruction.aggregator_id,
            node_id=instruction.grid_node or None,
        )
        if s.platform_managed
    ]
    if not managed:
        return set()
    headroom: dict[str, int] = {}
    if instruction.direction is Direction.LOAD_INCREASE:
        for node in sorted({s.grid_node_id for s in managed}):
            room = capacity.realtime_capacity(conn, f"gridNodes/{node}", now, heartbeat_timeout).headroom_w
            if room is not None:
                headroom[node] = room
    schedules, _ = session_schedules(
        instruction.target_w,
        [ManagedSession(s.charger_id, s.capacity, s.grid_node_id) for s in managed],
        instruction.direction,
        area_headroom_w=headroom,
    )
    rows = []
    for schedule in schedules:
        setpoint_id = new_id()
        steps = (
            SetpointSchedule(instruction.target_start, instruction.step_minutes, tuple(schedule.setpoints_w))
            if len(schedule.setpoints_w) > 1
            else None
        )
        notify(
            conn,
            SetpointIssued(
                setpoint_id,
                schedule.charger_id,
                schedule.setpoints_w[0],
                instruction.validity_end,
                instruction.name,
                steps,
            ),
            carrier,
        )
        rows.append(
            {
                "setpoint_id": setpoint_id,
                "instruction_id": instruction.instruction_id,
                "version": instruction.version,
                "charger_id": schedule.charger_id,
                "session_id": schedule.session_id,
                "power_w": schedule.setpoints_w[0],
                "create_time": now,
            }
        )
    conn.execute(sa.insert(setpoints), rows)
    return {schedule.charger_id for schedule in schedules}


def issue_for_clearing(
    conn: Connection,
    event: Event,
    curves: Mapping[tuple[str, str], Sequence[int]],
    now: datetime,
    carrier: str | None,
    heartbeat_timeout: timedelta,
) -> list[Instruction]:
    """One instruction per (aggregator, node) with accepted watts per slot of the event window."""
    return [
        issue(
            conn,
            event_id=event.event_id,
            aggregator_id=aggregator_id,
            grid_node=node,
            direction=event.direction,
            target=Target(
                event.window_start, SLOT_MINUTES, tuple(values), event.window_start, event.window_end
            ),
            now=now,
            carrier=carrier,
            heartbeat_timeout=heartbeat_timeout,
        )
        for (aggregator_id, node), values in sorted(curves.items())
        if any(values)
    ]


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


def dispatch(
    conn: Connection,
    *,
    event: Event | None,
    grid_node: str | None,
    aggregator_id: str | None,
    direction: Direction,
    target: Target,
    now: datetime,
    carrier: str | None,
    heartbeat_timeout: timedelta,
) -> Dispatched:
    """SubmitDispatchInstruction (F6): a node target split over its aggregators, or one aggregator's target.

    Shares are proportional to the cleared quantities of the event at the
    node, or with no market to the capacity available now in the direction
    (each also the aggregator's cap). The instructions in force for the same
    event (or, without one, overlapping in time) at the same place are
    revised: cancelled and reissued as the next version, or cancelled when
    the aggregator gets nothing now.
    """
    event_id = event.event_id if event else ""
    if aggregator_id is not None:
        shares = {aggregator_id: target.values_w}
        shortfall = [0] * len(target.values_w)
        node = ""
    else:
        assert grid_node is not None
        node = grid_node
        weights, area_limit = _weights(conn, event, grid_node, direction, target, now, heartbeat_timeout)
        split = split_curve(
            target.values_w,
            weights,
            areas={aid: grid_node for aid in weights} if area_limit is not None else None,
            area_limits_w={grid_node: area_limit} if area_limit is not None else None,
        )
        shares = {aid: values for aid, values in split.shares_w.items() if any(values)}
        shortfall = list(split.shortfall_w)
    superseded: dict[str, Instruction] = {}
    stale: list[Instruction] = []
    for record in _in_force(conn, event_id, node, aggregator_id, target):
        if record.aggregator_id in superseded:
            stale.append(superseded[record.aggregator_id])
        superseded[record.aggregator_id] = record
    issued = [
        issue(
            conn,
            event_id=event_id,
            aggregator_id=aid,
            grid_node=node,
            direction=direction,
            target=Target(
                target.start, target.step_minutes, values, target.validity_start, target.validity_end
            ),
            now=now,
            carrier=carrier,
            heartbeat_timeout=heartbeat_timeout,
            replacing=superseded.pop(aid, None),
        )
        for aid, values in sorted(shares.items())
    ]
    for left in [*stale, *superseded.values()]:
        cancel(conn, left, now, REVISED, carrier)
    return Dispatched(issued, max(shortfall, default=0))


def _weights(
    conn: Connection,
    event: Event | None,
    grid_node: str,
    direction: Direction,
    target: Target,
    now: datetime,
    heartbeat_timeout: timedelta,
) -> tuple[dict[str, list[int]], int | None]:
    """Per aggregator and step its weight (= cap), and the node's headroom when it limits a load increase."""
    steps = len(target.values_w)
    if event is not None and event.event_type.has_bidding:
        step = timedelta(minutes=target.step_minutes)
        slot = timedelta(minutes=SLOT_MINUTES)
        weights: dict[str, list[int]] = {}
        for row in conn.execute(
            sa.select(cleared.c.aggregator_id, cleared.c.slot_start, cleared.c.accepted_w).where(
                cleared.c.event_id == event.event_id, cleared.c.grid_node == grid_node
            )
        ):
            values = weights.setdefault(row.aggregator_id, [0] * steps)
            for i in range(steps):
                if row.slot_start <= target.start + i * step < row.slot_start + slot:
                    values[i] += row.accepted_w
        return weights, None
    available = capacity.aggregator_capacities(conn, grid_node, now, heartbeat_timeout)
    increase = direction is Direction.LOAD_INCREASE
    headroom = (
        capacity.realtime_capacity(conn, f"gridNodes/{grid_node}", now, heartbeat_timeout).headroom_w
        if increase
        else None
    )
    return (
        {aid: [t.increase_w if increase else t.decrease_w] * steps for aid, t in available.items()},
        headroom,
    )


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


def cancel_for_event(conn: Connection, event_id: str, now: datetime, reason: str, carrier: str | None) -> int:
    """Cancel every instruction in force for an event (the event was cancelled)."""
    active = [
        _record(row)
        for row in conn.execute(
            sa.select(instructions).where(instructions.c.event_id == event_id, instructions.c.state == ACTIVE)
        )
    ]
    for instruction in active:
        cancel(conn, instruction, now, reason, carrier)
    return len(active)


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
