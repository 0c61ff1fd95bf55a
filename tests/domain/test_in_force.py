"""The one "version in force" rule (domain.in_force) of the evaluation (F9, per slot) and the monitor (F7, per minute).

Before, the evaluation took the version in force at the end of the slot by its
create and cancel times, the monitor the versions ACTIVE when it ran, valid at
the minute's first instant. The edges where they parted, now one rule:

- a revision after the interval's end but before the run: the version in force
  at the end counts (the monitor took the newer one);
- a version issued during the interval counts for it; one issued exactly at its
  end does not; one cancelled exactly at its end still does;
- a validity starting inside the interval counts for it with its first value,
  one ending inside it does not (the monitor judged validity at the minute's
  first instant).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from domain.in_force import in_force, in_force_at, last_instant, target_at

T0 = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class V:
    name: str
    create_time: datetime
    cancel_time: datetime | None
    validity_start: datetime = T0
    validity_end: datetime = T0 + 2 * SLOT
    target_start: datetime = T0
    step_minutes: int = 15
    target_w: tuple[int, ...] = (1_000, 2_000)


def interval(versions: list[V], start: datetime, length: timedelta = MINUTE) -> list[tuple[str, int]]:
    last = last_instant(start + length)
    return [(v.name, target_at(v, last)) for v in in_force_at(versions, last)]


def test_a_revision_hands_over_at_its_instant_so_one_version_is_in_force_at_a_time() -> None:
    revised = T0 + 7 * MINUTE + timedelta(seconds=30)
    v1 = V("v1", T0 - SLOT, revised)
    v2 = V("v2", revised, None, target_w=(1_500, 2_000))
    for at in (revised - timedelta(microseconds=1), revised, revised + timedelta(microseconds=1)):
        assert len(in_force_at([v1, v2], at)) == 1
    assert in_force_at([v1, v2], revised - timedelta(microseconds=1)) == [v1]
    assert in_force_at([v1, v2], revised) == [v2]
    # The minute of the revision takes the new version (in force at its end), the minute before the old one,
    # whenever the monitor gets to run them.
    assert interval([v1, v2], T0 + 7 * MINUTE) == [("v2", 1_500)]
    assert interval([v1, v2], T0 + 6 * MINUTE) == [("v1", 1_000)]
    # The slot of the revision: the version in force at its end (SPEC F9).
    assert interval([v1, v2], T0, SLOT) == [("v2", 1_500)]


def test_issue_and_cancel_at_the_interval_end() -> None:
    end = T0 + MINUTE
    assert interval([V("issued at the end", end, None)], T0) == []
    assert interval([V("issued inside", end - timedelta(seconds=1), None)], T0) == [("issued inside", 1_000)]
    assert interval([V("cancelled at the end", T0 - SLOT, end)], T0) == [("cancelled at the end", 1_000)]
    assert interval([V("cancelled inside", T0 - SLOT, end - timedelta(seconds=1))], T0) == []


def test_a_validity_counts_for_an_interval_when_it_covers_its_last_instant() -> None:
    start = T0 + timedelta(seconds=42)
    late = V(
        "late",
        T0 - SLOT,
        None,
        validity_start=start,
        validity_end=start + 2 * MINUTE,
        target_start=start,
        step_minutes=1,
        target_w=(700, 800),
    )
    # 10:00:42–10:02:42: the minutes 10:00 and 10:01 (their ends are covered), not 10:02.
    assert interval([late], T0) == [("late", 700)]
    assert interval([late], T0 + MINUTE) == [("late", 800)]
    assert interval([late], T0 + 2 * MINUTE) == []
    assert not in_force(late, T0)  # the minute's first instant alone would not have counted it


def test_a_version_issued_after_its_validity_started_counts_from_the_interval_it_was_issued_in() -> None:
    v = V("real-time", T0 + 3 * MINUTE + timedelta(seconds=5), None)
    assert interval([v], T0 + 2 * MINUTE) == []
    assert interval([v], T0 + 3 * MINUTE) == [("real-time", 1_000)]
    assert interval([replace(v, cancel_time=T0 + 20 * MINUTE)], T0 + 19 * MINUTE) == [("real-time", 2_000)]
    assert interval([replace(v, cancel_time=T0 + 20 * MINUTE)], T0 + 20 * MINUTE) == []
