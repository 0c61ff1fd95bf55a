"""The store side of settlement-grade metering (SPEC F2): fetch readings and reported aggregates,
hand them to ``domain.metering``; no arithmetic of its own.

``scope_means`` is the one read every consumer uses: baselines and evaluation
(15-minute slots, via ``store.telemetry.slot_mean_power``) and the per-minute
monitor (``minute_power``). Per station, a station aggregate reported for the
slot containing an interval replaces the sum of the station's chargers; per
aggregator, an aggregator-level aggregate replaces the whole (for an
aggregator's figures; a grid node sums stations, which may belong to several
aggregators).

A register that goes backwards (reset, rollover) is a ``meter_data_quality``
row with its reason, recorded when metering meets it in a write transaction
(evaluation, the monitor): found over all stored readings then, so it does not
depend on the order they arrived in, and off the ingest hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import metering
from domain.telemetry import slot_floor
from store import bulk, membership, registry
from store.registry import chargers
from store.tables import table_of
from store.telemetry_tables import IntervalAggregateRow, MeterDataQualityRow, MeterValueRow

meter_values = table_of(MeterValueRow)
interval_aggregates = table_of(IntervalAggregateRow)
data_quality = table_of(MeterDataQualityRow)
placement = membership.placement()
"""Each reading's charger's interval when it was taken (``membership.placed_at``): joined by every read."""
placed_station = membership.placed_station(placement, chargers.c.station_id)
"""Each reading's charger's station when it was taken (the row's own when it has no interval)."""

DEFAULT_HEARTBEAT_TIMEOUT = timedelta(seconds=120)
"""The server's default heartbeat timeout (setting ``heartbeat_timeout_seconds``): how long a power sample holds."""


def intervals(start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, datetime]]:
    out = []
    at = start
    while at < end:
        out.append((at, at + step))
        at += step
    return out


AGGREGATOR = "AGGREGATOR"
"""Source of a value an aggregator reported (``domain.metering.REGISTER`` / ``POWER`` for readings)."""

Sources = dict[str, dict[datetime, set[str]]]
"""Per aggregator and interval start, what its value was computed from."""

Coverage = dict[str, dict[datetime, Fraction]]
"""Per aggregator and interval start, the coverage of its value (``domain.metering.scope_coverage``)."""


def node_scope(node_id: str) -> Any:
    """The node ids of ``node_id`` and its descendants (a select), for ``membership.at_node``."""
    return sa.select(registry.subtree_cte(node_id).c.node_id)


def scope_means(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    station_scope: Any = None,
    node_id: str | None = None,
    charger_id: str | None = None,
    heartbeat_timeout: timedelta,
    aggregator_level: Sequence[str] = (),
    record_falls: bool = False,
    sources: Sources | None = None,
    coverage: Coverage | None = None,
) -> dict[str, dict[datetime, Fraction]]:
    """F2 mean power per aggregator and interval start, over the intervals of ``step`` in [start, end).

    ``station_scope`` selects (aggregator_id, station_id) pairs; ``node_id`` keeps the
    readings (and station aggregates) of stations that belonged to that node or one below it
    when they were taken (``membership.at_node``: deleting or moving a station later never
    rewrites a node's history); each reading counts for the station its charger was at when
    it was taken (``membership.placed_at``: moving a charger never moves its history); ``charger_id`` keeps one charger's readings (no station
    aggregate replaces them). The filters given combine. The aggregators in
    ``aggregator_level`` have their aggregator-level aggregates replace their sums (not a
    node's: such a figure cannot be placed at a node). Intervals without a value are absent.
    With ``record_falls`` (a write transaction), every register fall among the readings
    fetched is recorded in ``meter_data_quality``. ``sources``, when given, is filled with
    what each value came from (``AGGREGATOR``, ``domain.metering.REGISTER`` / ``POWER``);
    ``coverage``, when given, with each value's coverage (SPEC F2 slot covered by its data; see
    ``domain.metering``: the least among the parts of a sum, 1 for a reported aggregate).
    """
    if station_scope is None and node_id is None and charger_id is None:
        raise ValueError("give station_scope, node_id or charger_id")
    spans = intervals(start, end, step)
    fetch_from, fetch_to = metering.reading_window(start, end, heartbeat_timeout)
    # Per charger and the station it was at: a charger moved meanwhile is metered per station.
    per_charger: dict[tuple[str, str], list[metering.MeterSample]] = {}
    owner: dict[tuple[str, str], tuple[str, str, bool]] = {}
    in_scope: list[Any] = []
    if station_scope is not None:
        in_scope.append(sa.tuple_(chargers.c.aggregator_id, placed_station).in_(station_scope))
    if node_id is not None:
        in_scope.append(
            membership.at_node(
                node_scope(node_id),
                chargers.c.aggregator_id,
                placed_station,
                meter_values.c.sample_time,
            )
        )
    if charger_id is not None:
        in_scope.append(chargers.c.charger_id == charger_id)
    query = (
        _readings(in_scope, fetch_from, fetch_to)
        if len(spans) != 1
        else _bracketing_readings(in_scope, start, end, heartbeat_timeout)
    )
    for row in conn.execute(query):
        key = (row.charger_id, row.station_id)
        per_charger.setdefault(key, []).append(
            metering.MeterSample(row.sample_time, row.power_w, row.energy_register_wh, row.export_register_wh)
        )
        owner[key] = (row.aggregator_id, row.station_id, bool(row.bidirectional))
    per_station: dict[tuple[str, str], list[dict[datetime, Fraction]]] = {}
    station_coverage: dict[tuple[str, str], list[dict[datetime, Fraction]]] = {}
    station_sources: dict[tuple[str, str], dict[datetime, set[str]]] = {}
    falls: list[metering.DataQualityIssue] = []
    for key, samples in per_charger.items():
        cid = key[0]
        aggregator_id, station_id, bidirectional = owner[key]
        if record_falls:
            falls += metering.register_falls(cid, samples, bidirectional=bidirectional)
        metered = metering.charger_metered(
            samples, spans, bidirectional=bidirectional, heartbeat_timeout=heartbeat_timeout
        )
        per_station.setdefault((aggregator_id, station_id), []).append(
            {at: m.value for at, m in metered.items()}
        )
        if coverage is not None:
            station_coverage.setdefault((aggregator_id, station_id), []).append(
                {at: m.coverage for at, m in metered.items()}
            )
        found_sources = station_sources.setdefault((aggregator_id, station_id), {})
        for at, m in metered.items():
            found_sources.setdefault(at, set()).add(m.source)
    if falls:
        _record_falls(conn, falls)
    reported = _reported(
        conn,
        slot_floor(start),
        end,
        station_scope=station_scope,
        node_id=node_id,
        charger_id=charger_id,
        aggregator_level=aggregator_level,
    )
    by_aggregator: dict[str, list[dict[datetime, Fraction]]] = {a: [] for a, s in reported if not s}
    coverage_by_aggregator: dict[str, list[dict[datetime, Fraction]]] = {a: [] for a in by_aggregator}
    for key in per_station.keys() | {k for k in reported if k[1]}:
        station_reported = _per_interval(reported.get(key), spans)
        by_aggregator.setdefault(key[0], []).append(
            metering.scope_sum(per_station.get(key, []), station_reported)
        )
        if coverage is not None:
            coverage_by_aggregator.setdefault(key[0], []).append(
                metering.scope_coverage(station_coverage.get(key, []), station_reported)
            )
        if sources is not None:
            target = sources.setdefault(key[0], {})
            for at, found in station_sources.get(key, {}).items():
                if at not in station_reported:
                    target.setdefault(at, set()).update(found)
            for at in station_reported:
                target.setdefault(at, set()).add(AGGREGATOR)
    out = {}
    for aggregator_id, stations in by_aggregator.items():
        aggregator_reported = _per_interval(reported.get((aggregator_id, "")), spans)
        out[aggregator_id] = metering.scope_sum(stations, aggregator_reported)
        if coverage is not None:
            coverage[aggregator_id] = metering.scope_coverage(
                coverage_by_aggregator.get(aggregator_id, []), aggregator_reported
            )
        if sources is not None:
            for at in aggregator_reported:
                sources.setdefault(aggregator_id, {})[at] = {AGGREGATOR}
    return out


_READING_COLUMNS = (
    meter_values.c.charger_id,
    meter_values.c.sample_time,
    meter_values.c.power_w,
    meter_values.c.energy_register_wh,
    meter_values.c.export_register_wh,
    chargers.c.aggregator_id,
    placed_station.label("station_id"),
    chargers.c.bidirectional,
)


def _placed(query: Any) -> Any:
    """``query`` over meter_values joined to its charger and where that charger was at each reading."""
    return query.join(chargers, chargers.c.charger_id == meter_values.c.charger_id).outerjoin(
        placement, membership.placed_at(placement, meter_values.c.charger_id, meter_values.c.sample_time)
    )


def _readings(in_scope: Sequence[Any], fetch_from: datetime, fetch_to: datetime) -> Any:
    """Every reading of the scope in [fetch_from, fetch_to], with its charger's owner."""
    return _placed(sa.select(*_READING_COLUMNS)).where(
        *in_scope, meter_values.c.sample_time >= fetch_from, meter_values.c.sample_time <= fetch_to
    )


def _bracketing_readings(
    in_scope: Sequence[Any], start: datetime, end: datetime, heartbeat_timeout: timedelta
) -> Any:
    """The readings that bear on the ONE interval [start, end), and no others (the monitor's minute).

    ``domain.metering`` reads, for [s, e): the power samples held into it — taken in
    [s − timeout, e) —, and the register readings bracketing s and e — the last at or
    before s and the first at or after e within ``REGISTER_REACH``, and any between. So:
    the readings in [s − timeout, e], plus each charger's last register reading in
    [s − reach, s] and first in [e, e + reach]. The value is the same as from the whole
    ``reading_window`` (a test compares them), from a few readings per charger instead of
    half an hour's.
    """
    t = meter_values.c.sample_time
    has_register = sa.and_(
        meter_values.c.energy_register_wh.is_not(None),
        sa.or_(chargers.c.bidirectional == sa.false(), meter_values.c.export_register_wh.is_not(None)),
    )

    def edge(pick: Any, low: datetime, high: datetime) -> Any:
        return (
            _placed(sa.select(meter_values.c.charger_id, pick(t)))
            .where(*in_scope, has_register, t >= low, t <= high)
            # per station too: a charger moved meanwhile is metered per station it was at
            .group_by(meter_values.c.charger_id, placed_station)
            .correlate(None)
        )

    reach = metering.REGISTER_REACH
    keyed = sa.tuple_(meter_values.c.charger_id, t)
    joined = _placed(sa.select(*_READING_COLUMNS))
    return sa.union(
        joined.where(*in_scope, t >= start - heartbeat_timeout, t <= end),
        joined.where(keyed.in_(edge(sa.func.max, start - reach, start))),
        joined.where(keyed.in_(edge(sa.func.min, end, end + reach))),
    )


def _reported(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    station_scope: Any,
    node_id: str | None,
    charger_id: str | None,
    aggregator_level: Sequence[str],
) -> dict[tuple[str, str], dict[datetime, int]]:
    """Reported aggregates by (aggregator, station or "") and slot start."""
    c = interval_aggregates.c
    conditions: list[Any] = [c.station_id != ""]
    if station_scope is not None:
        conditions.append(sa.tuple_(c.aggregator_id, c.station_id).in_(station_scope))
    if node_id is not None:
        conditions.append(
            membership.at_node(node_scope(node_id), c.aggregator_id, c.station_id, c.slot_start)
        )
    if charger_id is not None:
        # One charger is metered from its readings only: a station's value is not the charger's.
        conditions.append(sa.false())
    scope: Any = sa.and_(*conditions)
    if aggregator_level:
        scope = sa.or_(scope, sa.and_(c.station_id == "", c.aggregator_id.in_(list(aggregator_level))))
    found: dict[tuple[str, str], dict[datetime, int]] = {}
    for row in conn.execute(
        sa.select(c.aggregator_id, c.station_id, c.slot_start, c.mean_power_w).where(
            scope, c.slot_start >= start, c.slot_start < end
        )
    ):
        found.setdefault((row.aggregator_id, row.station_id), {})[row.slot_start] = row.mean_power_w
    return found


def _per_interval(
    slots: dict[datetime, int] | None, spans: Sequence[tuple[datetime, datetime]]
) -> dict[datetime, Fraction]:
    """A slot's reported value for each interval inside the slot (the slot itself, or its minutes)."""
    if not slots:
        return {}
    return {s: Fraction(slots[slot_floor(s)]) for s, _ in spans if slot_floor(s) in slots}


def minute_power(
    conn: Connection,
    minute: datetime,
    heartbeat_timeout: timedelta,
    aggregator_ids: Sequence[str] | None = None,
    *,
    node_id: str | None = None,
    record_falls: bool = False,
) -> dict[str, Fraction]:
    """F2 mean power of the minute starting at ``minute`` of each of ``aggregator_ids`` (absent: no value).

    With ``node_id`` instead, of every aggregator at the node: only stations at that node or below count and
    aggregator-level aggregates do not apply (they cannot be placed at a node).
    """
    station_scope = None
    if node_id is None:
        station_scope = sa.select(registry.stations.c.aggregator_id, registry.stations.c.station_id).where(
            registry.stations.c.aggregator_id.in_(list(aggregator_ids or ()))
        )
    found = scope_means(
        conn,
        start=minute,
        end=minute + timedelta(minutes=1),
        step=timedelta(minutes=1),
        station_scope=station_scope,
        node_id=node_id,
        heartbeat_timeout=heartbeat_timeout,
        aggregator_level=() if node_id is not None else list(aggregator_ids or ()),
        record_falls=record_falls,
    )
    return {aggregator_id: values[minute] for aggregator_id, values in found.items() if minute in values}


def _record_falls(conn: Connection, issues: Sequence[metering.DataQualityIssue]) -> None:
    conn.execute(
        bulk.dialect_insert(conn, data_quality).on_conflict_do_nothing(),
        [
            {"charger_id": i.charger_id, "sample_time": i.at, "reason": i.reason, "detail": i.detail}
            for i in issues
        ],
    )


def data_quality_issues(conn: Connection, charger_id: str) -> list[metering.DataQualityIssue]:
    """The recorded issues of a charger, oldest first."""
    c = data_quality.c
    return [
        metering.DataQualityIssue(row.charger_id, row.sample_time, row.reason, row.detail)
        for row in conn.execute(
            sa.select(c.charger_id, c.sample_time, c.reason, c.detail)
            .where(c.charger_id == charger_id)
            .order_by(c.sample_time, c.reason)
        )
    ]
