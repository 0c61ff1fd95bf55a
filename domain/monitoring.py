"""Execution monitoring (运行监测与闭环纠偏, SPEC F7): per-minute figures, lag histories, revised curves.

Each minute of an executing event the platform compares, per aggregator and
per grid node, the instructed response T with the response achieved
R = B − A (LOAD_DECREASE) or A − B (LOAD_INCREASE), B the baseline and A the
metered power; deviation = (T − R) / T. Monitoring works in whole watts: the
exact F8 baseline is rounded half-up once, so the figures on the progress
stream add up (R = B − A exactly); evaluation (F9) keeps the exact baseline.

A response that cannot be measured (no fresh meter value, no baseline data)
counts as 0: the platform does not take an unverified response for granted,
so an aggregator that stops reporting is corrected like one that stops
delivering.

The lag rule itself (``is_lagging``) and the re-dispatch plan
(``redispatch``) are in ``domain.decomposition``; this module feeds them:
``recent_samples`` builds an aggregator's lag history (consecutive minutes
only, restarting after a minute that changed its instruction or alarmed it),
``node_samples`` apportions an aggregator's response over the nodes it holds
instructions at, and ``revise_curves`` turns a plan into the new instruction
curves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from domain.decomposition import MinuteSample, Participant, split_target
from domain.evaluation import Direction, response

MINUTE = timedelta(minutes=1)


def whole_watts(value: Fraction) -> int:
    """Round half-up (away from zero on .5) to whole watts."""
    sign = -1 if value < 0 else 1
    return sign * math.floor(abs(value) + Fraction(1, 2))


def minute_floor(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Figures:
    """One minute of one aggregator or node; ``deviation`` is None when nothing is instructed."""

    target_w: int
    actual_w: int
    baseline_w: int
    response_w: int
    deviation: Fraction | None
    unmeasured: bool


def figures(direction: Direction, target_w: int, actual_w: int | None, baseline_w: int | None) -> Figures:
    """T, A, B, R and the deviation of one minute; an unknown A or B makes R count as 0."""
    unmeasured = actual_w is None or baseline_w is None
    achieved = (
        0
        if actual_w is None or baseline_w is None
        else int(response(direction, Fraction(baseline_w), Fraction(actual_w)))
    )
    return Figures(
        target_w=target_w,
        actual_w=actual_w or 0,
        baseline_w=baseline_w or 0,
        response_w=achieved,
        deviation=Fraction(target_w - achieved, target_w) if target_w > 0 else None,
        unmeasured=unmeasured,
    )


@dataclass(frozen=True)
class PastMinute:
    """What the lag history needs of a stored minute of one aggregator."""

    target_w: int
    response_w: int
    node_targets_w: Mapping[str, int]
    lag_reset: bool


def recent_minutes(
    past: Mapping[datetime, PastMinute], minute: datetime, current: PastMinute, consecutive: int
) -> list[PastMinute]:
    """The last ``consecutive`` minutes ending with ``current`` (at ``minute``), oldest first.

    Walks back one minute at a time and stops at a missing minute (the
    monitor did not run: the minutes are no longer consecutive) or at a
    minute after which the lag count restarted (a re-dispatch revised the
    aggregator's instruction or a deviation alarm was raised).
    """
    found = [current]
    at = minute - MINUTE
    while len(found) < consecutive:
        earlier = past.get(at)
        if earlier is None or earlier.lag_reset:
            break
        found.append(earlier)
        at -= MINUTE
    return found[::-1]


def node_samples(minutes: Sequence[PastMinute], node: str) -> list[MinuteSample]:
    """An aggregator's lag history at one node: its target there and its response apportioned pro rata.

    An aggregator's response is measured over all its resources; when it
    holds instructions at several nodes of the event, each node is credited
    with the share of the response its target is of the aggregator's total
    (rounded toward zero). With one node the response is taken as measured.
    """
    samples = []
    for minute in minutes:
        at_node = minute.node_targets_w.get(node, 0)
        if at_node == minute.target_w:
            share = minute.response_w
        else:
            share = int(Fraction(minute.response_w * at_node, minute.target_w)) if minute.target_w else 0
        samples.append(MinuteSample(instructed_w=at_node, response_w=share))
    return samples


@dataclass(frozen=True)
class Curve:
    """An instruction's target: watts per step from ``start``."""

    start: datetime
    step_minutes: int
    values_w: tuple[int, ...]

    def step_start(self, index: int) -> datetime:
        return self.start + index * timedelta(minutes=self.step_minutes)

    def value_at(self, instant: datetime) -> int:
        """The value of the step containing ``instant``; 0 outside the curve."""
        if instant < self.start:
            return 0
        index = (instant - self.start) // timedelta(minutes=self.step_minutes)
        return self.values_w[index] if index < len(self.values_w) else 0


def revise_curves(
    curves: Mapping[str, Curve], deltas_w: Mapping[str, int], effective: datetime
) -> dict[str, tuple[int, ...]]:
    """The new values of every curve a re-dispatch changes (``deltas_w``: per aggregator, Σ = 0).

    From the step containing ``effective`` to the end, each giver (negative
    delta) sheds its delta, never below 0 in a step; what the givers shed at
    a step's start is shared by the takers in proportion to their deltas
    (largest remainder), so each step keeps its total when the curves share
    their steps. Steps that ended before ``effective`` are history and keep
    their values.
    """
    givers = {aid: -d for aid, d in deltas_w.items() if d < 0}
    takers = [Participant(aid, d, d) for aid, d in sorted(deltas_w.items()) if d > 0]

    def shed(aid: str, instant: datetime) -> int:
        return min(givers[aid], curves[aid].value_at(instant))

    revised: dict[str, tuple[int, ...]] = {}
    for aid in sorted(deltas_w):
        if deltas_w[aid] == 0:
            continue
        curve = curves[aid]
        values = list(curve.values_w)
        for index in range(len(values)):
            start = curve.step_start(index)
            if start + timedelta(minutes=curve.step_minutes) <= effective:
                continue
            at = max(start, effective)
            if aid in givers:
                values[index] -= shed(aid, at)
            else:
                moved = sum(shed(giver, at) for giver in givers)
                values[index] += split_target(moved, takers).shares_w[aid]
        revised[aid] = tuple(values)
    return revised


#: Alarm kinds (SPEC F9).
DEVIATION, REDISPATCH = "DEVIATION", "REDISPATCH"


@dataclass(frozen=True)
class Alarm:
    alarm_id: str
    kind: str
    event_id: str
    aggregator_id: str
    message: str
    raise_time: datetime
