"""Adjustable capacity (SPEC F3) from the registry: real time, per session, declarations, forecasts.

The real-time path is one set-based query over ``capacity_sessions`` (the
active sessions' F3 inputs with their charger's limits, latest meter value
and station's grid node, kept by store.capacity_rows — no join, no N+1)
feeding domain.capacity_totals' integer F3. Per-session capacities come
from the same integer rows (``domain.capacity_totals.session_capacities_from_rows``),
and what a dispatch splits over (``managed_sessions``) as their whole-watt
view (``split_capacities_from_rows``), both tested against
domain.capacity.session_capacity, the reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import capacity as f3
from domain.calendar import local_day, slot_index, slot_start
from domain.capacity_totals import (
    Totals,
    capped_subtree,
    epoch_us,
    session_capacities_from_rows,
    split_capacities_from_rows,
    totals_from_rows,
)
from domain.dispatch import ManagedSession
from domain.errors import FieldViolation, InvalidArgument
from domain.telemetry import slot_floor
from store import bulk, registry
from store.registry import chargers
from store.registry_tables import CapacityDeclarationRow, CapacitySampleRow, CapacitySessionRow
from store.tables import table_of

declarations = table_of(CapacityDeclarationRow)
samples = table_of(CapacitySampleRow)
capacity_sessions = table_of(CapacitySessionRow)

NODE_PREFIX = "gridNodes/"
AGGREGATOR_PREFIX = "aggregators/"
FORECAST_WEEKS = 4

HISTORY = "HISTORY"
DECLARATION = "DECLARATION"


@dataclass(frozen=True, slots=True)
class RealtimeCapacity:
    """vgi.common.v1.AdjustableCapacity; ``headroom_w`` is the node's (None for aggregators/unlimited)."""

    scope: str
    compute_time: datetime
    decrease_w: int
    increase_w: int
    present_power_w: int
    active_sessions: int
    headroom_w: int | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    scope: str
    day_start_time: datetime
    decrease_w: tuple[int, ...]
    increase_w: tuple[int, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Declaration:
    day_start_time: datetime
    decrease_w: tuple[int, ...]
    increase_w: tuple[int, ...]
    decrease_price: str
    increase_price: str


_ACTIVE_ROWS = (
    "SELECT {group}, battery_wh, need_ppb, above_floor_ppb, departure_us, charge_w, discharge_w,"
    # P0 comes only from readings taken after the session's plug-in (SPEC F2/F3): the charger's
    # latest reading before it belongs to the previous car; and now − t ≤ timeout.
    " CASE WHEN meter_time >= plug_in_time AND meter_time >= {mark} THEN meter_power_w END"
    " FROM capacity_sessions"
)
"""domain.capacity_totals.SessionRow per active session, from the one narrow table store.capacity_rows
keeps (limits, energy terms and departure already integers); the meter decision that depends on now is
made here, its parameter now − heartbeat timeout."""


def _totals(
    conn: Connection,
    group: str,
    now: datetime,
    timeout: timedelta,
    where: str = "",
    params: Sequence[Any] = (),
) -> dict[str, Totals]:
    """F3 sums per ``group`` column of the rows matching ``where`` (``{mark}`` for the driver's marks).

    On the driver: every column is a plain int (or str/None), and 100,000 rows wrapped in
    SQLAlchemy rows cost a fifth of the call."""
    mark = bulk.placeholder(conn)
    sql = _ACTIVE_ROWS.format(group=group, mark=mark) + where.format(mark=mark)
    fresh_from = bulk.time_param(conn)(now - timeout)
    rows = conn.exec_driver_sql(sql, (fresh_from, *params)).fetchall()
    return totals_from_rows(rows, epoch_us(now))


def _at_nodes(
    conn: Connection, group: str, nodes: Sequence[str], now: datetime, timeout: timedelta
) -> dict[str, Totals]:
    """``_totals`` of the rows at any of ``nodes``, chunked."""
    out: dict[str, Totals] = {}
    for chunk in bulk.chunks(nodes):
        marks = ", ".join(["{mark}"] * len(chunk))
        for key, value in _totals(
            conn, group, now, timeout, f" WHERE grid_node_id IN ({marks})", chunk
        ).items():
            out.setdefault(key, Totals()).add(value)
    return out


def parse_scope(scope: str) -> tuple[str | None, str | None]:
    """(aggregator_id, node_id) of ``aggregators/{id}`` or ``gridNodes/{id}``."""
    if scope.startswith(AGGREGATOR_PREFIX):
        return scope.removeprefix(AGGREGATOR_PREFIX), None
    if scope.startswith(NODE_PREFIX):
        return None, scope.removeprefix(NODE_PREFIX)
    raise InvalidArgument(
        "unknown scope", violations=[FieldViolation("scope", "aggregators/{id} or gridNodes/{id}")]
    )


def realtime_capacity(
    conn: Connection, scope: str, now: datetime, heartbeat_timeout: timedelta
) -> RealtimeCapacity:
    """Real-time F3 capacity of ``aggregators/{id}`` (Σ of its sessions) or ``gridNodes/{id}`` (its
    subtree, each node's increase capped by its headroom). An unknown node is NOT_FOUND."""
    aggregator_id, node_id = parse_scope(scope)
    if node_id is not None:
        tree, limits = registry.children_map(conn, node_id)
        nodes = sorted(limits)
        direct = _at_nodes(conn, "grid_node_id", nodes, now, heartbeat_timeout)
        result = capped_subtree(node_id, tree, direct, limits)
        return RealtimeCapacity(
            scope=scope,
            compute_time=now,
            decrease_w=result.decrease_w,
            increase_w=result.increase_w,
            present_power_w=result.present_power_w,
            active_sessions=result.sessions,
            headroom_w=result.headroom_w,
        )
    totals = _totals(
        conn, "aggregator_id", now, heartbeat_timeout, " WHERE aggregator_id = {mark}", (aggregator_id,)
    ).get(str(aggregator_id), Totals())
    return RealtimeCapacity(
        scope=scope,
        compute_time=now,
        decrease_w=totals.decrease_w,
        increase_w=totals.increase_w,
        present_power_w=totals.present_power_w,
        active_sessions=totals.sessions,
    )


def aggregator_capacities(
    conn: Connection, node_id: str, now: datetime, heartbeat_timeout: timedelta
) -> dict[str, Totals]:
    """Uncapped F3 sums per aggregator of the sessions at ``node_id`` or below (the F6 'available capacity')."""
    return _at_nodes(conn, "aggregator_id", registry.subtree(conn, node_id), now, heartbeat_timeout)


def all_totals(conn: Connection, now: datetime, heartbeat_timeout: timedelta) -> dict[str, Totals]:
    """Uncapped F3 sums of every active session, per aggregator."""
    return _totals(conn, "aggregator_id", now, heartbeat_timeout)


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """An active session with what decomposition needs besides its F3 figures."""

    capacity: f3.SessionCapacity
    charger_id: str
    station_id: str
    grid_node_id: str
    platform_managed: bool


def session_capacities(
    conn: Connection,
    now: datetime,
    heartbeat_timeout: timedelta,
    *,
    aggregator_id: str | None = None,
    node_id: str | None = None,
) -> list[ActiveSession]:
    """Per-session F3 (domain.capacity.session_capacity) of the active sessions of an aggregator and/or
    at a grid node (incl. descendants), ordered by (aggregator, session)."""
    rows = _session_rows(conn, now, heartbeat_timeout, aggregator_id, node_id, managed_only=False)
    computed = session_capacities_from_rows(((r[0], r[8], *r[1:8]) for r in rows), epoch_us(now))
    return [
        ActiveSession(
            capacity=capacity,
            charger_id=row[9],
            station_id=row[10],
            grid_node_id=row[11],
            platform_managed=bool(row[12]),
        )
        for capacity, row in zip(computed, rows, strict=True)
    ]


def managed_sessions(
    conn: Connection,
    now: datetime,
    heartbeat_timeout: timedelta,
    *,
    aggregator_id: str | None = None,
    node_id: str | None = None,
) -> list[ManagedSession]:
    """The active sessions on platform-managed chargers that a dispatch splits over (as
    ``session_capacities``, the others and a SUSPENDED aggregator's left out in SQL), each with its F3 as whole watts
    (``SplitCapacity``: the values ``SessionCapacity`` gives, without its exact powers) and its grid
    node as the area, ordered by (aggregator, session)."""
    rows = _session_rows(conn, now, heartbeat_timeout, aggregator_id, node_id, managed_only=True)
    computed = split_capacities_from_rows((r[:8] for r in rows), epoch_us(now))
    return [ManagedSession(row[9], capacity, row[11]) for capacity, row in zip(computed, rows, strict=True)]


def _session_rows(
    conn: Connection,
    now: datetime,
    heartbeat_timeout: timedelta,
    aggregator_id: str | None,
    node_id: str | None,
    *,
    managed_only: bool,
) -> Sequence[Any]:
    """The driver rows of ``_SESSION_ROWS`` for an aggregator and/or a node's subtree.

    The rows the node sums read (store.capacity_rows: limits, energy terms and departure already
    integers), with each charger's station and management from its row. On the driver: a dispatch
    reads 10,000 rows, and SQLAlchemy's row and parameter processing of them costs more than the query.
    """
    where: list[str] = []
    params: list[Any] = [bulk.time_param(conn)(now - heartbeat_timeout)]
    head = ""
    if node_id is not None:
        head = _SUBTREE
        params.insert(0, node_id)
        where.append("cs.grid_node_id IN (SELECT node_id FROM subtree)")
    if aggregator_id is not None:
        where.append("cs.aggregator_id = ?")
        params.append(aggregator_id)
    if managed_only:
        where.append("ch.platform_managed = ?")
        params.append(True)
        # Dispatch: a SUSPENDED aggregator's sessions get no new setpoints (usually no row matches).
        where.append(
            "cs.aggregator_id NOT IN (SELECT aggregator_id FROM aggregators WHERE state = 'SUSPENDED')"
        )
    sql = head + _SESSION_ROWS + (" WHERE " + " AND ".join(where) if where else "") + _SESSION_ORDER
    return conn.exec_driver_sql(sql.replace("?", bulk.placeholder(conn)), tuple(params)).fetchall()


# The live node and its live descendants (``registry.subtree_cte`` as driver SQL); its parameter first.
_SUBTREE = (
    f"WITH RECURSIVE subtree(node_id) AS (SELECT node_id FROM {registry.grid_nodes.name}"
    " WHERE node_id = ? AND delete_time IS NULL"
    f" UNION SELECT child.node_id FROM {registry.grid_nodes.name} child"
    " JOIN subtree ON child.parent_id = subtree.node_id WHERE child.delete_time IS NULL) "
)
_SESSION_ROWS = (
    "SELECT cs.session_id, cs.battery_wh, cs.need_ppb, cs.above_floor_ppb, cs.departure_us, cs.charge_w,"
    # P0 only from readings taken after the plug-in and no older than the heartbeat timeout (the
    # parameter: now − timeout).
    " cs.discharge_w, CASE WHEN cs.meter_time >= cs.plug_in_time AND cs.meter_time >= ?"
    " THEN cs.meter_power_w END,"
    " cs.aggregator_id, cs.charger_id, ch.station_id, cs.grid_node_id, ch.platform_managed"
    f" FROM {capacity_sessions.name} cs JOIN {chargers.name} ch ON ch.charger_id = cs.charger_id"
)
_SESSION_ORDER = " ORDER BY cs.aggregator_id, cs.session_id"


# ---------------------------------------------------------------- declarations and forecasts


def _check_day_start(day_start: datetime, field: str) -> date:
    day = local_day(day_start)
    if slot_start(day, 0) != day_start:
        raise InvalidArgument(
            "not a local midnight",
            reason="NOT_LOCAL_MIDNIGHT",
            violations=[FieldViolation(field, "must be midnight Asia/Shanghai (16:00 UTC the day before)")],
        )
    return day


def declare(conn: Connection, aggregator_id: str, declaration: Declaration, now: datetime) -> Declaration:
    """Store (replace) the aggregator's declaration for a local day."""
    _check_day_start(declaration.day_start_time, "declaration.day_start_time")
    bulk.upsert(
        conn,
        declarations,
        [
            {
                "aggregator_id": aggregator_id,
                "day_start_time": declaration.day_start_time,
                "decrease_w": list(declaration.decrease_w),
                "increase_w": list(declaration.increase_w),
                "decrease_price": declaration.decrease_price,
                "increase_price": declaration.increase_price,
                "update_time": now,
            }
        ],
        ["aggregator_id", "day_start_time"],
        ["decrease_w", "increase_w", "decrease_price", "increase_price", "update_time"],
    )
    return declaration


def record_sample(conn: Connection, capacity: RealtimeCapacity) -> None:
    """Remember a real-time figure as its slot's history (the last one in a slot wins)."""
    bulk.upsert(
        conn,
        samples,
        [
            {
                "scope": capacity.scope,
                "slot_start": slot_floor(capacity.compute_time),
                "decrease_w": capacity.decrease_w,
                "increase_w": capacity.increase_w,
            }
        ],
        ["scope", "slot_start"],
        ["decrease_w", "increase_w"],
    )


def forecast(conn: Connection, scope: str, day_start: datetime) -> Forecast:
    """Day-ahead 96 points: an aggregator's declaration when present, else the mean of the same
    weekday in the previous FORECAST_WEEKS weeks of recorded samples (domain.capacity.day_ahead_forecast)."""
    day = _check_day_start(day_start, "forecast_day_start_time")
    aggregator_id, _ = parse_scope(scope)
    declared = None
    if aggregator_id is not None:
        row = conn.execute(
            sa.select(declarations.c.decrease_w, declarations.c.increase_w).where(
                declarations.c.aggregator_id == aggregator_id, declarations.c.day_start_time == day_start
            )
        ).first()
        if row is not None:
            declared = [
                f3.SlotCapacity(up_w=up, down_w=down)
                for up, down in zip(row.increase_w, row.decrease_w, strict=True)
            ]
    history: list[f3.CapacitySample] = []
    if declared is None:
        first = slot_start(day - timedelta(weeks=FORECAST_WEEKS), 0)
        for sample in conn.execute(
            sa.select(samples.c.slot_start, samples.c.decrease_w, samples.c.increase_w).where(
                samples.c.scope == scope, samples.c.slot_start >= first, samples.c.slot_start < day_start
            )
        ):
            history.append(
                f3.CapacitySample(
                    day=local_day(sample.slot_start),
                    slot=slot_index(sample.slot_start),
                    up_w=sample.increase_w,
                    down_w=sample.decrease_w,
                )
            )
    points = f3.day_ahead_forecast(day, history, weeks=FORECAST_WEEKS, declaration=declared)
    return Forecast(
        scope=scope,
        day_start_time=day_start,
        decrease_w=tuple(p.down_w for p in points),
        increase_w=tuple(p.up_w for p in points),
        source=HISTORY if declared is None else DECLARATION,
    )


def declarations_for(
    conn: Connection, day_start: datetime, aggregator_ids: Sequence[str]
) -> dict[str, Declaration]:
    """The declarations of a local day for the given aggregators."""
    out = {}
    for row in conn.execute(
        sa.select(declarations).where(
            declarations.c.day_start_time == day_start, declarations.c.aggregator_id.in_(list(aggregator_ids))
        )
    ):
        out[row.aggregator_id] = Declaration(
            day_start_time=row.day_start_time,
            decrease_w=tuple(row.decrease_w),
            increase_w=tuple(row.increase_w),
            decrease_price=row.decrease_price,
            increase_price=row.increase_price,
        )
    return out
