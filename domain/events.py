"""The demand-response event lifecycle (SPEC F4): states, who may move them, and the clock's rules.

PUBLISHED → BIDDING_CLOSED → CLEARED → EXECUTING → COMPLETED → EVALUATED →
SETTLED, or CANCELLED from any state before COMPLETED. Events without bidding
(real-time direct control, price signals) go PUBLISHED → EXECUTING directly.

Time is always passed in (``now``); nothing here reads the clock. The
time-driven transitions (bidding closes at the deadline, execution starts at
the window start and completes at its end) are computed by ``due_transitions``
so that a scheduler that ran late, or several schedulers at once, all arrive
at the same history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.baseline import BaselineMethod
from domain.calendar import SLOT_MINUTES, local_day
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from domain.evaluation import Direction
from domain.settlement import PriceMode

SLOT = timedelta(minutes=SLOT_MINUTES)

INVALID_EVENT_TRANSITION = "INVALID_EVENT_TRANSITION"
BIDDING_CLOSED = "BIDDING_CLOSED"
NOT_CLEARED_REASON = "not cleared before the window started"


class EventType(StrEnum):
    DAY_AHEAD = "DAY_AHEAD"
    INTRADAY = "INTRADAY"
    REAL_TIME = "REAL_TIME"
    PRICE_SIGNAL = "PRICE_SIGNAL"

    @property
    def has_bidding(self) -> bool:
        """Invitations are bid on and cleared; direct control and price signals are not."""
        return self in (EventType.DAY_AHEAD, EventType.INTRADAY)


class EventState(StrEnum):
    PUBLISHED = "PUBLISHED"
    BIDDING_CLOSED = "BIDDING_CLOSED"
    CLEARED = "CLEARED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    EVALUATED = "EVALUATED"
    SETTLED = "SETTLED"
    CANCELLED = "CANCELLED"


class ClearingMode(StrEnum):
    """Who clears an event's bids (SPEC F5): the grid submits a result, or the platform clears by merit order."""

    GRID = "GRID"
    PLATFORM = "PLATFORM"


class Actor(StrEnum):
    """Who causes a transition: the grid's call, an operator's call, or the platform itself (clock, rules)."""

    GRID = "GRID"
    OPERATOR = "OPERATOR"
    PLATFORM = "PLATFORM"


_S = EventState
_BIDDING_ONLY = {
    (_S.PUBLISHED, _S.BIDDING_CLOSED),
    (_S.BIDDING_CLOSED, _S.CLEARED),
    (_S.CLEARED, _S.EXECUTING),
}
_NO_BIDDING_ONLY = {(_S.PUBLISHED, _S.EXECUTING)}

TRANSITIONS: Mapping[tuple[EventState, EventState], frozenset[Actor]] = {
    (_S.PUBLISHED, _S.BIDDING_CLOSED): frozenset({Actor.PLATFORM}),
    # The grid submits a clearing result or asks the platform to clear (ClearEvent).
    (_S.BIDDING_CLOSED, _S.CLEARED): frozenset({Actor.GRID, Actor.PLATFORM}),
    (_S.CLEARED, _S.EXECUTING): frozenset({Actor.PLATFORM}),
    (_S.PUBLISHED, _S.EXECUTING): frozenset({Actor.PLATFORM}),
    (_S.EXECUTING, _S.COMPLETED): frozenset({Actor.PLATFORM}),
    (_S.COMPLETED, _S.EVALUATED): frozenset({Actor.GRID, Actor.OPERATOR, Actor.PLATFORM}),
    (_S.EVALUATED, _S.SETTLED): frozenset({Actor.PLATFORM}),
    **{
        (state, _S.CANCELLED): frozenset({Actor.GRID, Actor.PLATFORM})
        for state in (_S.PUBLISHED, _S.BIDDING_CLOSED, _S.CLEARED, _S.EXECUTING)
    },
}


def allowed(event_type: EventType, current: EventState, target: EventState, actor: Actor) -> bool:
    """Whether ``actor`` may move an event of ``event_type`` from ``current`` to ``target``."""
    pair = (current, target)
    if pair in _BIDDING_ONLY and not event_type.has_bidding:
        return False
    if pair in _NO_BIDDING_ONLY and event_type.has_bidding:
        return False
    return actor in TRANSITIONS.get(pair, frozenset())


def check_transition(
    event_id: str, event_type: EventType, current: EventState, target: EventState, actor: Actor
) -> None:
    """Raise FailedPrecondition INVALID_EVENT_TRANSITION unless ``allowed``."""
    if not allowed(event_type, current, target, actor):
        raise FailedPrecondition(
            f"event {event_id} cannot go from {current} to {target}",
            reason=INVALID_EVENT_TRANSITION,
            violations=[
                PreconditionViolation(
                    type="STATE",
                    subject=f"events/{event_id}",
                    description=f"{event_type} event in state {current} cannot become {target} by {actor}",
                )
            ],
            metadata={"event": f"events/{event_id}", "state": current.value, "wanted_state": target.value},
        )


@dataclass(frozen=True)
class Timing:
    """The instants that drive an event: execution window [start, end) and the bid deadline."""

    event_type: EventType
    window_start: datetime
    window_end: datetime
    bid_deadline: datetime | None


@dataclass(frozen=True)
class Due:
    """A transition the clock has made due, with the instant it became due."""

    state: EventState
    at: datetime
    reason: str = ""


def due_transitions(timing: Timing, state: EventState, now: datetime) -> list[Due]:
    """The time-driven transitions due at ``now`` from ``state``, in order (a late scheduler catches up).

    Bidding closes at the deadline; an event with bidding that is not cleared
    when its window starts is cancelled; a cleared (or, without bidding,
    published) event executes from the window start and completes at its end.
    Each transition carries the instant it became due, so every scheduler
    records the same history however late it runs.
    """
    due: list[Due] = []
    while True:
        step = _next_due(timing, state, now)
        if step is None:
            return due
        due.append(step)
        state = step.state


def _next_due(timing: Timing, state: EventState, now: datetime) -> Due | None:
    bidding = timing.event_type.has_bidding
    if state is _S.PUBLISHED and bidding and timing.bid_deadline is not None and now >= timing.bid_deadline:
        return Due(_S.BIDDING_CLOSED, timing.bid_deadline)
    if state in (_S.PUBLISHED, _S.BIDDING_CLOSED) and bidding and now >= timing.window_start:
        return Due(_S.CANCELLED, timing.window_start, NOT_CLEARED_REASON)
    if (state is _S.CLEARED or (state is _S.PUBLISHED and not bidding)) and now >= timing.window_start:
        return Due(_S.EXECUTING, timing.window_start)
    if state is _S.EXECUTING and now >= timing.window_end:
        return Due(_S.COMPLETED, timing.window_end)
    return None


def check_bidding_open(event_id: str, timing: Timing, state: EventState, now: datetime) -> None:
    """Bids may be submitted or withdrawn only while PUBLISHED and before the deadline (F5).

    Raises FailedPrecondition BIDDING_CLOSED otherwise (also for events
    without bidding).
    """
    deadline = timing.bid_deadline
    if timing.event_type.has_bidding and state is _S.PUBLISHED and deadline is not None and now < deadline:
        return
    raise FailedPrecondition(
        f"bidding on event {event_id} is closed",
        reason=BIDDING_CLOSED,
        violations=[
            PreconditionViolation(
                type="STATE",
                subject=f"events/{event_id}",
                description=f"{timing.event_type} event in state {state}, bid deadline "
                f"{deadline.isoformat() if deadline else 'none'}",
            )
        ],
        metadata={"event": f"events/{event_id}", "state": state.value},
    )


@dataclass(frozen=True)
class TargetCurve:
    """A node's wanted response as sent: one value per step from ``start``."""

    grid_node: str
    start: datetime
    step_minutes: int
    values_w: Sequence[int]


@dataclass(frozen=True)
class Publication:
    """What the grid asks to publish, already translated from the wire; validated by ``check_publication``."""

    event_type: EventType
    window_start: datetime
    window_end: datetime
    bid_deadline: datetime | None
    targets: Sequence[TargetCurve]
    price_cap: Decimal | None
    announced_price: Decimal | None


def slot_count(window_start: datetime, window_end: datetime) -> int:
    return (window_end - window_start) // SLOT


def check_publication(event: Publication, now: datetime) -> None:
    """Semantic checks of a new event (the proto checks the shapes). Raises InvalidArgument, field paths under ``event.``.

    - the window falls on 15-minute slots and has not ended (that it is not empty is the
      contract's TimeWindow rule, checked by the validation interceptor);
    - day-ahead and intraday events need a bid deadline after ``now`` (not after
      the window start is the contract's CEL rule); a day-ahead window starts on
      a later local day (Asia/Shanghai) than ``now``;
    - events without bidding carry no bid deadline;
    - each node target has 15-minute steps starting at the window start, one
      value ≥ 0 per slot; events other than price signals need at least one;
    - prices are not negative.
    """
    violations: list[FieldViolation] = []
    start, end = event.window_start, event.window_end
    for name, instant in (("window.start_time", start), ("window.end_time", end)):
        if instant.second or instant.microsecond or instant.minute % SLOT_MINUTES:
            violations.append(FieldViolation(f"event.{name}", "must fall on a 15-minute slot boundary"))
    # end > start is the contract's TimeWindow rule (time_window.end_after_start).
    if end <= now:
        violations.append(FieldViolation("event.window.end_time", "must be in the future", "WINDOW_ENDED"))
    violations += _deadline_violations(event, now)
    violations += _target_violations(event)
    for name, price in (("price_cap", event.price_cap), ("announced_price", event.announced_price)):
        if price is not None and price < 0:
            violations.append(FieldViolation(f"event.{name}", "must not be negative"))
    if violations:
        raise InvalidArgument("invalid event", reason="INVALID_EVENT", violations=violations)


def _deadline_violations(event: Publication, now: datetime) -> list[FieldViolation]:
    deadline = event.bid_deadline
    if not event.event_type.has_bidding:
        if deadline is not None:
            return [FieldViolation("event.bid_deadline", f"a {event.event_type} event has no bidding")]
        return []
    violations = []
    if deadline is None:
        violations.append(FieldViolation("event.bid_deadline", f"required for a {event.event_type} event"))
    elif deadline <= now:
        violations.append(FieldViolation("event.bid_deadline", "must be in the future"))
    # Not after the window start is the contract's CEL rule (event.bid_deadline_not_after_window_start).
    if event.event_type is EventType.DAY_AHEAD and local_day(event.window_start) <= local_day(now):
        violations.append(
            FieldViolation(
                "event.window.start_time", "a day-ahead event starts on a later day (Asia/Shanghai)"
            )
        )
    return violations


def _target_violations(event: Publication) -> list[FieldViolation]:
    if not event.targets and event.event_type is not EventType.PRICE_SIGNAL:
        return [FieldViolation("event.targets", f"a {event.event_type} event needs at least one node target")]
    slots = slot_count(event.window_start, event.window_end)
    violations = []
    seen: set[str] = set()
    for index, curve in enumerate(event.targets):
        if curve.grid_node in seen:
            violations.append(FieldViolation(f"event.targets[{index}].grid_node", "names a node twice"))
        seen.add(curve.grid_node)
        path = f"event.targets[{index}].target"
        if curve.step_minutes != SLOT_MINUTES:
            violations.append(FieldViolation(f"{path}.step_minutes", "must be 15 (one value per slot)"))
        if curve.start != event.window_start:
            violations.append(FieldViolation(f"{path}.start_time", "must equal window.start_time"))
        if len(curve.values_w) != slots:
            violations.append(
                FieldViolation(f"{path}.values_w", f"must hold one value per slot of the window ({slots})")
            )
        violations += [
            FieldViolation(f"{path}.values_w[{i}]", "must not be negative")
            for i, value in enumerate(curve.values_w)
            if value < 0
        ]
    return violations


def slot_starts(window_start: datetime, window_end: datetime) -> list[datetime]:
    """The starts of the 15-minute slots of a window, in order."""
    return [window_start + i * SLOT for i in range(slot_count(window_start, window_end))]


@dataclass(frozen=True)
class Transition:
    state: EventState
    actor: Actor
    reason: str
    transition_time: datetime


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: EventType
    direction: Direction
    window_start: datetime
    window_end: datetime
    bid_deadline: datetime | None
    price_cap: Decimal | None
    announced_price: Decimal | None
    clearing_mode: ClearingMode
    price_mode: PriceMode
    baseline_method: BaselineMethod
    program_id: str
    state: EventState
    create_time: datetime
    targets: tuple[TargetCurve, ...]
    transitions: tuple[Transition, ...]

    @property
    def timing(self) -> Timing:
        return Timing(self.event_type, self.window_start, self.window_end, self.bid_deadline)

    @property
    def slot_starts(self) -> list[datetime]:
        return slot_starts(self.window_start, self.window_end)

    @property
    def nodes(self) -> list[str]:
        return [t.grid_node for t in self.targets]

    def total_target_w(self) -> list[int]:
        """Σ over nodes of the wanted response, per slot of the window."""
        totals = [0] * len(self.slot_starts)
        for curve in self.targets:
            for i, value in enumerate(curve.values_w):
                totals[i] += value
        return totals
