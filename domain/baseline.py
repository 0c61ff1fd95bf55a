"""Customer baseline load (基线), SPEC F8.

The baseline of an aggregator (or a grid node) for each slot of an event window
is built from its metered 15-minute mean power on earlier comparable days.

Values are exact rationals (``fractions.Fraction``), never rounded: the TRIMMED
method divides by 3, which has no finite decimal expansion, and a baseline
truncated to any number of decimal digits can move a settlement line across a
half-fen boundary (SPEC F10). Inputs are ``int`` or ``Decimal`` watts, converted
exactly; ``Fraction`` compares equal to the ``Decimal`` of the same value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from domain.calendar import SLOTS_PER_DAY, SlotWindow, WorkingCalendar, local_day, slot_index
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument

INSUFFICIENT_BASELINE_DAYS = "INSUFFICIENT_BASELINE_DAYS"

FIRST_CANDIDATE_OFFSET = 2
"""Candidates start at D−2 (D−1 is not yet fully metered when a day-ahead event is evaluated)."""
MAX_LOOKBACK_DAYS = 60
"""The earliest candidate is D−60: the one lookback of SPEC F8 (evaluation and monitoring read history from there)."""

Exact = Fraction
"""An exact power in watts (or a rate, or an energy): see the module docstring."""
Measured = Decimal | int | Fraction
"""A value as it comes in: whole or decimal watts."""
History = Mapping[date, Mapping[int, Measured]]
"""Metered 15-min mean power per local day per slot (0..95); a missing slot is absent."""


def as_exact(value: Measured, name: str = "value") -> Exact:
    """Convert an input number to an exact rational, refusing floats and non-finite decimals."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | Fraction):
        raise InvalidArgument(
            f"{name} must be an int, Decimal or Fraction, got {type(value).__name__}",
            violations=[FieldViolation(name, "must be an exact number")],
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidArgument(f"{name} is {value}", violations=[FieldViolation(name, "must be finite")])
    return Fraction(value)


class BaselineMethod(StrEnum):
    """The baseline methods of SPEC F8 (a program setting)."""

    TOP5_OF_10 = "TOP5_OF_10"
    RECENT5 = "RECENT5"
    TRIMMED = "TRIMMED"
    PRE_EVENT = "PRE_EVENT"


DEFAULT_METHOD = BaselineMethod.TOP5_OF_10


@dataclass(frozen=True)
class BaselineResult:
    """A computed baseline and how it was obtained (for audit and explanations).

    ``values`` maps each slot of the event window to watts. ``days`` are the days
    averaged, most recent first; for PRE_EVENT the day of the pre-event slot.
    ``requested`` is the program's method; ``method`` the one actually used,
    which differs when the fallback was taken.
    """

    method: BaselineMethod
    requested: BaselineMethod
    values: Mapping[int, Exact]
    days: tuple[date, ...]

    @property
    def fell_back(self) -> bool:
        return self.method is not self.requested


def candidate_days(
    history: History,
    event_day: date,
    calendar: WorkingCalendar,
    *,
    event_days: Collection[date] = (),
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
) -> list[date]:
    """SPEC F8 candidate days for an event on ``event_day``, most recent first.

    From D−2 back to D−``max_lookback_days`` inclusive: days of the same type
    (working / non-working) as D, not in ``event_days``, with all 96 slots metered.
    """
    working = calendar.is_working_day(event_day)
    found = []
    for offset in range(FIRST_CANDIDATE_OFFSET, max_lookback_days + 1):
        day = event_day - timedelta(days=offset)
        if calendar.is_working_day(day) != working or day in event_days:
            continue
        metered = history.get(day)
        if metered is not None and all(slot in metered for slot in range(SLOTS_PER_DAY)):
            found.append(day)
    return found


def compute_baseline(
    history: History,
    event_day: date,
    window: SlotWindow,
    calendar: WorkingCalendar,
    *,
    method: BaselineMethod = DEFAULT_METHOD,
    fallback: BaselineMethod | None = None,
    event_days: Collection[date] = (),
    max_lookback_days: int = MAX_LOOKBACK_DAYS,
) -> BaselineResult:
    """The SPEC F8 baseline of ``window`` on ``event_day`` by ``method``.

    ``history`` holds day D itself too when PRE_EVENT is used (the slot before
    the window start, or slot 95 of D−1 for a window starting at midnight).
    Too few candidate days raise FailedPrecondition INSUFFICIENT_BASELINE_DAYS
    (metadata: method, found, needed) unless ``fallback`` is given, in which case
    the fallback method is used (and its own shortage raised).
    """
    try:
        return _compute(history, event_day, window, calendar, method, method, event_days, max_lookback_days)
    except FailedPrecondition as shortage:
        if fallback is None or shortage.reason != INSUFFICIENT_BASELINE_DAYS:
            raise
    return _compute(history, event_day, window, calendar, fallback, method, event_days, max_lookback_days)


_NEEDED = {
    BaselineMethod.TOP5_OF_10: 5,
    BaselineMethod.RECENT5: 5,
    BaselineMethod.TRIMMED: 5,
    BaselineMethod.PRE_EVENT: 1,
}
_TOP_POOL = 10


def _compute(
    history: History,
    event_day: date,
    window: SlotWindow,
    calendar: WorkingCalendar,
    method: BaselineMethod,
    requested: BaselineMethod,
    event_days: Collection[date],
    max_lookback_days: int,
) -> BaselineResult:
    if method is BaselineMethod.PRE_EVENT:
        return _pre_event(history, event_day, window, requested)
    needed = _NEEDED[method]
    candidates = candidate_days(
        history, event_day, calendar, event_days=event_days, max_lookback_days=max_lookback_days
    )
    if len(candidates) < needed:
        raise _shortage(method, len(candidates), needed)
    load = {day: _window_load(history[day], window) for day in candidates}
    if method is BaselineMethod.TOP5_OF_10:
        pool = candidates[:_TOP_POOL]
        # Highest window mean first; among equal means the more recent (smaller offset) wins.
        ranked = sorted(range(len(pool)), key=lambda i: (-load[pool[i]], i))
        chosen = [pool[i] for i in sorted(ranked[:needed])]
    elif method is BaselineMethod.RECENT5:
        chosen = candidates[:needed]
    else:
        chosen = _trim(candidates[:needed], load)
    values = {
        slot: sum((as_exact(history[day][slot]) for day in chosen), Fraction(0)) / len(chosen)
        for slot in window.slots
    }
    return BaselineResult(method=method, requested=requested, values=values, days=tuple(chosen))


def _trim(recent: Sequence[date], load: Mapping[date, Exact]) -> list[date]:
    """Drop the highest and then the lowest window mean of ``recent`` (most recent first).

    ``max``/``min`` return the first extreme they meet, i.e. the more recent one on a tie.
    """
    highest = max(recent, key=lambda day: load[day])
    rest = [day for day in recent if day != highest]
    lowest = min(rest, key=lambda day: load[day])
    return [day for day in rest if day != lowest]


def _window_load(metered: Mapping[int, Measured], window: SlotWindow) -> Exact:
    """The sum over the window: every candidate spans the same window, so sums rank like means."""
    return sum((as_exact(metered[slot]) for slot in window.slots), Fraction(0))


def _pre_event(
    history: History, event_day: date, window: SlotWindow, requested: BaselineMethod
) -> BaselineResult:
    if window.start > 0:
        day, slot = event_day, window.start - 1
    else:
        day, slot = event_day - timedelta(days=1), SLOTS_PER_DAY - 1
    metered = history.get(day, {})
    if slot not in metered:
        raise _shortage(BaselineMethod.PRE_EVENT, 0, _NEEDED[BaselineMethod.PRE_EVENT])
    level = as_exact(metered[slot])
    return BaselineResult(
        method=BaselineMethod.PRE_EVENT,
        requested=requested,
        values={s: level for s in window.slots},
        days=(day,),
    )


def _shortage(method: BaselineMethod, found: int, needed: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"baseline {method.value} needs {needed} qualifying day(s), found {found}",
        reason=INSUFFICIENT_BASELINE_DAYS,
        metadata={"method": method.value, "found": str(found), "needed": str(needed)},
    )


# ---------------------------------------------------------------- a scope's baseline over an event window


def history_start_day(window_start: datetime) -> date:
    """The first local day of metered history any baseline of a window starting at ``window_start`` may use."""
    return local_day(window_start) - timedelta(days=MAX_LOOKBACK_DAYS)


@dataclass(frozen=True)
class WindowBaseline:
    """A scope's baseline over an event window: exact watts per slot start, and how it was obtained.

    ``requested`` is the event's method, ``method`` the one used (the fallback's
    when it was taken, for the whole window); ``days`` the days averaged, most
    recent first.
    """

    method: BaselineMethod
    requested: BaselineMethod
    days: tuple[date, ...]
    values: Mapping[datetime, Exact]


def window_parts(slot_starts: Sequence[datetime]) -> list[tuple[date, SlotWindow, int]]:
    """An event window cut at local midnights: (local day, its slot window, position of its first slot)."""
    parts: list[tuple[date, SlotWindow, int]] = []
    for position, start in enumerate(slot_starts):
        day, slot = local_day(start), slot_index(start)
        if parts and parts[-1][0] == day:
            first_day, window, first = parts[-1]
            parts[-1] = (first_day, SlotWindow(window.start, slot + 1), first)
        else:
            parts.append((day, SlotWindow(slot, slot + 1), position))
    return parts


def window_baseline(
    history: History,
    slot_starts: Sequence[datetime],
    calendar: WorkingCalendar,
    *,
    method: BaselineMethod,
    fallback: BaselineMethod | None = None,
    event_days: Collection[date] = (),
) -> WindowBaseline:
    """The SPEC F8 baseline of an event window (its slot starts, in order) — the one rule settlement
    (F9/F10) and the execution monitor (F7) apply.

    A window that crosses local midnight is computed per local day (each part
    with its own D and candidate days), except PRE_EVENT, which holds the slot
    before the window's start flat over the whole window. Too few candidate
    days on any part raise FailedPrecondition INSUFFICIENT_BASELINE_DAYS unless
    ``fallback`` is given, in which case the fallback method is used for the
    whole window (and its own shortage raised).
    """
    try:
        return _window(history, slot_starts, calendar, method, method, event_days)
    except FailedPrecondition as shortage:
        if fallback is None or shortage.reason != INSUFFICIENT_BASELINE_DAYS:
            raise
    return _window(history, slot_starts, calendar, fallback, method, event_days)


def _window(
    history: History,
    starts: Sequence[datetime],
    calendar: WorkingCalendar,
    method: BaselineMethod,
    requested: BaselineMethod,
    event_days: Collection[date],
) -> WindowBaseline:
    parts = window_parts(starts)
    if method is BaselineMethod.PRE_EVENT:
        day, window, _ = parts[0]
        first = compute_baseline(history, day, window, calendar, method=method)
        level = first.values[window.start]
        return WindowBaseline(method, requested, first.days, {start: level for start in starts})
    values: dict[datetime, Exact] = {}
    days: set[date] = set()
    for day, window, position in parts:
        result = compute_baseline(history, day, window, calendar, method=method, event_days=event_days)
        days |= set(result.days)
        for slot in window.slots:
            values[starts[position + slot - window.start]] = result.values[slot]
    return WindowBaseline(method, requested, tuple(sorted(days, reverse=True)), values)
