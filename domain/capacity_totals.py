"""F3 sums over many sessions in exact integer arithmetic, and node caps over a topology.

``domain.capacity.session_capacity`` is the reference (Fractions, ~30 µs a
session); a node-level query over 100,000 active sessions needs an order of
magnitude less. With SOC held in parts per billion and time in microseconds,
every F3 quantity is an integer multiple of 1/K W for K = 9·10^17
(10^9 for the SOC, 9·10^8 µs for Δt/4), so the same formulas run on Python
ints and give the same whole watts (tests/registry check the two agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import NamedTuple

from domain.capacity import SessionCapacity
from domain.telemetry import PPB

SCALE = 9 * 10**17
"""K: the common denominator of every F3 power, in 1/W."""
_SLOT_US = 900_000_000
_US_FACTOR = SCALE // PPB  # 9·10^8, turns a ppb·Wh product into K-scaled W (×4 for Δt)
_ENERGY = 4 * _US_FACTOR  # E/Δt in K-scaled W per ppb·Wh
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SessionInputs:
    """What F3 needs of one active session and its charger, as stored (SOC in ppb)."""

    group: str
    battery_wh: int
    soc_ppb: int
    target_soc_ppb: int
    v2g_floor_soc_ppb: int
    departure: datetime
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool
    rated_charge_w: int
    rated_discharge_w: int
    charger_bidirectional: bool
    meter_power_w: int | None
    meter_time: datetime | None


@dataclass(slots=True)
class Totals:
    """Σ of whole-watt decrease/increase per session, Σ P0 exactly (scaled by K), session count."""

    decrease_w: int = 0
    increase_w: int = 0
    p0_scaled: int = 0
    sessions: int = 0

    def add(self, other: Totals) -> None:
        self.decrease_w += other.decrease_w
        self.increase_w += other.increase_w
        self.p0_scaled += other.p0_scaled
        self.sessions += other.sessions

    @property
    def present_power_w(self) -> int:
        """Σ P0 truncated toward zero to whole watts."""
        q = abs(self.p0_scaled) // SCALE
        return q if self.p0_scaled >= 0 else -q


SessionRow = tuple[str, int, int, int, int, int, int | None, int | None]
"""One active session as the store's set-based query yields it, every time already an integer:
(group, battery_wh, target − soc in ppb, soc − v2g floor in ppb, departure in µs since the epoch,
Pc = min(session, charger) charge limit, Pd = min(session, charger) discharge limit or None when
session or charger is not bidirectional, the metered power or None when there is no reading taken
after the plug-in and within the heartbeat timeout)."""


def totals_by_group(
    sessions: Iterable[SessionInputs], now: datetime, heartbeat_timeout: timedelta
) -> dict[str, Totals]:
    """F3 per session (exactly as domain.capacity.session_capacity), summed per ``group``."""
    return totals_from_rows((session_row(s, now, heartbeat_timeout) for s in sessions), epoch_us(now))


def epoch_us(moment: datetime) -> int:
    """An aware datetime as whole microseconds since 1970-01-01 UTC (exact)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def session_row(s: SessionInputs, now: datetime, heartbeat_timeout: timedelta) -> SessionRow:
    """The integer row of a session: what the store's query computes in SQL."""
    fresh = (
        s.meter_power_w is not None and s.meter_time is not None and now - s.meter_time <= heartbeat_timeout
    )
    return (
        s.group,
        s.battery_wh,
        s.target_soc_ppb - s.soc_ppb,
        s.soc_ppb - s.v2g_floor_soc_ppb,
        epoch_us(s.departure),
        min(s.max_charge_w, s.rated_charge_w),
        min(s.max_discharge_w, s.rated_discharge_w) if s.bidirectional and s.charger_bidirectional else None,
        s.meter_power_w if fresh else None,
    )


def totals_from_rows(rows: Iterable[SessionRow], now_us: int) -> dict[str, Totals]:
    """F3 per session row (exactly as domain.capacity.session_capacity), summed per group.

    Integers only — no datetime, no Fraction, no object per session — so 100,000
    sessions take a fraction of a second: with K = 9·10^17, E/Δt = 4·(target − soc)·B
    is ``need_ppb·B·3.6·10^9`` K-scaled W, Pc·max(T − Δt, 0)/Δt is
    ``Pc·(T − Δt in µs)·10^9``.
    """
    k = SCALE
    horizon_us = now_us + _SLOT_US  # departure − now − Δt > 0  ⇔  departure > now + Δt
    sums: dict[str, list[int]] = {}
    for group, battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w in rows:
        pmin, pmax, p0, _ = _scaled(battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w, horizon_us)
        acc = sums.get(group)
        if acc is None:
            acc = sums[group] = [0, 0, 0, 0]
        acc[0] += (p0 - pmin) // k
        acc[1] += (pmax - p0) // k
        acc[2] += p0
        acc[3] += 1
    return {group: Totals(*acc) for group, acc in sums.items()}


def _scaled(
    battery: int,
    need_ppb: int,
    above_ppb: int,
    departure_us: int,
    pc: int,
    pd: int | None,
    meter_w: int | None,
    horizon_us: int,
) -> tuple[int, int, int, int]:
    """One session's F3 powers, K-scaled integers: (Pmin, Pmax, P0, discharge allowance) — the one
    place both ``totals_from_rows`` and ``session_capacities_from_rows`` compute them."""
    k = SCALE
    need = need_ppb * battery * _ENERGY
    if need > 0:
        pmax = pc * k
        if need < pmax:
            pmax = need
    else:
        pmax = 0
    remaining_us = departure_us - horizon_us
    pmin = need - pc * remaining_us * PPB if remaining_us > 0 else need
    if pmin > pmax:
        pmin = pmax
    allowance = 0
    if pd is not None and above_ppb > 0:
        allowance = above_ppb * battery * _ENERGY
        if pd * k < allowance:
            allowance = pd * k
    if pmin < -allowance:
        pmin = -allowance
    if meter_w is None:
        p0 = pmax
    else:
        p0 = meter_w * k
        if p0 > pmax:
            p0 = pmax
        if p0 < pmin:
            p0 = pmin
    return pmin, pmax, p0, allowance


class SplitCapacity(NamedTuple):
    """What splitting a share over sessions needs of one session's F3 (``domain.decomposition.Splittable``),
    in whole watts: the room each way, the laxity, ⌈P0⌉, ⌊Pmax⌋ and ⌈Pmin⌉ — the same values
    ``domain.capacity.SessionCapacity`` gives, without its exact powers.

    A dispatch splits over 10,000 sessions and more; the exact powers (four Fractions a session and
    a dataclass) cost more than the split itself and only their whole-watt bounds are used.
    """

    session_id: str
    decrease_w: int
    increase_w: int
    laxity_h: Fraction | None
    p0_ceil_w: int
    pmax_floor_w: int
    pmin_ceil_w: int

    def with_increase_w(self, increase_w: int) -> SplitCapacity:
        return self._replace(increase_w=increase_w)

    @classmethod
    def of(cls, capacity: SessionCapacity) -> SplitCapacity:
        """The split view of an exact SessionCapacity."""
        return cls(
            capacity.session_id,
            capacity.decrease_w,
            capacity.increase_w,
            capacity.laxity_h,
            capacity.p0_ceil_w,
            capacity.pmax_floor_w,
            capacity.pmin_ceil_w,
        )


def split_capacities_from_rows(
    rows: Iterable[tuple[str, int, int, int, int, int, int | None, int | None]], now_us: int
) -> list[SplitCapacity]:
    """``SplitCapacity`` of each row ``(session_id, *SessionRow[1:])``: the integer F3 of
    ``session_capacities_from_rows`` with its bounds as whole watts (⌈x/K⌉ = −(−x // K)), one Fraction
    a session (the laxity, for the order) instead of five."""
    k = SCALE
    horizon_us = now_us + _SLOT_US
    out = []
    for session_id, battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w in rows:
        pmin, pmax, p0, _ = _scaled(battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w, horizon_us)
        out.append(
            SplitCapacity(
                session_id,
                (p0 - pmin) // k,
                (pmax - p0) // k,
                _laxity(departure_us - now_us, need_ppb, battery, pc),
                -(-p0 // k),
                pmax // k,
                -(-pmin // k),
            )
        )
    return out


_HOUR_US = 3_600_000_000


def _laxity(t_us: int, need_ppb: int, battery: int, pc: int) -> Fraction | None:
    """T − max(E, 0)/Pc in hours, over the common denominator 3.6·10^18·Pc (None: E > 0 and Pc = 0)."""
    if need_ppb <= 0:
        return Fraction(t_us, _HOUR_US)
    if pc == 0:
        return None
    return Fraction(t_us * PPB * pc - need_ppb * battery * _HOUR_US, _HOUR_US * PPB * pc)


def session_capacities_from_rows(
    rows: Iterable[tuple[str, str, int, int, int, int, int, int | None, int | None]], now_us: int
) -> list[SessionCapacity]:
    """F3 of each session row ``(session_id, aggregator_id, *SessionRow[1:])``, as
    domain.capacity.session_capacity gives it, from integers only.

    The same integer formulas as ``totals_from_rows``; each exact power is a
    Fraction of the K-scaled integer, built once, so a dispatch over 10,000
    sessions builds five Fractions a session instead of running some twenty
    Fraction operations (tests/registry check the two agree field by field).
    Laxity T − max(E, 0)/Pc over the common denominator 3.6·10^18·Pc.
    """
    k = SCALE
    horizon_us = now_us + _SLOT_US
    out = []
    for session_id, aggregator_id, battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w in rows:
        pmin, pmax, p0, allowance = _scaled(
            battery, need_ppb, above_ppb, departure_us, pc, pd, meter_w, horizon_us
        )
        laxity = _laxity(departure_us - now_us, need_ppb, battery, pc)
        out.append(
            SessionCapacity(
                session_id=session_id,
                aggregator_id=aggregator_id,
                pmax=Fraction(pmax, k),
                pmin=Fraction(pmin, k),
                p0=Fraction(p0, k),
                discharge_allowance=Fraction(allowance, k),
                laxity_h=laxity,
                decrease_w=(p0 - pmin) // k,
                increase_w=(pmax - p0) // k,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class NodeLimits:
    """A grid node's loading limit (None = unlimited) and its measured non-EV load."""

    limit_w: int | None
    base_load_w: int


@dataclass(slots=True)
class NodeResult:
    decrease_w: int
    increase_w: int
    present_power_w: int
    sessions: int
    headroom_w: int | None


def capped_subtree(
    root: str,
    children: Mapping[str, Sequence[str]],
    direct: Mapping[str, Totals],
    limits: Mapping[str, NodeLimits],
) -> NodeResult:
    """F3 for ``root`` over its whole subtree, every node capping what passes through it.

    A node's increase capacity is the sum of its own sessions' and its
    children's (already capped) increase, capped by its headroom
    max(limit − present load, 0), present load = base_load_w + Σ P0 of the
    sessions in its subtree (exact, then truncated). Decrease is never capped.
    """
    order: list[str] = []
    stack = [root]
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue  # a cycle in bad topology data must not loop forever
        seen.add(node)
        order.append(node)
        stack.extend(children.get(node, ()))
    results: dict[str, tuple[int, int, int, int]] = {}
    headroom_root: int | None = None
    for node in reversed(order):
        own = direct.get(node, Totals())
        decrease, increase, p0, sessions = own.decrease_w, own.increase_w, own.p0_scaled, own.sessions
        for child in children.get(node, ()):
            if child in results:
                c = results[child]
                decrease, increase, p0, sessions = (
                    decrease + c[0],
                    increase + c[1],
                    p0 + c[2],
                    sessions + c[3],
                )
        node_limits = limits.get(node, NodeLimits(None, 0))
        headroom = None
        if node_limits.limit_w is not None:
            spare = node_limits.limit_w * SCALE - node_limits.base_load_w * SCALE - p0
            headroom = spare // SCALE if spare > 0 else 0
            increase = min(increase, headroom)
        if node == root:
            headroom_root = headroom
        results[node] = (decrease, increase, p0, sessions)
    decrease, increase, p0, sessions = results[root]
    present = Totals(p0_scaled=p0).present_power_w
    return NodeResult(
        decrease_w=decrease,
        increase_w=increase,
        present_power_w=present,
        sessions=sessions,
        headroom_w=headroom_root,
    )
