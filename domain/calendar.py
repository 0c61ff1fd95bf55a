"""Settlement time: the Asia/Shanghai local day, its 96 slots of 15 minutes, working days.

SPEC section 2: settlement periods are 15-minute slots, 96 a day, and a "day" is
the local day in Asia/Shanghai. SPEC F8: working days are Monday to Friday minus
the configured holidays, plus the configured make-up working days (调休).
Asia/Shanghai has kept UTC+8 without daylight saving since 1991, so every local
day has exactly 96 slots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from domain.errors import FieldViolation, InvalidArgument

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT_MINUTES = 15
SLOTS_PER_DAY = 96
SLOT_HOURS = Fraction(1, 4)
"""Δt of SPEC F3/F9/F10 in hours, exact."""

_SLOT = timedelta(minutes=SLOT_MINUTES)


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidArgument(
            f"{name} must be timezone-aware",
            violations=[FieldViolation(name, "a naive datetime has no defined instant")],
        )


def local_day(instant: datetime) -> date:
    """The Asia/Shanghai calendar day an instant falls in (SPEC section 2)."""
    _require_aware(instant, "instant")
    return instant.astimezone(SHANGHAI).date()


def slot_index(instant: datetime) -> int:
    """The slot (0..95) of its local day that contains ``instant``; slots are [start, start + 15 min)."""
    _require_aware(instant, "instant")
    local = instant.astimezone(SHANGHAI)
    return (local.hour * 60 + local.minute) // SLOT_MINUTES


def slot_start(day: date, slot: int) -> datetime:
    """The UTC start of slot ``slot`` (0..95) of the local day ``day``."""
    _check_slot(slot, "slot")
    midnight = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return (midnight + slot * _SLOT).astimezone(UTC)


def slot_starts(day: date) -> list[datetime]:
    """The UTC starts of the 96 slots of the local day ``day``, in order."""
    return [slot_start(day, slot) for slot in range(SLOTS_PER_DAY)]


def _check_slot(slot: int, name: str) -> None:
    if not 0 <= slot < SLOTS_PER_DAY:
        raise InvalidArgument(
            f"{name} {slot} is outside 0..{SLOTS_PER_DAY - 1}",
            violations=[FieldViolation(name, f"must be within 0..{SLOTS_PER_DAY - 1}")],
        )


@dataclass(frozen=True)
class SlotWindow:
    """The slots ``start`` (inclusive) to ``stop`` (exclusive) of one local day: an event window."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        _check_slot(self.start, "window.start")
        if not self.start < self.stop <= SLOTS_PER_DAY:
            raise InvalidArgument(
                f"window [{self.start}, {self.stop}) is empty or runs past the day",
                violations=[
                    FieldViolation("window.stop", f"must be within {self.start + 1}..{SLOTS_PER_DAY}")
                ],
            )

    @property
    def slots(self) -> range:
        return range(self.start, self.stop)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days per SPEC F8: Mon–Fri, minus ``holidays``, plus ``makeup_workdays`` (调休).

    A date may not be both a holiday and a make-up working day.
    """

    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_workdays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, holidays: Iterable[date] = (), makeup_workdays: Iterable[date] = ()) -> WorkingCalendar:
        return cls(frozenset(holidays), frozenset(makeup_workdays))

    def __post_init__(self) -> None:
        clash = sorted(self.holidays & self.makeup_workdays)
        if clash:
            raise InvalidArgument(
                f"{clash[0].isoformat()} is configured both as a holiday and as a make-up working day",
                violations=[FieldViolation("makeup_workdays", "must not repeat a holiday")],
            )

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5
