"""Dispatch use cases (SPEC F6): the grid's dispatch instructions and the setpoints they start.

``submit_dispatch_instruction`` is SubmitDispatchInstruction after its
signature check (which reads the signed request, so the servicer runs it
first, in the same unit of work); ``start_setpoints`` is the scheduler's
send-the-setpoints-of-an-instruction-whose-validity-has-started step;
``issue``, ``cancel``, ``issue_for_clearing`` and ``cancel_for_event`` are
the steps clearing, the monitor's re-dispatch and an event's cancellation
share.

An instruction version is never edited: a revision cancels the version in
force (an InstructionCancelled notice naming the reissued version) and issues
version + 1 under the same instruction id (InstructionIssued). Setpoints for
platform-managed chargers are issued when the instruction's validity starts —
at once for a real-time instruction, by the scheduler for one that starts
later — and released (a setpoint valid until now) when it is cancelled
without a replacement; each one is a SetpointIssued notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from application import events, tenants
from application.uow import UnitOfWork
from domain.dispatch import session_schedules, split_curve
from domain.evaluation import Direction
from domain.events import SLOT_MINUTES, Event
from domain.notices import InstructionCancelled, InstructionIssued, SetpointIssued, SetpointSchedule
from infra.observability.tracing import start_linked_span
from store import aggregators, capacity, instructions, registry
from store import events as event_store
from store.aggregators import AggregatorState
from store.instructions import REVISED, Dispatched, Instruction, Setpoint, Target, new_id, new_ids
from store.metering import DEFAULT_HEARTBEAT_TIMEOUT

HEARTBEAT_TIMEOUT = DEFAULT_HEARTBEAT_TIMEOUT
"""How recent a meter value must be to count as a session's present power (SPEC F3 P0): the store's default."""


def check_target(target: Target) -> None:
    """The target's own shape (steps, validity), checked before any store read."""
    instructions.check_target(target)


def submit_dispatch_instruction(
    uow: UnitOfWork,
    *,
    event_id: str | None,
    grid_node: str | None,
    aggregator_id: str | None,
    direction: Direction,
    target: Target,
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> Dispatched:
    """Instruct one aggregator, or split a node's target over the aggregators there (exactly one of
    ``grid_node`` / ``aggregator_id``), for an event or, without ``event_id``, outside any market.

    The event first takes its due transitions and must accept the instruction
    (state, direction, window: ``store.instructions.check_event_dispatch``);
    the node or aggregator must exist (NotFound). Instructions in force at the
    same place are revised (cancelled and reissued), each issued one notified.
    """
    check_target(target)
    event = None
    if event_id:
        event = events.advance(uow, event_store.get(uow.conn, event_id))
        instructions.check_event_dispatch(event, direction, target)
    if grid_node is not None:
        registry.get_grid_node(uow.conn, grid_node)
    else:
        if aggregator_id is None:
            raise ValueError("an instruction goes to a grid node or to an aggregator")
        if aggregators.get(uow.conn, aggregator_id).state is AggregatorState.SUSPENDED:
            raise tenants.suspended(aggregator_id, "receive dispatch instructions")
    return _dispatch(
        uow,
        event=event,
        grid_node=grid_node,
        aggregator_id=aggregator_id,
        direction=direction,
        target=target,
        heartbeat_timeout=heartbeat_timeout,
    )


def start_setpoints(
    uow: UnitOfWork, instruction: Instruction, heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT
) -> bool:
    """Send the setpoints of an instruction whose validity has started; False when another process did.

    The setpoints belong to the grid's call that caused the instruction (its
    stored trace carrier), not to the caller of this use case.
    """
    if not instructions.claim_setpoints(uow.conn, instruction, uow.now):
        return False
    carrier = instructions.carrier_of(uow.conn, instruction)
    with start_linked_span("vgi.market.setpoints", carrier):
        send_setpoints(replace(uow, carrier=carrier), instruction, heartbeat_timeout)
    return True


def issue(
    uow: UnitOfWork,
    *,
    event_id: str,
    aggregator_id: str,
    grid_node: str,
    direction: Direction,
    target: Target,
    heartbeat_timeout: timedelta,
    replacing: Instruction | None = None,
) -> Instruction:
    """Issue a new instruction (or version + 1 of ``replacing``, which is cancelled), told to the aggregator.

    If the validity has started, the setpoints of the aggregator's
    platform-managed sessions go out in the same transaction; chargers the
    replaced version drove and this one does not are released.
    """
    now = uow.now
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
        released = cancel(uow, replacing, REVISED, reissued_version=instruction.version)
    started = target.validity_start <= now < target.validity_end
    instructions.insert(uow.conn, instruction, uow.carrier, setpoints_sent=started)
    uow.notify(InstructionIssued(instruction))
    driven: set[str] = set()
    if started:
        driven = send_setpoints(uow, instruction, heartbeat_timeout)
    _release(uow, instruction, sorted(released - driven))
    return instruction


def cancel(uow: UnitOfWork, instruction: Instruction, reason: str, *, reissued_version: int = 0) -> set[str]:
    """Cancel an active version, told to its aggregator; returns the chargers its setpoints drove.

    Without a reissue the chargers are released here; with one, the caller
    releases those the new version does not drive.
    """
    cancelled = instructions.cancel(uow.conn, instruction, uow.now, reason)
    uow.notify(InstructionCancelled(cancelled, reissued_version))
    chargers = instructions.driven_chargers(uow.conn, instruction)
    if not reissued_version:
        _release(uow, cancelled, sorted(chargers))
    return chargers


def _release(uow: UnitOfWork, instruction: Instruction, chargers: Sequence[str]) -> None:
    """Tell devices an instruction no longer holds them: a setpoint valid until now (SPEC: back to unmanaged)."""
    uow.notify_all(
        SetpointIssued(setpoint_id, charger_id, 0, uow.now, instruction.name)
        for charger_id, setpoint_id in zip(chargers, new_ids(len(chargers)), strict=True)
    )


def send_setpoints(uow: UnitOfWork, instruction: Instruction, heartbeat_timeout: timedelta) -> set[str]:
    """F6 (b): split the instruction over the aggregator's platform-managed sessions; returns the chargers driven.

    Each session gets a setpoint per step (``schedule`` when the target has
    several steps) valid until the instruction ends; for a load increase the
    sessions at each grid node stay within the node's headroom.
    """
    conn, now = uow.conn, uow.now
    managed = capacity.managed_sessions(
        conn,
        now,
        heartbeat_timeout,
        aggregator_id=instruction.aggregator_id,
        node_id=instruction.grid_node or None,
    )
    if not managed:
        return set()
    headroom: dict[str, int] = {}
    if instruction.direction is Direction.LOAD_INCREASE:
        for node in sorted({s.area_id for s in managed if s.area_id is not None}):
            room = capacity.realtime_capacity(conn, f"gridNodes/{node}", now, heartbeat_timeout).headroom_w
            if room is not None:
                headroom[node] = room
    schedules, _ = session_schedules(
        instruction.target_w, managed, instruction.direction, area_headroom_w=headroom
    )
    sent = []
    notices = []
    valid_until, name = instruction.validity_end, instruction.name
    for schedule, setpoint_id in zip(schedules, new_ids(len(schedules)), strict=True):
        power_w = schedule.setpoints_w[0]
        steps = (
            SetpointSchedule(instruction.target_start, instruction.step_minutes, schedule.setpoints_w)
            if len(schedule.setpoints_w) > 1
            else None
        )
        notices.append(SetpointIssued(setpoint_id, schedule.charger_id, power_w, valid_until, name, steps))
        sent.append(Setpoint(setpoint_id, schedule.charger_id, schedule.session_id, power_w))
    uow.notify_all(notices)
    instructions.insert_setpoints(conn, instruction, sent, now)
    return {schedule.charger_id for schedule in schedules}


def issue_for_clearing(
    uow: UnitOfWork,
    event: Event,
    curves: Mapping[tuple[str, str], Sequence[int]],
    heartbeat_timeout: timedelta,
) -> list[Instruction]:
    """One instruction per (aggregator, node) with accepted watts per slot of the event window."""
    return [
        issue(
            uow,
            event_id=event.event_id,
            aggregator_id=aggregator_id,
            grid_node=node,
            direction=event.direction,
            target=Target(
                event.window_start, SLOT_MINUTES, tuple(values), event.window_start, event.window_end
            ),
            heartbeat_timeout=heartbeat_timeout,
        )
        for (aggregator_id, node), values in sorted(curves.items())
        if any(values)
    ]


def cancel_for_event(uow: UnitOfWork, event_id: str, reason: str) -> int:
    """Cancel every instruction in force for an event (the event was cancelled)."""
    active = instructions.active_for_event(uow.conn, event_id)
    for instruction in active:
        cancel(uow, instruction, reason)
    return len(active)


def _dispatch(
    uow: UnitOfWork,
    *,
    event: Event | None,
    grid_node: str | None,
    aggregator_id: str | None,
    direction: Direction,
    target: Target,
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
        weights, area_limit = _weights(uow, event, grid_node, direction, target, heartbeat_timeout)
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
    for record in instructions.revised_by(uow.conn, event_id, node, aggregator_id, target):
        if record.aggregator_id in superseded:
            stale.append(superseded[record.aggregator_id])
        superseded[record.aggregator_id] = record
    issued = [
        issue(
            uow,
            event_id=event_id,
            aggregator_id=aid,
            grid_node=node,
            direction=direction,
            target=Target(
                target.start, target.step_minutes, values, target.validity_start, target.validity_end
            ),
            heartbeat_timeout=heartbeat_timeout,
            replacing=superseded.pop(aid, None),
        )
        for aid, values in sorted(shares.items())
    ]
    for left in [*stale, *superseded.values()]:
        cancel(uow, left, REVISED)
    return Dispatched(issued, max(shortfall, default=0))


def _weights(
    uow: UnitOfWork,
    event: Event | None,
    grid_node: str,
    direction: Direction,
    target: Target,
    heartbeat_timeout: timedelta,
) -> tuple[dict[str, list[int]], int | None]:
    """Per aggregator and step its weight (= cap), and the node's headroom when it limits a load increase.

    A SUSPENDED aggregator weighs nothing: it gets no share of a node's target."""
    steps = len(target.values_w)
    suspended = aggregators.suspended_ids(uow.conn)
    if event is not None and event.event_type.has_bidding:
        step = timedelta(minutes=target.step_minutes)
        slot = timedelta(minutes=SLOT_MINUTES)
        weights: dict[str, list[int]] = {}
        for aggregator_id, slot_start, accepted_w in instructions.cleared_at_node(
            uow.conn, event.event_id, grid_node
        ):
            if aggregator_id in suspended:
                continue
            values = weights.setdefault(aggregator_id, [0] * steps)
            for i in range(steps):
                if slot_start <= target.start + i * step < slot_start + slot:
                    values[i] += accepted_w
        return weights, None
    available = capacity.aggregator_capacities(uow.conn, grid_node, uow.now, heartbeat_timeout)
    increase = direction is Direction.LOAD_INCREASE
    headroom = (
        capacity.realtime_capacity(uow.conn, f"gridNodes/{grid_node}", uow.now, heartbeat_timeout).headroom_w
        if increase
        else None
    )
    return (
        {
            aid: [t.increase_w if increase else t.decrease_w] * steps
            for aid, t in available.items()
            if aid not in suspended
        },
        headroom,
    )
