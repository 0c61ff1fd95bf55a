"""Instruction decomposition (指令分解, SPEC F6) and closed-loop re-dispatch (SPEC F7).

(a) ``split_target``: a node target over aggregators, proportional, capped,
    re-split, largest-remainder whole watts.
(b) ``split_over_sessions``: an aggregator's share over its sessions, most laxity first.
(c) ``is_lagging`` / ``redispatch``: move a persistent shortfall to others.

Exact arithmetic (``Fraction``) inside; whole watts out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from domain.errors import FieldViolation, InvalidArgument
from domain.evaluation import Direction


@dataclass(frozen=True)
class Participant:
    """An aggregator taking part in a split.

    ``weight_w``: what shares are proportional to (cleared capacity, or
    available capacity with no market). ``cap_w``: the most it may be given
    (its cleared/available capacity). ``area_id``: the transformer area its
    resources under the node sit in, if that area's limit applies.
    """

    aggregator_id: str
    weight_w: int
    cap_w: int
    area_id: str | None = None


@dataclass(frozen=True)
class Split:
    """Whole-watt shares per aggregator; ``shortfall_w`` = target − Σ shares."""

    shares_w: dict[str, int]
    shortfall_w: int


def split_target(
    target_w: int,
    participants: Sequence[Participant],
    area_limits_w: Mapping[str, int] | None = None,
) -> Split:
    """F6 (a): split a node-level target over aggregators.

    Shares are proportional to weight (share_i = λ·w_i with one ratio λ); an
    aggregator never gets more than its cap, the aggregators of a transformer
    area together never more than the area's limit. Whatever a capped
    aggregator or a full area cannot take is re-split over the rest the same
    way (water filling: a participant freezes at the λ where its own cap, or its
    area's limit, binds first). If caps and limits allow less than the target,
    everybody gets what it can and the difference is the shortfall. A zero
    weight takes nothing.

    Whole watts by largest remainder: each exact share is floored, the
    remaining watts go one each to the largest fractional parts (ties to the
    smaller aggregator id), skipping an aggregator whose area is full.
    """
    limits = dict(area_limits_w or {})
    _validate_split(target_w, participants, limits)
    exact = _water_fill(Fraction(target_w), participants, limits)
    shares = _largest_remainder(exact, participants, limits)
    return Split(shares_w=shares, shortfall_w=target_w - sum(shares.values()))


def _validate_split(target_w: int, participants: Sequence[Participant], limits: Mapping[str, int]) -> None:
    violations = []
    if target_w < 0:
        violations.append(FieldViolation("target_w", "must not be negative"))
    ids = [p.aggregator_id for p in participants]
    if len(set(ids)) != len(ids):
        violations.append(FieldViolation("participants", "aggregator ids must be unique"))
    violations += [
        FieldViolation(f"participants[{p.aggregator_id}]", "weight and cap must not be negative")
        for p in participants
        if p.weight_w < 0 or p.cap_w < 0
    ]
    violations += [
        FieldViolation(f"area_limits_w[{area}]", "must not be negative")
        for area, limit in limits.items()
        if limit < 0
    ]
    if violations:
        raise InvalidArgument("invalid split", reason="INVALID_SPLIT", violations=violations)


def _water_fill(
    target: Fraction, participants: Sequence[Participant], limits: Mapping[str, int]
) -> dict[str, Fraction]:
    """Exact proportional shares under caps and area limits (see ``split_target``)."""
    fixed: dict[str, Fraction] = {p.aggregator_id: Fraction(0) for p in participants if p.weight_w == 0}
    active = {p.aggregator_id: p for p in participants if p.weight_w > 0}
    while active:
        ratio = (target - sum(fixed.values())) / sum(p.weight_w for p in active.values())
        events = _binding_events(ratio, active, fixed, participants, limits)
        if not events:
            fixed.update({aid: ratio * p.weight_w for aid, p in active.items()})
            break
        first = min(at for at, _ in events)
        binding = {aid for at, members in events if at == first for aid in members}
        for aid in sorted(binding):
            fixed[aid] = first * active.pop(aid).weight_w
    return fixed


def _binding_events(
    ratio: Fraction,
    active: Mapping[str, Participant],
    fixed: Mapping[str, Fraction],
    participants: Sequence[Participant],
    limits: Mapping[str, int],
) -> list[tuple[Fraction, list[str]]]:
    """Caps and area limits that the shares at ``ratio`` would break, each with the ratio where it binds."""
    events = [
        (Fraction(p.cap_w, p.weight_w), [aid]) for aid, p in active.items() if ratio * p.weight_w > p.cap_w
    ]
    for area, limit in limits.items():
        members = [aid for aid, p in active.items() if p.area_id == area]
        if not members:
            continue
        frozen = sum(
            (fixed[p.aggregator_id] for p in participants if p.area_id == area and p.aggregator_id in fixed),
            Fraction(0),
        )
        weight = sum(active[aid].weight_w for aid in members)
        if frozen + ratio * weight > limit:
            events.append(((limit - frozen) / weight, members))
    return events


def _largest_remainder(
    exact: Mapping[str, Fraction], participants: Sequence[Participant], limits: Mapping[str, int]
) -> dict[str, int]:
    # Σ exact is whole (the target, or caps and area limits), and an area has room for at least the
    # ceiling of its members' fractional parts, so every left watt lands on a positive fractional part.
    shares = {aid: math.floor(value) for aid, value in exact.items()}
    left = sum(exact.values()) - sum(shares.values())
    area_of = {p.aggregator_id: p.area_id for p in participants}
    used = {area: sum(s for aid, s in shares.items() if area_of[aid] == area) for area in limits}
    for aid in sorted(exact, key=lambda a: (-(exact[a] - shares[a]), a)):
        if left <= 0:
            break
        area = area_of[aid]
        if area in used and used[area] >= limits[area]:
            continue
        shares[aid] += 1
        left -= 1
        if area in used:
            used[area] += 1
    return shares


class Splittable(Protocol):
    """What ``split_over_sessions`` reads of a session's F3: ``domain.capacity.SessionCapacity`` (exact)
    or ``domain.capacity_totals.SplitCapacity`` (its whole-watt view, what a dispatch builds)."""

    @property
    def session_id(self) -> str: ...

    @property
    def decrease_w(self) -> int: ...

    @property
    def increase_w(self) -> int: ...

    @property
    def laxity_h(self) -> Fraction | None: ...

    @property
    def p0_ceil_w(self) -> int: ...

    @property
    def pmax_floor_w(self) -> int: ...

    @property
    def pmin_ceil_w(self) -> int: ...

    def with_increase_w(self, increase_w: int) -> Splittable: ...


@dataclass(frozen=True)
class SessionSetpoint:
    """A session's setpoint (W) and the part of the aggregator's share it took."""

    session_id: str
    setpoint_w: int
    assigned_w: int


@dataclass(frozen=True)
class SessionSplit:
    """Setpoints for every session, by session id; ``shortfall_w`` = share not placed."""

    setpoints: tuple[SessionSetpoint, ...]
    shortfall_w: int


def split_over_sessions(share_w: int, sessions: Sequence[Splittable], direction: Direction) -> SessionSplit:
    """F6 (b): split an aggregator's share over its platform-managed sessions.

    Greedy, most laxity first (ties: smaller session id; unknown laxity last):
    each session takes up to its F3 capacity — decrease P0 − Pmin for
    LOAD_DECREASE, increase Pmax − P0 for LOAD_INCREASE (the whole-watt values)
    — until the share is placed. The exact setpoint is P0 − assigned
    (decrease) or P0 + assigned (increase), so it stays in [Pmin, Pmax]; it is
    sent as whole watts: rounded up, then down to ⌊Pmax⌋, but never below
    ⌈Pmin⌉ (the F3 floor wins when no whole watt lies in [Pmin, Pmax]).
    """
    if share_w < 0:
        raise InvalidArgument(
            "a share must not be negative", violations=[FieldViolation("share_w", "must not be negative")]
        )
    left = share_w
    assigned: dict[str, int] = {}
    by_id = sorted(sessions, key=_session_id)
    # Most laxity first, unknown laxity last, ties by session id: a stable sort by laxity, reversed,
    # over the sessions in id order (the same order as the key (None, −laxity, id), with no
    # Fraction negated per session).
    for session in sorted(by_id, key=_laxity_keys(by_id), reverse=True):
        room = session.decrease_w if direction is Direction.LOAD_DECREASE else session.increase_w
        assigned[session.session_id] = min(room, left)
        left -= assigned[session.session_id]
    sign = -1 if direction is Direction.LOAD_DECREASE else 1
    setpoints = tuple(
        SessionSetpoint(
            session_id=s.session_id,
            setpoint_w=_whole_setpoint(sign * assigned[s.session_id], s),
            assigned_w=assigned[s.session_id],
        )
        for s in by_id
    )
    return SessionSplit(setpoints=setpoints, shortfall_w=left)


def _session_id(session: Splittable) -> str:
    return session.session_id


def _laxity_key(session: Splittable) -> tuple[bool, Fraction | int]:
    laxity = session.laxity_h
    return (True, laxity) if laxity is not None else (False, 0)


# Beyond this a common denominator costs more than comparing the Fractions themselves.
_COMMON_DENOMINATOR_BITS = 1024


def _laxity_keys(sessions: Sequence[Splittable]) -> Callable[[Splittable], tuple[bool, Fraction | int]]:
    """The sort key of ``_laxity_key`` with each laxity as a whole multiple of the sessions' common
    denominator: the same order and the same ties (Fractions are kept in lowest terms), but an int
    comparison per step of the sort instead of a Fraction one (~1.5 µs each, 130,000 of them for
    10,000 sessions of different laxities). Fractions when the common denominator grows too large.
    """
    common = 1
    for denominator in {s.laxity_h.denominator for s in sessions if s.laxity_h is not None}:
        common = math.lcm(common, denominator)
        if common.bit_length() > _COMMON_DENOMINATOR_BITS:
            return _laxity_key

    def key(session: Splittable) -> tuple[bool, Fraction | int]:
        laxity = session.laxity_h
        if laxity is None:
            return (False, 0)
        return (True, laxity.numerator * (common // laxity.denominator))

    return key


def _whole_setpoint(change_w: int, session: Splittable) -> int:
    """The exact setpoint P0 + ``change_w`` as whole watts; ⌈P0 + n⌉ = ⌈P0⌉ + n for a whole n, so no
    Fraction is built per session."""
    return max(min(session.p0_ceil_w + change_w, session.pmax_floor_w), session.pmin_ceil_w)


@dataclass(frozen=True)
class MinuteSample:
    """One minute of an aggregator's execution: instructed W and delivered response W."""

    instructed_w: int
    response_w: int


def is_lagging(
    minutes: Sequence[MinuteSample], *, threshold: Fraction = Fraction(1, 10), consecutive: int = 2
) -> bool:
    """F7: (instructed − response)/instructed > threshold in each of the last ``consecutive`` minutes.

    ``minutes`` is oldest first. A minute with nothing instructed never counts
    as deviating; over-delivery is not a shortfall.
    """
    recent = minutes[-consecutive:]
    return len(recent) == consecutive and all(
        m.instructed_w > 0 and Fraction(m.instructed_w - m.response_w, m.instructed_w) > threshold
        for m in recent
    )


@dataclass(frozen=True)
class Redispatch:
    """A re-dispatch plan.

    ``shortfall_w``: per lagging aggregator, its latest minute's instructed −
    response (a negative response counts as 0: no more than the whole
    instruction moves). ``additions_w``: what each other aggregator takes on top.
    ``instructed_w``: every aggregator's revised instruction (Σ unchanged).
    ``unplaced_w``: the part of the shortfall nobody had room for; it stays
    with the lagging aggregators.
    """

    shortfall_w: dict[str, int]
    additions_w: dict[str, int]
    instructed_w: dict[str, int]
    unplaced_w: int


def redispatch(
    minutes: Mapping[str, Sequence[MinuteSample]],
    remaining_w: Mapping[str, int],
    *,
    threshold: Fraction = Fraction(1, 10),
    consecutive: int = 2,
) -> Redispatch:
    """F7 closed-loop correction for one node/event.

    Aggregators lagging per ``is_lagging`` give up their latest shortfall; the
    total is split with ``split_target`` over the other aggregators with
    capacity left (``remaining_w``: weight and cap both their remaining
    capacity). What cannot be placed is handed back to the lagging
    aggregators, split over them the same way with their shortfalls as
    weights and caps, so their instructions drop only by what others took.
    """
    current = {aid: samples[-1].instructed_w for aid, samples in minutes.items() if samples}
    shortfall = {
        aid: samples[-1].instructed_w - max(samples[-1].response_w, 0)
        for aid, samples in minutes.items()
        if is_lagging(samples, threshold=threshold, consecutive=consecutive)
    }
    takers = [
        Participant(aid, remaining, remaining)
        for aid, remaining in sorted(remaining_w.items())
        if aid not in shortfall and remaining > 0
    ]
    placed = split_target(sum(shortfall.values()), takers)
    givers = [Participant(aid, lost, lost) for aid, lost in sorted(shortfall.items())]
    handed_back = split_target(placed.shortfall_w, givers)
    instructed = dict(current)
    for aid, extra in placed.shares_w.items():
        instructed[aid] = instructed.get(aid, 0) + extra
    for aid, lost in shortfall.items():
        instructed[aid] -= lost - handed_back.shares_w[aid]
    return Redispatch(
        shortfall_w=shortfall,
        additions_w=placed.shares_w,
        instructed_w=instructed,
        unplaced_w=placed.shortfall_w,
    )
