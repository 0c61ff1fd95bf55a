"""Execution monitoring (SPEC F7): the store side of a monitored minute, and the progress read side.

The use case is ``application.monitoring.run_minute``; here: ``claim_minute``
(a row in ``monitoring_minutes``, INSERT … ON CONFLICT DO NOTHING: of several
processes, one computes and corrects it), ``measure_minute`` and
``record_minute``, in the use case's transaction:

* target per aggregator = Σ of its instructions of the event of the version in
  force at the minute's end and its step there (``domain.in_force``, the
  evaluation's rule for a slot); per node the same summed over the node's
  instructions;
* actual = the SPEC F2 mean power of the minute (``store.metering.minute_power``,
  the rules baselines and evaluation apply to slots), rounded to whole watts:
  per aggregator Σ over its chargers with a value, replaced by its reported
  15-minute aggregate of the slot containing the minute when there is one;
  per node the same over the stations at or below it;
* baseline = the event's F8 method over the metered history of the scope
  (``store.baselines``, the one implementation the evaluation uses too),
  falling back — when too few candidate days exist — to the program's
  fallback method or else PRE_EVENT (the slot before the window), the
  monitoring default because a real-time event often hits a new resource;
  computed once per event and scope at its first minute and kept in
  ``monitoring_baselines``; no data even for the fallback leaves the scope
  unmeasured;
* figures and deviations (``domain.monitoring``) and each aggregator's lag
  history ending with the minute; the alarms and re-dispatches they set off
  are the use case's, recorded with the minute by ``record_minute``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import monitoring as rules
from domain.baseline import INSUFFICIENT_BASELINE_DAYS, BaselineMethod
from domain.calendar import WorkingCalendar
from domain.errors import FailedPrecondition
from domain.events import SLOT, EventState
from domain.in_force import in_force_at, last_instant, target_at
from domain.monitoring import Alarm
from store import baselines as scope_baselines
from store import bulk, capacity, instructions, metering, programs
from store import events as event_store
from store.events import Event
from store.instructions import Instruction
from store.market_tables import EventInvitationRow, EventRow
from store.monitoring_tables import (
    MonitoringAggregatorMinuteRow,
    MonitoringAlarmRow,
    MonitoringBaselineRow,
    MonitoringMinuteRow,
    MonitoringNodeMinuteRow,
)
from store.tables import table_of

minutes = table_of(MonitoringMinuteRow)
aggregator_minutes = table_of(MonitoringAggregatorMinuteRow)
node_minutes = table_of(MonitoringNodeMinuteRow)
baselines = table_of(MonitoringBaselineRow)
alarms = table_of(MonitoringAlarmRow)
_events = table_of(EventRow)
_invitations = table_of(EventInvitationRow)

MINUTE = rules.MINUTE
MONITORED = (EventState.EXECUTING.value, EventState.COMPLETED.value)


@dataclass(frozen=True)
class ScopeFigures:
    """An aggregator's (``scope`` = its id) or a node's figures in one minute."""

    scope: str
    figures: rules.Figures


@dataclass(frozen=True)
class ProgressMinute:
    """One monitored minute of an event as the progress stream sends it."""

    minute_start: datetime
    event_state: EventState
    target_w: int
    actual_w: int
    baseline_w: int
    aggregators: list[ScopeFigures] = field(default_factory=list)
    nodes: list[ScopeFigures] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)


@dataclass(frozen=True)
class Deviation:
    """The program's F7 rule: deviation above ``threshold`` for ``consecutive`` minutes."""

    threshold: Fraction
    consecutive: int
    redispatch: bool = True
    """False: lagging aggregators are alarmed, their shortfall is not moved (the program's switch)."""


def due_event_ids(conn: Connection, minute: datetime) -> list[str]:
    """Events executing at ``minute`` (or completed right at its end) whose minute is not yet claimed."""
    claimed = sa.exists().where(minutes.c.event_id == _events.c.event_id, minutes.c.minute_start == minute)
    query = (
        sa.select(_events.c.event_id)
        .where(
            _events.c.state.in_(MONITORED),
            _events.c.window_start <= minute,
            _events.c.window_end > minute,
            ~claimed,
        )
        .order_by(_events.c.event_id)
    )
    return list(conn.execute(query).scalars())


def is_monitored(event: Event, minute: datetime) -> bool:
    """Whether ``minute`` of the event is monitored: it executes (or just completed) and the minute is in its window."""
    return event.state.value in MONITORED and event.window_start <= minute < event.window_end


def claim_minute(conn: Connection, event: Event, minute: datetime, now: datetime) -> bool:
    """Claim the (event, minute) row; False when another transaction (or process) claimed it first."""
    claimed = conn.execute(
        bulk.dialect_insert(conn, minutes)
        .values(
            event_id=event.event_id,
            minute_start=minute,
            event_state=event.state.value,
            target_w=0,
            actual_w=0,
            baseline_w=0,
            create_time=now,
        )
        .on_conflict_do_nothing()
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT.
        .returning(minutes.c.event_id)
    ).first()
    return claimed is not None


@dataclass(frozen=True)
class Measured:
    """A claimed minute's figures and what the monitor decides on: the instructions in force, each
    aggregator's target per node and lag history ending with this minute, the program's rule."""

    settings: Deviation
    in_force: list[Instruction]
    node_targets: dict[str, dict[str, int]]
    aggregators: list[ScopeFigures]
    nodes: list[ScopeFigures]
    recent: dict[str, list[rules.PastMinute]]


def measure_minute(
    conn: Connection, event: Event, minute: datetime, now: datetime, heartbeat_timeout: timedelta
) -> Measured:
    """Target, actual and baseline per aggregator and node in ``minute`` (see the module docstring);
    a scope's baseline is computed and kept at its first minute."""
    return _Minute(conn, event, minute, now, heartbeat_timeout).measure()


def invited_at_node(conn: Connection, event_id: str, node: str) -> set[str]:
    """The aggregators invited to the event at ``node``."""
    return set(
        conn.execute(
            sa.select(_invitations.c.aggregator_id).where(
                _invitations.c.event_id == event_id, _invitations.c.grid_node == node
            )
        ).scalars()
    )


def record_minute(
    conn: Connection,
    event: Event,
    minute: datetime,
    measured: Measured,
    raised: Sequence[Alarm],
    reset: set[str],
) -> ProgressMinute:
    """Store the claimed minute's figures, the alarms raised in it and which aggregators' lag restarts."""
    event_id = event.event_id
    aggregator_figures, node_figures = measured.aggregators, measured.nodes
    if aggregator_figures:
        conn.execute(
            sa.insert(aggregator_minutes),
            [
                {
                    **_figure_row(event_id, minute, f.figures),
                    "aggregator_id": f.scope,
                    "node_targets": json.dumps(measured.node_targets[f.scope], sort_keys=True),
                    "lag_reset": f.scope in reset,
                }
                for f in aggregator_figures
            ],
        )
    if node_figures:
        conn.execute(
            sa.insert(node_minutes),
            [{**_figure_row(event_id, minute, f.figures), "grid_node": f.scope} for f in node_figures],
        )
    if raised:
        conn.execute(
            sa.insert(alarms),
            [
                {
                    "alarm_id": a.alarm_id,
                    "event_id": event_id,
                    "minute_start": minute,
                    "kind": a.kind,
                    "aggregator_id": a.aggregator_id,
                    "message": a.message,
                    "raise_time": a.raise_time,
                }
                for a in raised
            ],
        )
    totals = ProgressMinute(
        minute_start=minute,
        event_state=event.state,
        target_w=sum(f.figures.target_w for f in aggregator_figures),
        actual_w=sum(f.figures.actual_w for f in aggregator_figures),
        baseline_w=sum(f.figures.baseline_w for f in aggregator_figures),
        aggregators=list(aggregator_figures),
        nodes=list(node_figures),
        alarms=list(raised),
    )
    conn.execute(
        sa.update(minutes)
        .where(minutes.c.event_id == event_id, minutes.c.minute_start == minute)
        .values(target_w=totals.target_w, actual_w=totals.actual_w, baseline_w=totals.baseline_w)
    )
    return totals


class _Minute:
    """The measurement of one claimed minute (a class only to share its inputs between the steps)."""

    def __init__(
        self, conn: Connection, event: Event, minute: datetime, now: datetime, heartbeat_timeout: timedelta
    ) -> None:
        self.conn = conn
        self.event = event
        self.minute = minute
        self.end = minute + MINUTE
        self.now = now
        self.timeout = heartbeat_timeout

    def measure(self) -> Measured:
        conn, event, minute = self.conn, self.event, self.minute
        settings, calendar, fallback = program_settings(conn, event.program_id)
        # The evaluation's rule (domain.in_force): the versions in force at the minute's last instant.
        last = last_instant(self.end)
        in_force = in_force_at(instructions.event_versions(conn, event.event_id), last)
        node_targets: dict[str, dict[str, int]] = {}
        for instruction in in_force:
            by_node = node_targets.setdefault(instruction.aggregator_id, {})
            value = target_at(instruction, last)
            by_node[instruction.grid_node] = by_node.get(instruction.grid_node, 0) + value
        holders = sorted(node_targets)
        actual = (
            metering.minute_power(conn, minute, self.timeout, holders, record_falls=True) if holders else {}
        )
        aggregator_figures = []
        for aid in holders:
            baseline = self._baseline(f"aggregators/{aid}", calendar, fallback)
            aggregator_figures.append(
                ScopeFigures(
                    aid,
                    rules.figures(
                        event.direction, sum(node_targets[aid].values()), _watts(actual.get(aid)), baseline
                    ),
                )
            )
        node_figures = []
        for node in sorted({*event.nodes, *(n for t in node_targets.values() for n in t if n)}):
            at_node = metering.minute_power(conn, minute, self.timeout, node_id=node)
            target = sum(t.get(node, 0) for t in node_targets.values())
            baseline = self._baseline(f"gridNodes/{node}", calendar, fallback)
            metered = _watts(sum(at_node.values(), Fraction(0))) if at_node else None
            node_figures.append(ScopeFigures(node, rules.figures(event.direction, target, metered, baseline)))
        recent = self._recent(aggregator_figures, node_targets, settings)
        return Measured(settings, in_force, node_targets, aggregator_figures, node_figures, recent)

    def _recent(
        self,
        figures: Sequence[ScopeFigures],
        node_targets: Mapping[str, Mapping[str, int]],
        settings: Deviation,
    ) -> dict[str, list[rules.PastMinute]]:
        """Each aggregator's lag history ending with this minute."""
        since = self.minute - (settings.consecutive - 1) * MINUTE
        past: dict[str, dict[datetime, rules.PastMinute]] = {}
        c = aggregator_minutes.c
        for row in self.conn.execute(
            sa.select(
                c.aggregator_id, c.minute_start, c.target_w, c.response_w, c.node_targets, c.lag_reset
            ).where(c.event_id == self.event.event_id, c.minute_start >= since, c.minute_start < self.minute)
        ):
            past.setdefault(row.aggregator_id, {})[row.minute_start] = rules.PastMinute(
                row.target_w, row.response_w, json.loads(row.node_targets), row.lag_reset
            )
        return {
            f.scope: rules.recent_minutes(
                past.get(f.scope, {}),
                self.minute,
                rules.PastMinute(f.figures.target_w, f.figures.response_w, node_targets[f.scope], False),
                settings.consecutive,
            )
            for f in figures
        }

    def _baseline(self, scope: str, calendar: WorkingCalendar, fallback: BaselineMethod | None) -> int | None:
        """The scope's baseline (whole W) in the slot of this minute; None when no data gave one."""
        event = self.event
        row = self.conn.execute(
            sa.select(baselines.c.slot_values).where(
                baselines.c.event_id == event.event_id, baselines.c.scope == scope
            )
        ).first()
        if row is None:
            method, values = _compute_baseline(self.conn, event, scope, calendar, fallback, self.timeout)
            self.conn.execute(
                sa.insert(baselines).values(
                    event_id=event.event_id,
                    scope=scope,
                    method=method.value if method else "",
                    requested_method=event.baseline_method.value,
                    slot_values=json.dumps(values),
                    create_time=self.now,
                )
            )
        else:
            values = json.loads(row.slot_values)
        if not values:
            return None
        value: int = values[(self.minute - event.window_start) // SLOT]
        return value


def _figure_row(event_id: str, minute: datetime, f: rules.Figures) -> dict[str, object]:
    return {
        "event_id": event_id,
        "minute_start": minute,
        "target_w": f.target_w,
        "actual_w": f.actual_w,
        "baseline_w": f.baseline_w,
        "response_w": f.response_w,
        "deviation": None if f.deviation is None else str(f.deviation),
        "unmeasured": f.unmeasured,
    }


def _watts(value: Fraction | None) -> int | None:
    return None if value is None else rules.whole_watts(value)


def curve(instruction: Instruction) -> rules.Curve:
    return rules.Curve(instruction.target_start, instruction.step_minutes, instruction.target_w)


def program_settings(
    conn: Connection, program_id: str
) -> tuple[Deviation, WorkingCalendar, BaselineMethod | None]:
    """The program's deviation rule, working calendar and baseline fallback (PRE_EVENT when it names none),
    from the evaluation's record (``store.programs``, the one reader)."""
    program = programs.get(conn, program_id)
    deviation = Deviation(
        Fraction(program.deviation_threshold), program.deviation_minutes, program.redispatch_enabled
    )
    return deviation, program.calendar, program.fallback_baseline_method or BaselineMethod.PRE_EVENT


def _compute_baseline(
    conn: Connection,
    event: Event,
    scope: str,
    calendar: WorkingCalendar,
    fallback: BaselineMethod | None,
    heartbeat_timeout: timedelta,
) -> tuple[BaselineMethod | None, list[int]]:
    """F8 per slot of the window (``store.baselines``, the evaluation's rule), rounded to whole watts;
    (None, []) when too few days exist even for the fallback."""
    aggregator_id, node_id = capacity.parse_scope(scope)
    try:
        found = scope_baselines.scope_baseline(
            conn,
            event,
            calendar,
            fallback,
            aggregator_id=aggregator_id,
            node_id=node_id,
            heartbeat_timeout=heartbeat_timeout,
        )
    except FailedPrecondition as shortage:
        if shortage.reason != INSUFFICIENT_BASELINE_DAYS:
            raise
        return None, []
    return found.method, [rules.whole_watts(found.values[at]) for at in event.slot_starts]


# ---------------------------------------------------------------- read side


def read_minutes(conn: Connection, event_id: str, after: datetime | None, limit: int) -> list[ProgressMinute]:
    """Up to ``limit`` monitored minutes of an event after ``after`` (None: from the first), in order."""
    query = (
        sa.select(minutes).where(minutes.c.event_id == event_id).order_by(minutes.c.minute_start).limit(limit)
    )
    if after is not None:
        query = query.where(minutes.c.minute_start > after)
    rows = conn.execute(query).all()
    if not rows:
        return []
    found = {
        row.minute_start: ProgressMinute(
            row.minute_start, EventState(row.event_state), row.target_w, row.actual_w, row.baseline_w
        )
        for row in rows
    }
    for table, key, into in (
        (aggregator_minutes, aggregator_minutes.c.aggregator_id, "aggregators"),
        (node_minutes, node_minutes.c.grid_node, "nodes"),
    ):
        c = table.c
        for row in conn.execute(
            sa.select(table)
            .where(
                c.event_id == event_id,
                c.minute_start >= rows[0].minute_start,
                c.minute_start <= rows[-1].minute_start,
            )
            .order_by(c.minute_start, key)
        ):
            if row.minute_start in found:
                getattr(found[row.minute_start], into).append(
                    ScopeFigures(row._mapping[key.name], _figures_of(row))
                )
    for row in conn.execute(
        sa.select(alarms)
        .where(
            alarms.c.event_id == event_id,
            alarms.c.minute_start >= rows[0].minute_start,
            alarms.c.minute_start <= rows[-1].minute_start,
        )
        .order_by(alarms.c.minute_start, alarms.c.kind, alarms.c.aggregator_id)
    ):
        if row.minute_start in found:
            found[row.minute_start].alarms.append(
                Alarm(row.alarm_id, row.kind, row.event_id, row.aggregator_id, row.message, row.raise_time)
            )
    return list(found.values())


def _figures_of(row: sa.Row[tuple[object, ...]]) -> rules.Figures:
    return rules.Figures(
        target_w=row.target_w,
        actual_w=row.actual_w,
        baseline_w=row.baseline_w,
        response_w=row.response_w,
        deviation=None if row.deviation is None else Fraction(row.deviation),
        unmeasured=row.unmeasured,
    )


def event_state(conn: Connection, event_id: str) -> tuple[EventState, datetime]:
    """The event's state now and its window end (NOT_FOUND EVENT_NOT_FOUND for an unknown event)."""
    event = event_store.get(conn, event_id)
    return event.state, event.window_end
