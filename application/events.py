"""Event transitions (SPEC F4): the persisted state machine's moves, each announced to the invited aggregators.

``transition`` is the one way an event changes state: the store's conditional
UPDATE and history row (``store.events.transition``), then an
EventStateChanged notice to every invited aggregator, in the caller's unit of
work. ``advance`` applies the clock's due transitions through it. Every use
case that moves an event (publication aside) goes through here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from application.uow import UnitOfWork
from domain import events as rules
from domain.events import Actor, Event, EventState
from domain.notices import EventStateChanged
from store import events as event_store


def transition(
    uow: UnitOfWork, event: Event, target: EventState, actor: Actor, *, reason: str = ""
) -> Event | None:
    """Move ``event`` to ``target`` at ``uow.now`` if the rules allow ``actor`` to; None if another writer moved
    it first. FailedPrecondition INVALID_EVENT_TRANSITION when the move is not allowed from its state."""
    return _moved(uow, event, target, actor, uow.now, reason)


def advance(uow: UnitOfWork, event: Event) -> Event:
    """Apply the clock's due transitions at ``uow.now`` (``domain.events.due_transitions``), each at its
    own instant; returns the event as it now is. Stops at the first one another writer applied first, and re-reads.

    The clock's transitions belong to no call: their notices carry no trace carrier.
    """
    clock = replace(uow, carrier=None)
    for due in rules.due_transitions(event.timing, event.state, uow.now):
        moved = _moved(clock, event, due.state, Actor.PLATFORM, due.at, due.reason)
        if moved is None:
            return event_store.get(uow.conn, event.event_id)
        event = moved
    return event


def _moved(
    uow: UnitOfWork, event: Event, target: EventState, actor: Actor, at: datetime, reason: str
) -> Event | None:
    updated = event_store.transition(uow.conn, event, target, actor, at, reason=reason)
    if updated is not None:
        uow.notify(EventStateChanged(updated, tuple(event_store.invitees(uow.conn, event.event_id))))
    return updated
