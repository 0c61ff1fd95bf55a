"""Market use cases (SPEC F4–F5): publish and cancel events, bid, clear, and the clock's event transitions.

Each use case runs in the caller's unit of work and returns store/domain
records; the notices it causes (Invited, EventStateChanged,
ClearingPublished, InstructionIssued …) are recorded on that transaction with
``uow.notify`` (transitions through ``application.events``, instructions
through ``application.dispatch``). ``check_publication``
is the pure part of ``publish_event``, which the grid's servicer also runs
before opening a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from application import dispatch, events, tenants
from application.dispatch import HEARTBEAT_TIMEOUT
from application.uow import UnitOfWork
from domain import clearing as market
from domain import events as rules
from domain.baseline import BaselineMethod
from domain.calendar import local_day, slot_index, slot_start
from domain.clearing import CapacitySource, ClearedQuantity, SlotCapacity
from domain.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from domain.evaluation import Direction
from domain.events import Actor, ClearingMode, EventState, EventType, Publication
from domain.notices import ClearingPublished, Invited
from domain.settlement import PriceMode
from store import aggregators, bids, capacity, registry
from store import events as event_store
from store.bids import Bid, BidSlot, Cleared
from store.events import Event

DEFAULT_PROGRAM = "default"


def check_publication(publication: Publication, price_mode: PriceMode | None, at: datetime) -> None:
    """The new event's own checks, no store read: window, deadline, targets, prices
    (``domain.events.check_publication``), and a price mode that fits its type."""
    rules.check_publication(publication, at)
    _check_price_mode(publication.event_type, price_mode)


def publish_event(
    uow: UnitOfWork,
    *,
    event_id: str,
    publication: Publication,
    direction: Direction,
    program_id: str | None = None,
    clearing_mode: ClearingMode | None = None,
    price_mode: PriceMode | None = None,
    baseline_method: BaselineMethod | None = None,
) -> Event:
    """Publish a PUBLISHED event and invite every aggregator with a station at (or below) its nodes.

    The modes left None come from the program (``default`` when none is
    named); an event without bidding settles by direct control unless told
    otherwise. InvalidArgument GRID_NODE_NOT_FOUND naming every unknown
    ``event.targets[i].grid_node`` (nothing written), PROGRAM_NOT_FOUND,
    AlreadyExists EVENT_EXISTS. Records one Invited notice.
    """
    check_publication(publication, price_mode, uow.now)
    conn = uow.conn
    program = event_store.get_program(conn, program_id or DEFAULT_PROGRAM)
    invitees: dict[str, list[str]] = {}
    missing = []
    for i, curve in enumerate(publication.targets):
        try:
            registry.get_grid_node(conn, curve.grid_node)
        except NotFound:
            missing.append(FieldViolation(f"event.targets[{i}].grid_node", "does not exist"))
            continue
        for aggregator_id in registry.aggregators_at_node(conn, curve.grid_node):
            invitees.setdefault(aggregator_id, []).append(curve.grid_node)
    if missing:
        raise InvalidArgument("unknown grid nodes", reason="GRID_NODE_NOT_FOUND", violations=missing)
    if price_mode is None:
        price_mode = program.price_mode if publication.event_type.has_bidding else PriceMode.DIRECT_CONTROL
    event = event_store.publish(
        conn,
        event_id=event_id,
        publication=publication,
        direction=direction,
        clearing_mode=program.clearing_mode if clearing_mode is None else clearing_mode,
        price_mode=price_mode,
        baseline_method=program.baseline_method if baseline_method is None else baseline_method,
        program_id=program.program_id,
        invitees=invitees,
        publisher=_publisher(uow),
        now=uow.now,
        carrier=uow.carrier,
    )
    uow.notify(Invited(event, tuple(sorted(invitees))))
    return event


def cancel_event(uow: UnitOfWork, event_id: str, reason: str) -> Event:
    """Cancel the event (after its due transitions) and every instruction issued for it.

    FailedPrecondition INVALID_EVENT_TRANSITION once it can no longer be
    cancelled; Aborted when another writer moved it meanwhile (retry).
    """
    event = events.advance(uow, event_store.get(uow.conn, event_id))
    cancelled = events.transition(uow, event, EventState.CANCELLED, Actor.GRID, reason=reason)
    if cancelled is None:
        raise Aborted(f"event {event_id} changed state while being cancelled; retry")
    dispatch.cancel_for_event(uow, event_id, f"event cancelled: {reason}")
    return cancelled


def submit_clearing_result(
    uow: UnitOfWork,
    event_id: str,
    quantities: Sequence[ClearedQuantity],
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> Cleared:
    """SubmitClearingResult: the grid clears a GRID-mode event; its quantities are checked against the bids
    (``_resolve``), recorded and instructed."""
    event = _clearable(uow, event_store.get(uow.conn, event_id), ClearingMode.GRID)
    resolved = _resolve(uow, event, quantities)
    return _record(uow, event, ClearingMode.GRID, resolved, heartbeat_timeout)


def clear_event(uow: UnitOfWork, event_id: str, heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT) -> Cleared:
    """ClearEvent: the platform clears a PLATFORM-mode event by merit order of its total target per slot (F5),
    records it and instructs the winners."""
    conn = uow.conn
    event = _clearable(uow, event_store.get(conn, event_id), ClearingMode.PLATFORM)
    invited = event_store.invitees(conn, event.event_id)
    result = market.clear(
        dict(enumerate(event.total_target_w())),
        bids.domain_bids(event, clearable_bids(conn, event.event_id)),
        event.price_mode,
    )
    starts = event.slot_starts
    cleared = [
        ClearedQuantity(
            award.aggregator_id,
            _node_of(event, invited.get(award.aggregator_id, [])),
            starts[slot.slot],
            award.accepted_w,
            award.price,
        )
        for slot in result.slots
        for award in slot.awards
    ]
    return _record(uow, event, ClearingMode.PLATFORM, cleared, heartbeat_timeout)


def clearable_bids(conn: Connection, event_id: str) -> list[Bid]:
    """The event's live bids a clearing may award, as the grid's aggregated bid shows them: a SUSPENDED
    aggregator's (submitted before its suspension) are left out — it receives no new dispatch. They stay
    SUBMITTED until the event is cleared: reactivated before that, they count."""
    suspended = aggregators.suspended_ids(conn)
    return [bid for bid in bids.live(conn, event_id) if bid.aggregator_id not in suspended]


def _clearable(uow: UnitOfWork, event: Event, mode: ClearingMode) -> Event:
    """The event after its due transitions, if ``mode`` clears it and the grid may clear it now."""
    event = events.advance(uow, event)
    if event.event_type.has_bidding and event.clearing_mode is not mode:
        raise FailedPrecondition(
            f"event {event.event_id} is cleared by {event.clearing_mode}",
            reason=bids.CLEARING_MODE_MISMATCH,
            violations=[
                PreconditionViolation(
                    "CLEARING_MODE",
                    f"events/{event.event_id}",
                    f"the event's clearing mode is {event.clearing_mode}",
                )
            ],
            metadata={"clearing_mode": event.clearing_mode.value},
        )
    rules.check_transition(event.event_id, event.event_type, event.state, EventState.CLEARED, Actor.GRID)
    return event


def _node_of(event: Event, served: Sequence[str]) -> str:
    """The node a quantity is delivered at when nobody said: the event's only node, or the aggregator's."""
    if len(event.nodes) == 1:
        return event.nodes[0]
    return served[0] if len(served) == 1 else ""


def _resolve(uow: UnitOfWork, event: Event, submitted: Sequence[ClearedQuantity]) -> list[ClearedQuantity]:
    """The grid's quantities, each at its node: every one names an invited aggregator, a slot of the window
    and one of the event's nodes (or none, then the node is inferred), and accepts at most what the
    aggregator's bid offered in that slot. InvalidArgument INVALID_CLEARING_RESULT naming every violation."""
    invited = event_store.invitees(uow.conn, event.event_id)
    suspended = aggregators.suspended_ids(uow.conn)
    offered = {
        (bid.aggregator_id, s.slot_start): s.capacity_w
        for bid in bids.live(uow.conn, event.event_id)
        for s in bid.slots
    }
    window = set(event.slot_starts)
    violations: list[FieldViolation] = []
    taken: dict[tuple[str, datetime], int] = {}
    seen: set[tuple[str, str, datetime]] = set()
    resolved = []
    for i, q in enumerate(submitted):
        path = f"quantities[{i}]"
        node = q.grid_node or _node_of(event, invited.get(q.aggregator_id, []))
        if q.aggregator_id not in invited:
            violations.append(FieldViolation(f"{path}.aggregator", "is not invited to the event"))
        elif q.aggregator_id in suspended:
            violations.append(
                FieldViolation(
                    f"{path}.aggregator", "is suspended: it may not be dispatched until it is ACTIVE"
                )
            )
        if q.slot_start not in window:
            violations.append(
                FieldViolation(f"{path}.slot_start_time", "is not the start of a slot of the event window")
            )
        if q.grid_node and q.grid_node not in event.nodes:
            violations.append(FieldViolation(f"{path}.grid_node", "is not a node of the event"))
        if (q.aggregator_id, node, q.slot_start) in seen:
            violations.append(FieldViolation(path, "repeats an aggregator, node and slot"))
        seen.add((q.aggregator_id, node, q.slot_start))
        key = (q.aggregator_id, q.slot_start)
        taken[key] = taken.get(key, 0) + q.accepted_w
        if taken[key] > offered.get(key, 0):
            violations.append(
                FieldViolation(f"{path}.accepted_w", f"exceeds the {offered.get(key, 0)} W the bid offered")
            )
        resolved.append(ClearedQuantity(q.aggregator_id, node, q.slot_start, q.accepted_w, q.price))
    if violations:
        raise InvalidArgument(
            "invalid clearing result", reason="INVALID_CLEARING_RESULT", violations=violations
        )
    return resolved


def _record(
    uow: UnitOfWork,
    event: Event,
    cleared_by: ClearingMode,
    cleared: Sequence[ClearedQuantity],
    heartbeat_timeout: timedelta,
) -> Cleared:
    """Move the event to CLEARED, store the result, tell each winner its quantities, instruct it per node."""
    moved = events.transition(uow, event, EventState.CLEARED, Actor.GRID)
    if moved is None:
        raise Aborted(f"event {event.event_id} changed state while being cleared; retry")
    clearing = bids.record_clearing(uow.conn, event, cleared_by, cleared, uow.now)
    for aggregator_id in sorted({q.aggregator_id for q in cleared}):
        uow.notify(ClearingPublished(clearing, aggregator_id))
    index = {start: i for i, start in enumerate(event.slot_starts)}
    curves: dict[tuple[str, str], list[int]] = {}
    for q in cleared:
        curves.setdefault((q.aggregator_id, q.grid_node), [0] * len(index))[index[q.slot_start]] += (
            q.accepted_w
        )
    issued = dispatch.issue_for_clearing(uow, moved, curves, heartbeat_timeout)
    return Cleared(clearing, issued)


def submit_bid(
    uow: UnitOfWork,
    aggregator_id: str,
    event_id: str,
    slots: Sequence[BidSlot],
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> Bid:
    """Submit or replace the aggregator's bid on an event it is invited to (another's: NotFound),
    within its capacity (``bid_capacity``); a SUSPENDED aggregator's is refused (``tenants.require_active``)."""
    tenants.require_active(uow, "submit bids")
    event = event_store.get(uow.conn, event_id, aggregator_id=aggregator_id)
    available = bid_capacity(uow.conn, event, aggregator_id, uow.now, heartbeat_timeout)
    return bids.submit(uow.conn, event, aggregator_id, slots, available, uow.now)


def withdraw_bid(uow: UnitOfWork, aggregator_id: str, event_id: str, owner: str) -> Bid:
    """Withdraw the aggregator's own bid ``events/{event_id}/bids/{owner}``; another's is NotFound."""
    if owner != aggregator_id:
        raise bids.bid_not_found(event_id, owner)
    event = event_store.get(uow.conn, event_id, aggregator_id=aggregator_id)
    return bids.withdraw(uow.conn, event, aggregator_id, uow.now)


def bid_capacity(
    conn: Connection,
    event: Event,
    aggregator_id: str,
    at: datetime,
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> dict[datetime, SlotCapacity]:
    """Per slot of the window: the declared capacity of its day when declared, else what is available now.

    Available = the aggregator's real-time F3 capacity, in the event's
    direction, at the event nodes it serves (docs/SETTLEMENT.md, "Bids need capacity").
    """
    decrease = event.direction is Direction.LOAD_DECREASE
    served = event_store.invitees(conn, event.event_id).get(aggregator_id, [])
    available = 0
    for node in served:
        totals = capacity.aggregator_capacities(conn, node, at, heartbeat_timeout).get(aggregator_id)
        if totals is not None:
            available += totals.decrease_w if decrease else totals.increase_w
    result = {}
    declared: dict[datetime, capacity.Declaration | None] = {}
    for start in event.slot_starts:
        day_start = slot_start(local_day(start), 0)
        if day_start not in declared:
            declared[day_start] = capacity.declarations_for(conn, day_start, [aggregator_id]).get(
                aggregator_id
            )
        declaration = declared[day_start]
        if declaration is None:
            result[start] = SlotCapacity(available, CapacitySource.REAL_TIME)
        else:
            values = declaration.decrease_w if decrease else declaration.increase_w
            result[start] = SlotCapacity(values[slot_index(start)], CapacitySource.DECLARED)
    return result


def advance_event(uow: UnitOfWork, event_id: str) -> int:
    """The clock's due transitions of one event (deadline, window start, window end); how many it took."""
    event = event_store.get(uow.conn, event_id)
    after = events.advance(uow, event)
    return len(after.transitions) - len(event.transitions)


def _publisher(uow: UnitOfWork) -> str:
    if uow.principal is None:
        raise ValueError("an event is published by a principal")
    return uow.principal.uri


def _check_price_mode(event_type: EventType, price_mode: PriceMode | None) -> None:
    """Bids settle at a clearing price; direct control and price signals at the announced price."""
    if price_mode is None:
        return
    if event_type.has_bidding == (price_mode is PriceMode.DIRECT_CONTROL):
        raise InvalidArgument(
            f"an EVENT_TYPE_{event_type} event settles at "
            + (
                "its clearing price: price_mode PRICE_MODE_UNIFORM or PRICE_MODE_PAY_AS_BID"
                if event_type.has_bidding
                else "the announced price: price_mode PRICE_MODE_ANNOUNCED"
            ),
            violations=[
                FieldViolation(
                    "event.price_mode",
                    "UNIFORM or PAY_AS_BID with bidding, ANNOUNCED without",
                )
            ],
        )
