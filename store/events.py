"""Event repository (SPEC F4): publication, invitations, the persisted state machine, programs.

Every state change is a conditional ``UPDATE events SET state = new WHERE
state = old`` plus a row in ``event_transitions`` (unique per event and state),
in the caller's transaction: two processes racing for the same transition
commit it once, and the loser sees that it lost. The store records no notice:
the use cases (``application.market``, ``application.events``) announce the
publication and each transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import events as rules
from domain.baseline import BaselineMethod
from domain.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from domain.evaluation import Direction
from domain.events import (
    Actor,
    ClearingMode,
    Event,
    EventState,
    EventType,
    Publication,
    TargetCurve,
    Transition,
)
from domain.settlement import PriceMode
from store import pagination, programs
from store.market_tables import (
    EventInvitationRow,
    EventRow,
    EventTargetRow,
    EventTransitionRow,
)
from store.programs import Program
from store.tables import table_of

events = table_of(EventRow)
targets = table_of(EventTargetRow)
transitions = table_of(EventTransitionRow)
invitations = table_of(EventInvitationRow)

EVENT_NOT_FOUND = "EVENT_NOT_FOUND"
_COLLECTION = "events"
NANOS = 10**9


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    next_page_token: str


def to_nanos(amount: Decimal) -> int:
    return int(amount * NANOS)


def from_nanos(nanos: int | None) -> Decimal | None:
    return None if nanos is None else Decimal(nanos) / NANOS


def get_program(conn: Connection, program_id: str) -> Program:
    """The program an event is published under (``store.programs``, the one reader); an unknown one is a
    bad ``event.program`` (INVALID_ARGUMENT PROGRAM_NOT_FOUND)."""
    found = programs.find(conn, program_id)
    if found is None:
        raise InvalidArgument(
            f"program {program_id} does not exist",
            reason=programs.PROGRAM_NOT_FOUND,
            violations=[FieldViolation("event.program", f"programs/{program_id} does not exist")],
        )
    return found


def publish(
    conn: Connection,
    *,
    event_id: str,
    publication: Publication,
    direction: Direction,
    clearing_mode: ClearingMode,
    price_mode: PriceMode,
    baseline_method: BaselineMethod,
    program_id: str,
    invitees: dict[str, list[str]],
    publisher: str,
    now: datetime,
    carrier: str | None,
) -> Event:
    """Insert a PUBLISHED event with its targets and its invitations of every aggregator in ``invitees``.

    ``invitees`` maps each aggregator to the event nodes it serves; ``carrier``
    is stored as the event's trace link.
    Raises AlreadyExists EVENT_EXISTS when the id is taken.
    """
    exists = conn.execute(sa.select(events.c.event_id).where(events.c.event_id == event_id)).first()
    if exists is not None:
        raise AlreadyExists(
            f"event {event_id} already exists",
            reason="EVENT_EXISTS",
            metadata={"event": f"events/{event_id}"},
        )
    conn.execute(
        sa.insert(events).values(
            event_id=event_id,
            event_type=publication.event_type.value,
            direction=direction.value,
            window_start=publication.window_start,
            window_end=publication.window_end,
            bid_deadline=publication.bid_deadline,
            price_cap_nanos=None if publication.price_cap is None else to_nanos(publication.price_cap),
            announced_price_nanos=None
            if publication.announced_price is None
            else to_nanos(publication.announced_price),
            clearing_mode=clearing_mode.value,
            price_mode=price_mode.value,
            baseline_method=baseline_method.value,
            program_id=program_id,
            state=EventState.PUBLISHED.value,
            publisher=publisher,
            trace_carrier=carrier,
            create_time=now,
            update_time=now,
        )
    )
    slots = rules.slot_starts(publication.window_start, publication.window_end)
    target_rows = [
        {
            "event_id": event_id,
            "grid_node": curve.grid_node,
            "slot_start": slots[i],
            "position": position,
            "target_w": value,
        }
        for position, curve in enumerate(publication.targets)
        for i, value in enumerate(curve.values_w)
    ]
    if target_rows:
        conn.execute(sa.insert(targets), target_rows)
    invitation_rows = [
        {"event_id": event_id, "aggregator_id": aggregator_id, "grid_node": node}
        for aggregator_id, nodes in sorted(invitees.items())
        for node in nodes
    ]
    if invitation_rows:
        conn.execute(sa.insert(invitations), invitation_rows)
    conn.execute(
        sa.insert(transitions).values(
            event_id=event_id,
            state=EventState.PUBLISHED.value,
            actor=Actor.GRID.value,
            reason="",
            transition_time=now,
        )
    )
    return get(conn, event_id)


def get(conn: Connection, event_id: str, *, aggregator_id: str | None = None) -> Event:
    """The event with its targets and history; an aggregator sees only events it was invited to."""
    query = sa.select(events).where(events.c.event_id == event_id)
    if aggregator_id is not None:
        query = query.where(_invited(aggregator_id))
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(
            f"event {event_id} not found", reason=EVENT_NOT_FOUND, metadata={"event": f"events/{event_id}"}
        )
    return _load([row], conn)[0]


def _invited(aggregator_id: str) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        invitations.c.event_id == events.c.event_id, invitations.c.aggregator_id == aggregator_id
    )


def list_page(
    conn: Connection,
    *,
    page_size: int,
    page_token: str,
    state: EventState | None = None,
    aggregator_id: str | None = None,
) -> EventPage:
    """Events newest first (keyset on create_time, event_id); an aggregator's list holds its invitations only."""
    collection = f"{_COLLECTION}?state={state or ''}&aggregator={aggregator_id or ''}"
    query = sa.select(events)
    if state is not None:
        query = query.where(events.c.state == state.value)
    if aggregator_id is not None:
        query = query.where(_invited(aggregator_id))
    rows, token = pagination.keyset(
        conn,
        query,
        [
            pagination.Key(events.c.create_time, datetime.fromisoformat, descending=True),
            pagination.Key(events.c.event_id, descending=True),
        ],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return EventPage(_load(rows, conn), token)


def _load(rows: Sequence[sa.Row[tuple[object, ...]]], conn: Connection) -> list[Event]:
    ids = [row.event_id for row in rows]
    if not ids:
        return []
    curves: dict[str, dict[str, list[tuple[int, datetime, int]]]] = {}
    for t in conn.execute(
        sa.select(targets).where(targets.c.event_id.in_(ids)).order_by(targets.c.slot_start)
    ):
        curves.setdefault(t.event_id, {}).setdefault(t.grid_node, []).append(
            (t.position, t.slot_start, t.target_w)
        )
    history: dict[str, list[Transition]] = {}
    for t in conn.execute(
        sa.select(transitions).where(transitions.c.event_id.in_(ids)).order_by(transitions.c.id)
    ):
        history.setdefault(t.event_id, []).append(
            Transition(EventState(t.state), Actor(t.actor), t.reason, t.transition_time)
        )
    return [_record(row, curves.get(row.event_id, {}), history.get(row.event_id, [])) for row in rows]


def _record(
    row: sa.Row[tuple[object, ...]],
    curves: dict[str, list[tuple[int, datetime, int]]],
    history: list[Transition],
) -> Event:
    ordered = sorted(curves.items(), key=lambda item: item[1][0][0])
    return Event(
        event_id=row.event_id,
        event_type=EventType(row.event_type),
        direction=Direction(row.direction),
        window_start=row.window_start,
        window_end=row.window_end,
        bid_deadline=row.bid_deadline,
        price_cap=from_nanos(row.price_cap_nanos),
        announced_price=from_nanos(row.announced_price_nanos),
        clearing_mode=ClearingMode(row.clearing_mode),
        price_mode=PriceMode(row.price_mode),
        baseline_method=BaselineMethod(row.baseline_method),
        program_id=row.program_id,
        state=EventState(row.state),
        create_time=row.create_time,
        targets=tuple(
            TargetCurve(node, points[0][1], rules.SLOT_MINUTES, tuple(p[2] for p in points))
            for node, points in ordered
        ),
        transitions=tuple(history),
    )


def invitees(conn: Connection, event_id: str) -> dict[str, list[str]]:
    """Invited aggregator → the event nodes it serves."""
    found: dict[str, list[str]] = {}
    for row in conn.execute(
        sa.select(invitations.c.aggregator_id, invitations.c.grid_node)
        .where(invitations.c.event_id == event_id)
        .order_by(invitations.c.aggregator_id, invitations.c.grid_node)
    ):
        found.setdefault(row.aggregator_id, []).append(row.grid_node)
    return found


def transition(
    conn: Connection,
    event: Event,
    target: EventState,
    actor: Actor,
    at: datetime,
    *,
    reason: str = "",
) -> Event | None:
    """Move ``event`` to ``target`` if the rules allow ``actor`` to; None if another writer moved it first.

    Records the transition in the caller's transaction (announcing it is
    ``application.events.transition``'s). Raises FailedPrecondition
    INVALID_EVENT_TRANSITION when the move is not allowed from the event's state.
    """
    rules.check_transition(event.event_id, event.event_type, event.state, target, actor)
    moved = conn.execute(
        sa.update(events)
        .where(events.c.event_id == event.event_id, events.c.state == event.state.value)
        .values(state=target.value, update_time=at)
    ).rowcount
    if moved != 1:
        return None
    conn.execute(
        sa.insert(transitions).values(
            event_id=event.event_id, state=target.value, actor=actor.value, reason=reason, transition_time=at
        )
    )
    return replace(
        event, state=target, transitions=(*event.transitions, Transition(target, actor, reason, at))
    )


def due_event_ids(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Ids of events with a deadline, window start or window end passed that their state still waits for."""
    state = events.c.state
    query = (
        sa.select(events.c.event_id)
        .where(
            sa.or_(
                sa.and_(
                    state == EventState.PUBLISHED.value,
                    sa.or_(events.c.bid_deadline <= now, events.c.window_start <= now),
                ),
                sa.and_(
                    state.in_([EventState.BIDDING_CLOSED.value, EventState.CLEARED.value]),
                    events.c.window_start <= now,
                ),
                sa.and_(state == EventState.EXECUTING.value, events.c.window_end <= now),
            )
        )
        .order_by(events.c.window_start, events.c.event_id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())
