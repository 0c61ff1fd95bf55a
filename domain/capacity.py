"""Adjustable capacity (可调节能力, SPEC F3): per session, per aggregator, per grid node.

All arithmetic is exact (``fractions.Fraction``); only the published
quantities are whole watts. Time is always passed in (``now``); this module
never reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from domain.calendar import SLOT_HOURS, SLOTS_PER_DAY
from domain.errors import FieldViolation, InvalidArgument

Ratio = Decimal | Fraction | int
"""An exact fraction of battery energy (SOC). Convert wire floats with ``Decimal(str(x))``."""


@dataclass(frozen=True)
class Charger:
    """The charger a session is plugged into; its ratings also limit the session."""

    charger_id: str
    rated_charge_w: int
    rated_discharge_w: int
    bidirectional: bool


@dataclass(frozen=True)
class MeterValue:
    """The latest metered power of the session's charger (W, positive = charging)."""

    power_w: int
    at: datetime


@dataclass(frozen=True)
class EvSession:
    """One connected EV session with its charging need (SOC values are fractions of B)."""

    session_id: str
    aggregator_id: str
    charger: Charger
    battery_wh: int
    soc: Ratio
    target_soc: Ratio
    v2g_floor_soc: Ratio
    departure: datetime
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool
    meter: MeterValue | None = None

    def __post_init__(self) -> None:
        violations = [
            FieldViolation(name, "must be between 0 and 1")
            for name, value in (
                ("soc", self.soc),
                ("target_soc", self.target_soc),
                ("v2g_floor_soc", self.v2g_floor_soc),
            )
            if not 0 <= value <= 1
        ]
        if self.battery_wh <= 0:
            violations.append(FieldViolation("battery_wh", "must be positive"))
        violations += [
            FieldViolation(name, "must not be negative")
            for name, value in (
                ("max_charge_w", self.max_charge_w),
                ("max_discharge_w", self.max_discharge_w),
                ("charger.rated_charge_w", self.charger.rated_charge_w),
                ("charger.rated_discharge_w", self.charger.rated_discharge_w),
            )
            if value < 0
        ]
        if self.departure.tzinfo is None:
            violations.append(FieldViolation("departure", "must be timezone-aware"))
        if violations:
            raise InvalidArgument(f"invalid session {self.session_id}", violations=violations)


@dataclass(frozen=True)
class SessionCapacity:
    """F3 quantities of one session; powers exact in W, laxity in hours.

    ``laxity_h`` = T − max(E, 0)/Pc, or None when Pc = 0 and E > 0 (the target
    is unreachable; such a session has no capacity either way).
    """

    session_id: str
    aggregator_id: str
    pmax: Fraction
    pmin: Fraction
    p0: Fraction
    discharge_allowance: Fraction
    laxity_h: Fraction | None
    decrease_w: int
    increase_w: int

    @property
    def p0_ceil_w(self) -> int:
        """⌈P0⌉: the whole-watt setpoint for a change of zero, before the range is applied."""
        return math.ceil(self.p0)

    @property
    def pmax_floor_w(self) -> int:
        """⌊Pmax⌋: the highest whole-watt setpoint within the range."""
        return math.floor(self.pmax)

    @property
    def pmin_ceil_w(self) -> int:
        """⌈Pmin⌉: the lowest whole-watt setpoint within the range (the F3 floor)."""
        return math.ceil(self.pmin)

    def with_increase_w(self, increase_w: int) -> SessionCapacity:
        """The same session with its increase capacity capped (a transformer area's headroom)."""
        return replace(self, increase_w=increase_w)


def hours(delta: timedelta) -> Fraction:
    """A timedelta as an exact number of hours (microsecond resolution)."""
    return Fraction(delta // timedelta(microseconds=1), 3_600_000_000)


def _clamp(value: Fraction, low: Fraction, high: Fraction) -> Fraction:
    return max(low, min(value, high))


def session_capacity(session: EvSession, now: datetime, heartbeat_timeout: timedelta) -> SessionCapacity:
    """F3 for one session at ``now``.

    With B = battery_wh, E = (target_soc − soc)·B, T = hours from ``now`` to
    departure, Pc/Pd = the lower of the session's and the charger's limits:

    - Pmax = min(Pc, max(E, 0)/Δt)
    - D = min(Pd, max(soc − v2g_floor, 0)·B/Δt) if session and charger are
      bidirectional, else 0
    - Pmin = clamp((E − Pc·max(T − Δt, 0))/Δt, −D, Pmax)
    - P0 = the meter value if ``now − meter.at ≤ heartbeat_timeout``, else Pmax;
      clamped to [Pmin, Pmax]
    - decrease = P0 − Pmin, increase = Pmax − P0, each truncated toward zero.
    """
    battery = Fraction(session.battery_wh)
    need_wh = (Fraction(session.target_soc) - Fraction(session.soc)) * battery
    t_h = hours(session.departure - now)
    pc = Fraction(min(session.max_charge_w, session.charger.rated_charge_w))
    pmax = min(pc, max(need_wh, Fraction(0)) / SLOT_HOURS)
    allowance = _discharge_allowance(session, battery)
    pmin = _clamp((need_wh - pc * max(t_h - SLOT_HOURS, Fraction(0))) / SLOT_HOURS, -allowance, pmax)
    p0 = _clamp(_metered_power(session.meter, now, heartbeat_timeout, pmax), pmin, pmax)
    return SessionCapacity(
        session_id=session.session_id,
        aggregator_id=session.aggregator_id,
        pmax=pmax,
        pmin=pmin,
        p0=p0,
        discharge_allowance=allowance,
        laxity_h=_laxity(t_h, need_wh, pc),
        decrease_w=math.trunc(p0 - pmin),
        increase_w=math.trunc(pmax - p0),
    )


def _discharge_allowance(session: EvSession, battery: Fraction) -> Fraction:
    if not (session.bidirectional and session.charger.bidirectional):
        return Fraction(0)
    pd = Fraction(min(session.max_discharge_w, session.charger.rated_discharge_w))
    above_floor = max(Fraction(session.soc) - Fraction(session.v2g_floor_soc), Fraction(0))
    return min(pd, above_floor * battery / SLOT_HOURS)


def _metered_power(meter: MeterValue | None, now: datetime, timeout: timedelta, pmax: Fraction) -> Fraction:
    """The latest meter value within the heartbeat timeout, else the unmanaged power Pmax."""
    if meter is None or now - meter.at > timeout:
        return pmax
    return Fraction(meter.power_w)


def _laxity(t_h: Fraction, need_wh: Fraction, pc: Fraction) -> Fraction | None:
    if need_wh <= 0:
        return t_h
    if pc == 0:
        return None
    return t_h - need_wh / pc


@dataclass(frozen=True)
class CapacitySum:
    """Summed session capacities: whole watts per session, then summed (F3)."""

    decrease_w: int
    increase_w: int
    sessions: int


def sum_capacity(capacities: Iterable[SessionCapacity]) -> CapacitySum:
    """Σ of the per-session whole-watt decrease and increase capacities."""
    items = list(capacities)
    return CapacitySum(
        decrease_w=sum(c.decrease_w for c in items),
        increase_w=sum(c.increase_w for c in items),
        sessions=len(items),
    )


def capacity_by_aggregator(capacities: Iterable[SessionCapacity]) -> dict[str, CapacitySum]:
    """F3 sums per aggregator."""
    groups: dict[str, list[SessionCapacity]] = {}
    for capacity in capacities:
        groups.setdefault(capacity.aggregator_id, []).append(capacity)
    return {aggregator: sum_capacity(items) for aggregator, items in groups.items()}


@dataclass(frozen=True)
class NodeCapacity:
    """F3 sums for a grid node; ``increase_w`` is already capped by ``headroom_w``.

    ``headroom_w`` is None when the node has no limit.
    """

    decrease_w: int
    increase_w: int
    present_load_w: int
    headroom_w: int | None
    sessions: int


def node_capacity(
    capacities: Iterable[SessionCapacity], *, limit_w: int | None, base_load_w: int = 0
) -> NodeCapacity:
    """F3 sums for a node over all sessions connected at or below it.

    Present load = Σ P0 of those sessions + ``base_load_w`` (the measured
    non-EV load, 0 when unknown), exact. Headroom = max(limit − present load, 0)
    truncated to whole watts, so the capped increase never exceeds the limit.
    Decrease capacity is not capped. Nested nodes are each capped on their own
    sessions; the caller walks the topology.
    """
    items = list(capacities)
    summed = sum_capacity(items)
    load = sum((c.p0 for c in items), Fraction(base_load_w))
    headroom = None if limit_w is None else math.trunc(max(limit_w - load, Fraction(0)))
    increase = summed.increase_w if headroom is None else min(summed.increase_w, headroom)
    return NodeCapacity(
        decrease_w=summed.decrease_w,
        increase_w=increase,
        present_load_w=math.trunc(load),
        headroom_w=headroom,
        sessions=summed.sessions,
    )


@dataclass(frozen=True)
class SlotCapacity:
    """One slot of a 96-point capacity curve.

    ``up_w`` = load increase (上调, 填谷) capacity, ``down_w`` = load decrease
    (下调, 削峰) capacity; both whole watts, not negative.
    """

    up_w: int
    down_w: int


@dataclass(frozen=True)
class CapacitySample:
    """Historical capacity of one slot (0–95) of one Asia/Shanghai local day."""

    day: date
    slot: int
    up_w: int
    down_w: int


def day_ahead_forecast(
    day: date,
    history: Iterable[CapacitySample],
    *,
    weeks: int = 4,
    declaration: Sequence[SlotCapacity] | None = None,
) -> tuple[SlotCapacity, ...]:
    """The 96-point capacity forecast for ``day`` (F3).

    An aggregator's declaration, when present, is the forecast. Otherwise the
    reference days are the same weekday in each of the ``weeks`` previous
    weeks (day − 7, …, day − 7·weeks); each slot is the mean over the
    reference days that have a sample for it (the last sample wins for a
    repeated day and slot), truncated toward zero (never promise more than
    history showed); a slot without samples is 0.
    """
    if declaration is not None:
        if len(declaration) != SLOTS_PER_DAY:
            raise InvalidArgument(
                "a capacity declaration has 96 points",
                violations=[FieldViolation("declaration", f"has {len(declaration)} points, want 96")],
            )
        return tuple(declaration)
    reference_days = {day - timedelta(weeks=k) for k in range(1, weeks + 1)}
    per_slot: list[dict[date, CapacitySample]] = [{} for _ in range(SLOTS_PER_DAY)]
    for sample in history:
        if sample.day in reference_days and 0 <= sample.slot < SLOTS_PER_DAY:
            per_slot[sample.slot][sample.day] = sample
    return tuple(_mean_slot(list(samples.values())) for samples in per_slot)


def _mean_slot(samples: Sequence[CapacitySample]) -> SlotCapacity:
    if not samples:
        return SlotCapacity(up_w=0, down_w=0)
    count = len(samples)
    return SlotCapacity(
        up_w=math.trunc(Fraction(sum(s.up_w for s in samples), count)),
        down_w=math.trunc(Fraction(sum(s.down_w for s in samples), count)),
    )
