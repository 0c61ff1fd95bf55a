"""Settlement-grade mean power of an interval (SPEC F2): one implementation for baselines (F8),
evaluation (F9) and the per-minute monitor (F7).

Plain Python over one charger's readings; the store only fetches them. For an
interval [s, e) (a 15-minute slot, or a minute for the monitor):

1. **Energy register**, when it brackets both boundaries. E(t) is interpolated
   linearly between the last register reading at or before t and the first at
   or after t, each at most ``REGISTER_REACH`` (15 min) from t, both ends
   inclusive; a reading exactly at t is E(t). Mean power = (E(e) − E(s)) /
   (e − s). A bidirectional charger's register is net (import − export), so
   discharge gives a negative mean; its reading counts only when it carries
   both registers. A register that goes backwards between the readings used
   (a reset or rollover) is no energy: the interval falls back to power and
   the drop is reported as a ``DataQualityIssue``.
2. **Power samples**, time-weighted: each sample holds from its time until
   the next sample's, but for at most the heartbeat timeout (the hold is
   [t, min(next, t + timeout)), so a gap exactly as long as the timeout is
   still covered). The interval has a value when the held samples cover at
   least ``MIN_COVERAGE`` (90 %, inclusive) of it; the value is ∫P dt /
   covered seconds over the covered part.
3. Otherwise the charger has no value for the interval.

Every value is an exact ``Fraction`` of watts. A scope's (aggregator's,
station's, node's) value is the sum over its chargers that have one; none →
missing. A reported interval aggregate replaces the sum it stands for.

**Coverage** (reported with each value, an exact fraction 0–1): how much of
[s, e) the data behind the value spans. A register value spans the whole
interval (both boundaries are bracketed): 1. A power value: the seconds its
held samples cover / (e − s), so at least ``MIN_COVERAGE``. A reported
aggregate stands for the whole interval: 1. A sum (station, aggregator,
node): the least coverage among the parts it adds — every part covers at
least that much; members without a value are not parts and do not lower it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from itertools import pairwise

REGISTER_REACH = timedelta(minutes=15)
MIN_COVERAGE = Fraction(9, 10)
REGISTER_WENT_BACKWARDS = "REGISTER_WENT_BACKWARDS"

_US = timedelta(microseconds=1)
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One stored reading of a charger; ``None`` = the field was not sent."""

    at: datetime
    power_w: int | None = None
    import_wh: int | None = None
    export_wh: int | None = None


@dataclass(frozen=True, slots=True)
class DataQualityIssue:
    """A reading that cannot be metered as it stands (e.g. a register reset), with the reason."""

    charger_id: str
    at: datetime
    reason: str
    detail: str


def reading_window(start: datetime, end: datetime, heartbeat_timeout: timedelta) -> tuple[datetime, datetime]:
    """The readings [from, to] that can bear on intervals in [start, end): what the store must fetch."""
    return start - max(REGISTER_REACH, heartbeat_timeout), end + REGISTER_REACH


def net_register(sample: MeterSample, bidirectional: bool) -> int | None:
    """The register the F2 rules read: import, or import − export for a bidirectional charger."""
    if sample.import_wh is None:
        return None
    if bidirectional:
        return None if sample.export_wh is None else sample.import_wh - sample.export_wh
    return sample.import_wh - (sample.export_wh or 0)


@dataclass(frozen=True, slots=True)
class _Register:
    at: datetime
    net_wh: int
    import_wh: int
    export_wh: int | None


REGISTER = "REGISTER"
POWER = "POWER"
FULL = Fraction(1)
"""The coverage of a register value and of a reported aggregate: the whole interval."""


@dataclass(frozen=True, slots=True)
class Metered:
    """A charger's mean power over one interval (W, exact), what it came from (``REGISTER`` or
    ``POWER``) and its coverage (the covered fraction of the interval, exact)."""

    value: Fraction
    source: str
    coverage: Fraction


def charger_means(
    samples: Iterable[MeterSample],
    intervals: Sequence[tuple[datetime, datetime]],
    *,
    bidirectional: bool,
    heartbeat_timeout: timedelta,
) -> dict[datetime, Fraction]:
    """F2 mean power of one charger per interval start over each [s, e) of ``intervals``
    (sorted, not overlapping; readings in any order); intervals without a value are absent."""
    metered = charger_metered(
        samples, intervals, bidirectional=bidirectional, heartbeat_timeout=heartbeat_timeout
    )
    return {start: m.value for start, m in metered.items()}


def charger_metered(
    samples: Iterable[MeterSample],
    intervals: Sequence[tuple[datetime, datetime]],
    *,
    bidirectional: bool,
    heartbeat_timeout: timedelta,
) -> dict[datetime, Metered]:
    """``charger_means`` with what each value was metered from and its coverage."""
    ordered = sorted(samples, key=lambda s: s.at)
    if not ordered:
        return {}
    registers = _registers(ordered, bidirectional)
    powers = [(s.at, s.power_w) for s in ordered if s.power_w is not None]
    register_times = [r.at for r in registers]
    power_times = [t for t, _ in powers]
    means: dict[datetime, Metered] = {}
    # Only intervals near the readings can have a value (60 days of slots, a few hours of readings).
    near_from = ordered[0].at - REGISTER_REACH
    near_to = ordered[-1].at + max(REGISTER_REACH, heartbeat_timeout)
    first = bisect_right(intervals, near_from, key=lambda span: span[1])
    last = bisect_left(intervals, near_to, key=lambda span: span[0])
    for start, end in intervals[first:last]:
        value = _register_mean(registers, register_times, start, end)
        if value is not None:
            means[start] = Metered(value, REGISTER, FULL)
            continue
        held = _power_mean(powers, power_times, start, end, heartbeat_timeout)
        if held is not None:
            means[start] = Metered(held[0], POWER, held[1])
    return means


def register_falls(
    charger_id: str, samples: Iterable[MeterSample], *, bidirectional: bool
) -> list[DataQualityIssue]:
    """Every reading whose import or export register is below the charger's previous reading's."""
    registers = _registers(sorted(samples, key=lambda s: s.at), bidirectional)
    issues = []
    for before, after in pairwise(registers):
        fell = _fall(before, after)
        if fell is not None:
            issues.append(DataQualityIssue(charger_id, after.at, REGISTER_WENT_BACKWARDS, fell))
    return issues


def _registers(ordered: Iterable[MeterSample], bidirectional: bool) -> list[_Register]:
    return [
        _Register(s.at, net, s.import_wh, s.export_wh)
        for s in ordered
        if s.import_wh is not None and (net := net_register(s, bidirectional)) is not None
    ]


def _register_mean(
    registers: Sequence[_Register], times: Sequence[datetime], start: datetime, end: datetime
) -> Fraction | None:
    first = _bracket(times, start)
    last = _bracket(times, end)
    if first is None or last is None:
        return None
    # Each register only counts up: a fall (reset, rollover) between the reading before s and the
    # one after e is no energy, so the interval is metered from power (register_falls reports it).
    if any(_fall(registers[i], registers[i + 1]) is not None for i in range(first[0], last[1])):
        return None
    energy_wh = _interpolate(registers, last, end) - _interpolate(registers, first, start)
    return energy_wh * _US_PER_HOUR / ((end - start) // _US)


def _fall(before: _Register, after: _Register) -> str | None:
    since = before.at.isoformat()
    if after.import_wh < before.import_wh:
        return f"import register fell from {before.import_wh} Wh at {since} to {after.import_wh} Wh"
    if before.export_wh is not None and after.export_wh is not None and after.export_wh < before.export_wh:
        return f"export register fell from {before.export_wh} Wh at {since} to {after.export_wh} Wh"
    return None


def _bracket(times: Sequence[datetime], at: datetime) -> tuple[int, int] | None:
    """Indexes of the last reading at or before ``at`` and the first at or after it, both within reach."""
    after = bisect_left(times, at)
    if after == len(times) or times[after] - at > REGISTER_REACH:
        return None
    if times[after] == at:
        return after, after
    before = after - 1
    if before < 0 or at - times[before] > REGISTER_REACH:
        return None
    return before, after


def _interpolate(registers: Sequence[_Register], bracket: tuple[int, int], at: datetime) -> Fraction:
    r0, r1 = registers[bracket[0]], registers[bracket[1]]
    if r0 is r1:
        return Fraction(r0.net_wh)
    return r0.net_wh + Fraction((r1.net_wh - r0.net_wh) * ((at - r0.at) // _US), (r1.at - r0.at) // _US)


def _power_mean(
    powers: Sequence[tuple[datetime, int]],
    times: Sequence[datetime],
    start: datetime,
    end: datetime,
    timeout: timedelta,
) -> tuple[Fraction, Fraction] | None:
    """The time-weighted mean and the covered fraction of [start, end), when it covers enough."""
    # The last sample at or before the start, and every one inside the interval.
    i = max(bisect_right(times, start) - 1, 0)
    stop = bisect_left(times, end)
    covered = 0
    integral = 0
    for k in range(i, stop):
        at, power = powers[k]
        held = at + timeout
        if k + 1 < len(powers):
            held = min(held, powers[k + 1][0])
        overlap = (min(held, end) - max(at, start)) // _US
        if overlap > 0:
            covered += overlap
            integral += power * overlap
    coverage = Fraction(covered, (end - start) // _US)
    if covered == 0 or coverage < MIN_COVERAGE:
        return None
    return Fraction(integral, covered), coverage


def scope_sum(
    charger_values: Iterable[Mapping[datetime, Fraction]],
    replaced: Mapping[datetime, Fraction | int] | None = None,
) -> dict[datetime, Fraction]:
    """Σ per interval over the members that have a value; ``replaced`` (a reported aggregate) wins."""
    out: dict[datetime, Fraction] = {}
    for values in charger_values:
        for start, value in values.items():
            out[start] = out.get(start, Fraction(0)) + value
    for start, reported in (replaced or {}).items():
        out[start] = Fraction(reported)
    return out


def scope_coverage(
    charger_coverage: Iterable[Mapping[datetime, Fraction]],
    replaced: Iterable[datetime] = (),
) -> dict[datetime, Fraction]:
    """The coverage of ``scope_sum``'s values: per interval the least coverage among the members that
    have a value; an interval in ``replaced`` (a reported aggregate) is covered whole."""
    out: dict[datetime, Fraction] = {}
    for coverage in charger_coverage:
        for start, fraction in coverage.items():
            out[start] = min(out.get(start, fraction), fraction)
    for start in replaced:
        out[start] = FULL
    return out
