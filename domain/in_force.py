"""Which instruction version is in force (SPEC F6, F7, F9): the one rule of the evaluation and the monitor.

An instruction is revised by cancel-and-reissue: version n is cancelled at the
instant version n + 1 is created. A version is in force at an instant ``at``
when it was created at or before ``at``, was not cancelled at or before
``at``, and its validity window [start, end) contains ``at``. At the instant
of a revision the new version is in force, so at no instant are two versions
of one instruction in force.

An interval — a 15-minute slot of the evaluation, a minute of the monitor —
takes the version in force at its last instant, ``end`` − 1 µs (SPEC F9: "the
version in force at the end of the slot"), and that version's target value at
that instant. So a version issued during the interval counts for it, one
cancelled at or after its end counts for it too, and a validity starting or
ending inside the interval counts as covering it only when it covers its last
instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from domain.monitoring import Curve

INSTANT = timedelta(microseconds=1)
"""The resolution of stored times (Python and PostgreSQL both keep microseconds)."""


class Version(Protocol):
    """The times of one instruction version."""

    @property
    def create_time(self) -> datetime: ...

    @property
    def cancel_time(self) -> datetime | None: ...

    @property
    def validity_start(self) -> datetime: ...

    @property
    def validity_end(self) -> datetime: ...


V = TypeVar("V", bound=Version)


def in_force(version: Version, at: datetime) -> bool:
    """Created at or before ``at``, not cancelled at or before it, valid at it."""
    return (
        version.create_time <= at
        and (version.cancel_time is None or at < version.cancel_time)
        and version.validity_start <= at < version.validity_end
    )


def last_instant(end: datetime) -> datetime:
    """The instant an interval ending (exclusively) at ``end`` is judged at."""
    return end - INSTANT


def in_force_at(versions: Iterable[V], at: datetime) -> list[V]:
    """The versions in force at ``at``, in the order given."""
    return [v for v in versions if in_force(v, at)]


class Instructed(Version, Protocol):
    """A version with its target curve: watts per step from ``target_start``."""

    @property
    def target_start(self) -> datetime: ...

    @property
    def step_minutes(self) -> int: ...

    @property
    def target_w(self) -> tuple[int, ...]: ...


def target_at(version: Instructed, at: datetime) -> int:
    """The version's target at ``at``: the value of the step containing it, 0 outside the curve."""
    return Curve(version.target_start, version.step_minutes, version.target_w).value_at(at)
