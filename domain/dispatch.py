"""Decomposition of target curves (SPEC F6), step by step, on top of ``domain.decomposition``.

A target is a curve (watts per step). ``split_curve`` splits a node's curve
over aggregators, each step on its own with ``split_target``;
``session_schedules`` splits an aggregator's curve over its platform-managed
sessions with ``split_over_sessions``, keeping the sessions of each
transformer area within the area's headroom when load is increased.
Session capacities are the F3 snapshot at the time of the split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.decomposition import Participant, Splittable, split_over_sessions, split_target
from domain.evaluation import Direction


@dataclass(frozen=True)
class CurveSplit:
    """Per aggregator its share per step; ``shortfall_w`` per step is what nobody could take."""

    shares_w: dict[str, tuple[int, ...]]
    shortfall_w: tuple[int, ...]


def split_curve(
    target_w: Sequence[int],
    weights_w: Mapping[str, Sequence[int]],
    *,
    areas: Mapping[str, str] | None = None,
    area_limits_w: Mapping[str, int] | None = None,
) -> CurveSplit:
    """F6 (a) for every step: ``weights_w[aggregator][step]`` is both the weight and the cap.

    Weights are the cleared quantities of the step (market) or the available
    capacity at the time of the instruction (no market). ``areas`` names the
    transformer area of an aggregator whose ``area_limits_w`` applies.
    """
    area_of = areas or {}
    shares: dict[str, list[int]] = {aid: [] for aid in sorted(weights_w)}
    shortfall = []
    for step, target in enumerate(target_w):
        participants = [
            Participant(aid, weights_w[aid][step], weights_w[aid][step], area_of.get(aid)) for aid in shares
        ]
        split = split_target(target, participants, area_limits_w)
        for aid, share in split.shares_w.items():
            shares[aid].append(share)
        shortfall.append(split.shortfall_w)
    return CurveSplit({aid: tuple(values) for aid, values in shares.items()}, tuple(shortfall))


@dataclass(frozen=True, slots=True)
class ManagedSession:
    """A session on a platform-managed charger, its F3 capacity and its transformer area (if limited).

    The capacity is the exact ``SessionCapacity`` or its whole-watt view ``SplitCapacity`` (what
    ``store.capacity.managed_sessions`` gives a dispatch): the split is the same for both.
    """

    charger_id: str
    capacity: Splittable
    area_id: str | None = None


@dataclass(frozen=True)
class DeviceSchedule:
    """The setpoint (W) per step for one session's charger."""

    session_id: str
    charger_id: str
    setpoints_w: tuple[int, ...]


def session_schedules(
    share_w: Sequence[int],
    sessions: Sequence[ManagedSession],
    direction: Direction,
    *,
    area_headroom_w: Mapping[str, int] | None = None,
) -> tuple[tuple[DeviceSchedule, ...], tuple[int, ...]]:
    """F6 (b) for every step: setpoints most laxity first, never below the F3 floor.

    For LOAD_INCREASE the sessions of an area together take at most the
    area's headroom (limit − present load): within each area the headroom is
    first handed out most laxity first, then the share is split over the
    sessions so capped, which is what one greedy pass with per-area budgets
    gives. Returns the schedules (by session id) and the share not placed per
    step.
    """
    capacities = _within_area_headroom(sessions, direction, area_headroom_w or {})
    charger_of = {s.capacity.session_id: s.charger_id for s in sessions}
    per_session: dict[str, list[int]] = {c.session_id: [] for c in capacities}
    shortfall = []
    for share in share_w:
        split = split_over_sessions(share, capacities, direction)
        for setpoint in split.setpoints:
            per_session[setpoint.session_id].append(setpoint.setpoint_w)
        shortfall.append(split.shortfall_w)
    schedules = tuple(
        DeviceSchedule(sid, charger_of[sid], tuple(values)) for sid, values in sorted(per_session.items())
    )
    return schedules, tuple(shortfall)


def _within_area_headroom(
    sessions: Sequence[ManagedSession], direction: Direction, headroom_w: Mapping[str, int]
) -> list[Splittable]:
    if direction is not Direction.LOAD_INCREASE:
        return [s.capacity for s in sessions]
    room: dict[str, int] = {}
    for area, headroom in headroom_w.items():
        members = [s.capacity for s in sessions if s.area_id == area]
        if members:
            split = split_over_sessions(max(headroom, 0), members, Direction.LOAD_INCREASE)
            room.update({p.session_id: p.assigned_w for p in split.setpoints})
    return [
        s.capacity.with_increase_w(room[s.capacity.session_id])
        if s.capacity.session_id in room
        else s.capacity
        for s in sessions
    ]


@dataclass(frozen=True)
class Instruction:
    instruction_id: str
    version: int
    event_id: str
    aggregator_id: str
    grid_node: str
    direction: Direction
    target_start: datetime
    step_minutes: int
    target_w: tuple[int, ...]
    validity_start: datetime
    validity_end: datetime
    active: bool
    create_time: datetime
    cancel_reason: str
    cancel_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"aggregators/{self.aggregator_id}/instructions/{self.instruction_id}"
