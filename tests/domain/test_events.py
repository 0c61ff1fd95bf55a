"""SPEC F4 event state machine: who may move an event where, and what the clock makes due."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import FailedPrecondition, InvalidArgument
from domain.events import (
    Actor,
    Due,
    EventState,
    EventType,
    Publication,
    TargetCurve,
    Timing,
    allowed,
    check_bidding_open,
    check_publication,
    check_transition,
    due_transitions,
)

S = EventState
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
START = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # 18:00 the next local day
END = START + timedelta(minutes=30)
DEADLINE = START - timedelta(hours=2)
DAY_AHEAD = Timing(EventType.DAY_AHEAD, START, END, DEADLINE)
REAL_TIME = Timing(EventType.REAL_TIME, START, END, None)


def test_the_happy_path_with_bidding() -> None:
    path = [S.PUBLISHED, S.BIDDING_CLOSED, S.CLEARED, S.EXECUTING, S.COMPLETED, S.EVALUATED, S.SETTLED]
    actors = [Actor.PLATFORM, Actor.GRID, Actor.PLATFORM, Actor.PLATFORM, Actor.OPERATOR, Actor.PLATFORM]
    for (current, target), actor in zip(itertools.pairwise(path), actors, strict=True):
        assert allowed(EventType.DAY_AHEAD, current, target, actor)


def test_who_may_trigger() -> None:
    assert not allowed(
        EventType.DAY_AHEAD, S.PUBLISHED, S.BIDDING_CLOSED, Actor.GRID
    )  # the clock closes bidding
    assert not allowed(EventType.DAY_AHEAD, S.CLEARED, S.EXECUTING, Actor.GRID)
    assert not allowed(EventType.DAY_AHEAD, S.BIDDING_CLOSED, S.CLEARED, Actor.OPERATOR)
    assert not allowed(EventType.DAY_AHEAD, S.EVALUATED, S.SETTLED, Actor.GRID)


def test_events_without_bidding_skip_bidding_and_clearing() -> None:
    assert allowed(EventType.REAL_TIME, S.PUBLISHED, S.EXECUTING, Actor.PLATFORM)
    assert not allowed(EventType.REAL_TIME, S.PUBLISHED, S.BIDDING_CLOSED, Actor.PLATFORM)
    assert not allowed(EventType.PRICE_SIGNAL, S.BIDDING_CLOSED, S.CLEARED, Actor.GRID)
    assert not allowed(EventType.INTRADAY, S.PUBLISHED, S.EXECUTING, Actor.PLATFORM)


@pytest.mark.parametrize("state", [S.PUBLISHED, S.BIDDING_CLOSED, S.CLEARED, S.EXECUTING])
def test_cancellable_before_completion(state: EventState) -> None:
    assert allowed(EventType.DAY_AHEAD, state, S.CANCELLED, Actor.GRID)


@pytest.mark.parametrize("state", [S.COMPLETED, S.EVALUATED, S.SETTLED, S.CANCELLED])
def test_not_cancellable_from_completion_on(state: EventState) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        check_transition("e1", EventType.DAY_AHEAD, state, S.CANCELLED, Actor.GRID)
    assert caught.value.reason == "INVALID_EVENT_TRANSITION"
    assert caught.value.metadata == {"event": "events/e1", "state": state.value, "wanted_state": "CANCELLED"}
    assert [v.subject for v in caught.value.violations] == ["events/e1"]


def test_nothing_is_due_before_the_deadline() -> None:
    assert due_transitions(DAY_AHEAD, S.PUBLISHED, DEADLINE - timedelta(microseconds=1)) == []


def test_bidding_closes_at_the_deadline_stamped_with_the_deadline() -> None:
    assert due_transitions(DAY_AHEAD, S.PUBLISHED, DEADLINE + timedelta(minutes=7)) == [
        Due(S.BIDDING_CLOSED, DEADLINE)
    ]


def test_a_late_scheduler_catches_up_in_order() -> None:
    assert due_transitions(DAY_AHEAD, S.CLEARED, END + timedelta(hours=1)) == [
        Due(S.EXECUTING, START),
        Due(S.COMPLETED, END),
    ]
    assert due_transitions(REAL_TIME, S.PUBLISHED, END) == [Due(S.EXECUTING, START), Due(S.COMPLETED, END)]


def test_an_uncleared_event_is_cancelled_at_the_window_start() -> None:
    assert due_transitions(DAY_AHEAD, S.PUBLISHED, START) == [
        Due(S.BIDDING_CLOSED, DEADLINE),
        Due(S.CANCELLED, START, "not cleared before the window started"),
    ]


@pytest.mark.parametrize("state", [S.COMPLETED, S.EVALUATED, S.SETTLED, S.CANCELLED])
def test_the_clock_never_moves_a_finished_event(state: EventState) -> None:
    assert due_transitions(DAY_AHEAD, state, END + timedelta(days=1)) == []


def test_bidding_is_open_only_while_published_and_before_the_deadline() -> None:
    check_bidding_open("e1", DAY_AHEAD, S.PUBLISHED, DEADLINE - timedelta(seconds=1))
    for state, at in [(S.PUBLISHED, DEADLINE), (S.BIDDING_CLOSED, NOW)]:
        with pytest.raises(FailedPrecondition) as caught:
            check_bidding_open("e1", DAY_AHEAD, state, at)
        assert caught.value.reason == "BIDDING_CLOSED"
    with pytest.raises(FailedPrecondition):
        check_bidding_open("e1", REAL_TIME, S.PUBLISHED, NOW)


def _publication(**changes: object) -> Publication:
    fields: dict[str, object] = {
        "event_type": EventType.DAY_AHEAD,
        "window_start": START,
        "window_end": END,
        "bid_deadline": DEADLINE,
        "targets": (TargetCurve("ta-1", START, 15, (100_000, 60_000)),),
        "price_cap": Decimal("1.00"),
        "announced_price": None,
    }
    fields.update(changes)
    return Publication(**fields)  # type: ignore[arg-type]


def test_a_valid_day_ahead_event_passes() -> None:
    check_publication(_publication(), NOW)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"window_end": END + timedelta(minutes=5)}, ["event.window.end_time"]),
        ({"bid_deadline": None}, ["event.bid_deadline"]),
        ({"bid_deadline": NOW}, ["event.bid_deadline"]),
        (
            {
                "window_start": NOW + timedelta(hours=2),
                "window_end": NOW + timedelta(hours=2, minutes=30),
                "bid_deadline": NOW + timedelta(hours=1),
                "targets": (TargetCurve("ta-1", NOW + timedelta(hours=2), 15, (1, 1)),),
            },
            ["event.window.start_time"],
        ),
        ({"targets": (TargetCurve("ta-1", START, 15, (100_000,)),)}, ["event.targets[0].target.values_w"]),
        (
            {"targets": (TargetCurve("ta-1", START, 5, (1, -1)),)},
            ["event.targets[0].target.step_minutes", "event.targets[0].target.values_w[1]"],
        ),
        ({"targets": ()}, ["event.targets"]),
        ({"price_cap": Decimal("-0.01")}, ["event.price_cap"]),
    ],
    ids=[
        "unaligned",
        "no-deadline",
        "past-deadline",
        "same-day",
        "short-curve",
        "bad-curve",
        "no-targets",
        "negative-cap",
    ],
)
def test_invalid_publications_name_the_fields(changes: dict[str, object], fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_publication(_publication(**changes), NOW)
    assert [v.field for v in caught.value.violations] == fields


def test_a_real_time_event_has_no_deadline_and_may_start_today() -> None:
    soon = NOW + timedelta(minutes=15)
    event = _publication(
        event_type=EventType.REAL_TIME,
        window_start=soon,
        window_end=soon + timedelta(minutes=15),
        bid_deadline=None,
        targets=(TargetCurve("ta-1", soon, 15, (5_000,)),),
    )
    check_publication(event, NOW)
    with pytest.raises(InvalidArgument) as caught:
        check_publication(_publication(event_type=EventType.REAL_TIME), NOW)
    assert [v.field for v in caught.value.violations] == ["event.bid_deadline"]
