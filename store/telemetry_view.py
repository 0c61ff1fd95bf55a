"""The monitoring view's read side (SPEC F2 运行监测): latest state, raw readings, slot means, corrections
(of readings and of uploaded 15-minute values).

Every function runs in one read transaction (``db.read``) over a domain
``Scope`` already confined to the caller's tenancy, and pages by keyset
(store.pagination) with the query bound into the token's collection, so a
token of one scope or range is refused by another. ``slot_series`` is the
one place the view computes slot means: it calls the settlement-grade
computation the baselines and evaluation use (``telemetry.slot_values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import NotFound
from domain.telemetry import SLOT, slot_floor
from domain.telemetry_view import Scope
from store import membership, pagination, registry, telemetry
from store.registry import Page, chargers, stations
from store.telemetry import CHARGER_STATUSES, aggregate_corrections, corrections_table, meter_values


@dataclass(frozen=True, slots=True)
class ChargerState:
    aggregator_id: str
    station_id: str
    charger_id: str
    grid_node_id: str
    power_w: int | None
    energy_register_wh: int | None
    soc_ppb: int | None
    status: str
    last_meter_time: datetime | None
    last_heartbeat_time: datetime | None
    online: bool


@dataclass(frozen=True, slots=True)
class StoredReading:
    charger_id: str
    sample_time: datetime
    power_w: int | None
    energy_register_wh: int | None
    export_register_wh: int | None
    soc_ppb: int | None
    status: int


@dataclass(frozen=True, slots=True)
class SlotMean:
    """A slot's mean power (W, exact), its source (``telemetry.*_SOURCE``) and its coverage (exact,
    0–1: the least covered fraction of the slot among the parts summed, see ``domain.metering``)."""

    slot_start: datetime
    mean_power_w: Fraction
    source: str
    coverage: Fraction


@dataclass(frozen=True, slots=True)
class Correction:
    aggregator_id: str
    station_id: str
    sequence: int
    source: str
    batch_id: str
    correct_time: datetime
    old: StoredReading
    new: StoredReading


@dataclass(frozen=True, slots=True)
class AggregateCorrection:
    """A correction of an uploaded 15-minute value of the aggregator (``station_id`` "") or a station."""

    aggregator_id: str
    station_id: str
    slot_start: datetime
    sequence: int
    source: str
    batch_id: str
    correct_time: datetime
    old_mean_power_w: int
    new_mean_power_w: int


_READING, _AGGREGATE = 0, 1
"""The order of the two kinds of correction at the same time (and their page-token key)."""


def _scoped(scope: Scope, at: Any, station: Any = chargers.c.station_id) -> list[Any]:
    """Conditions on ``chargers`` for the scope; a station scope on ``station`` (the charger's station
    now, or a placement's at ``at``), a node scope by membership at time ``at`` (None: the station's
    node now). A charger scope is the charger wherever it was."""
    where: list[Any] = []
    if scope.aggregator_id is not None:
        where.append(chargers.c.aggregator_id == scope.aggregator_id)
    if scope.station_id is not None and (at is None or scope.charger_id is None):
        where.append(station == scope.station_id)
    if scope.charger_id is not None:
        where.append(chargers.c.charger_id == scope.charger_id)
    if scope.node_id is not None:
        if at is None:
            where.append(
                sa.tuple_(chargers.c.aggregator_id, chargers.c.station_id).in_(
                    registry.stations_under(scope.node_id)
                )
            )
        else:
            nodes = sa.select(registry.subtree_cte(scope.node_id).c.node_id)
            where.append(membership.at_node(nodes, chargers.c.aggregator_id, station, at))
    return where


def check_charger(conn: Connection, scope: Scope, name: str) -> None:
    """NOT_FOUND unless the scope's charger is registered at its station (deleted ones keep their history)."""
    found = conn.execute(
        sa.select(chargers.c.charger_id).where(
            chargers.c.charger_id == scope.charger_id,
            chargers.c.aggregator_id == scope.aggregator_id,
            chargers.c.station_id == scope.station_id,
        )
    ).first()
    if found is None:
        raise NotFound(f"{name} not found", reason="CHARGER_NOT_FOUND", metadata={"charger": name})


def charger_states(
    conn: Connection, scope: Scope, now: datetime, timeout: timedelta, *, page_size: int, page_token: str
) -> Page[ChargerState]:
    """The live chargers of the scope (a node: the stations there now) with their latest reading, by id.

    The latest reading is the stored one with the latest sample time, whatever it carried (power,
    registers, SOC or status only) — not the charger's F3 present power, which only readings with
    power update. The status is the later of the last status message and the latest reading's status.
    """
    collection = f"chargerStates?{scope.key}"
    latest = meter_values.alias("latest")
    newest = meter_values.alias("newest")
    latest_time = (
        sa.select(sa.func.max(newest.c.sample_time))
        .where(newest.c.charger_id == chargers.c.charger_id)
        .scalar_subquery()
    )
    query = (
        sa.select(
            chargers.c.aggregator_id,
            chargers.c.station_id,
            chargers.c.charger_id,
            stations.c.grid_node_id,
            chargers.c.last_heartbeat_time,
            chargers.c.status,
            chargers.c.status_time,
            latest.c.sample_time,
            latest.c.power_w,
            latest.c.energy_register_wh,
            latest.c.soc_ppb,
            latest.c.status.label("reading_status"),
        )
        .select_from(chargers)
        .join(
            stations,
            sa.and_(
                stations.c.aggregator_id == chargers.c.aggregator_id,
                stations.c.station_id == chargers.c.station_id,
            ),
        )
        .outerjoin(
            latest,
            sa.and_(latest.c.charger_id == chargers.c.charger_id, latest.c.sample_time == latest_time),
        )
        .where(chargers.c.delete_time.is_(None), *_scoped(scope, None))
    )
    rows, token = pagination.keyset(
        conn,
        query,
        [pagination.Key(chargers.c.charger_id)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    items = [
        ChargerState(
            aggregator_id=row.aggregator_id,
            station_id=row.station_id,
            charger_id=row.charger_id,
            grid_node_id=row.grid_node_id,
            power_w=row.power_w,
            energy_register_wh=row.energy_register_wh,
            soc_ppb=row.soc_ppb,
            status=_latest_status(row),
            last_meter_time=row.sample_time,
            last_heartbeat_time=row.last_heartbeat_time,
            online=row.last_heartbeat_time is not None and now - row.last_heartbeat_time <= timeout,
        )
        for row in rows
    ]
    return Page(items, token)


def _latest_status(row: Any) -> str:
    """The later of the charger's last status message and its latest reading's status (when it sent one)."""
    reported = row.reading_status or 0
    if reported and (row.status_time is None or row.sample_time > row.status_time):
        return CHARGER_STATUSES[reported]
    return str(row.status)


def meter_readings(
    conn: Connection, scope: Scope, start: datetime, end: datetime, *, page_size: int, page_token: str
) -> Page[StoredReading]:
    """One charger's stored readings in [start, end), oldest first."""
    collection = f"meterReadings?{scope.key}&{start.isoformat()}&{end.isoformat()}"
    query = sa.select(meter_values).where(
        meter_values.c.charger_id == scope.charger_id,
        meter_values.c.sample_time >= start,
        meter_values.c.sample_time < end,
    )
    rows, token = pagination.keyset(
        conn,
        query,
        [pagination.Key(meter_values.c.sample_time, datetime.fromisoformat)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return Page([_reading(row, "") for row in rows], token)


def _reading(row: Any, prefix: str) -> StoredReading:
    return StoredReading(
        charger_id=row.charger_id,
        sample_time=row.sample_time,
        power_w=getattr(row, f"{prefix}power_w"),
        energy_register_wh=getattr(row, f"{prefix}energy_register_wh"),
        export_register_wh=getattr(row, f"{prefix}export_register_wh"),
        soc_ppb=getattr(row, f"{prefix}soc_ppb"),
        status=getattr(row, f"{prefix}status"),
    )


def slot_series(conn: Connection, scope: Scope, start: datetime, end: datetime) -> list[SlotMean]:
    """The slot means of the scope's slots starting in [start, end) on the slot grid (a start off the
    grid begins at the next slot: an unaligned range never shifts the slots); the one call into the
    slot-mean computation."""
    floor = slot_floor(start)
    start = floor if floor == start else floor + SLOT
    if start >= end:
        return []
    values = telemetry.slot_values(
        conn,
        start=start,
        end=end,
        aggregator_id=scope.aggregator_id,
        node_id=scope.node_id,
        station_id=scope.station_id,
        charger_id=scope.charger_id,
    )
    return [SlotMean(at, value.mean_power_w, value.source, value.coverage) for at, value in values.items()]


def slot_means(
    conn: Connection, scope: Scope, start: datetime, end: datetime, *, page_size: int, page_token: str
) -> Page[SlotMean]:
    """A page of ``slot_series``, oldest slot first (the range is bounded, so each page recomputes it)."""
    collection = f"slotMeans?{scope.key}&{start.isoformat()}&{end.isoformat()}"
    size = pagination.page_size(page_size)
    after = pagination.decode_keys(collection, page_token, datetime.fromisoformat)
    series = [s for s in slot_series(conn, scope, start, end) if after is None or s.slot_start > after[0]]
    items = series[:size]
    token = pagination.encode(collection, [items[-1].slot_start.isoformat()]) if len(series) > size else ""
    return Page(items, token)


def corrections(
    conn: Connection, scope: Scope, start: datetime, end: datetime, *, page_size: int, page_token: str
) -> Page[Correction | AggregateCorrection]:
    """Corrections of readings taken in [start, end) by the scope's chargers and of the 15-minute values
    uploaded for slots starting in it (the aggregator's own, a station's; a node: its stations' at the
    slot), by time, then readings before aggregates, then correction order."""
    collection = f"meterCorrections?{scope.key}&{start.isoformat()}&{end.isoformat()}"
    size = pagination.page_size(page_size)
    after = pagination.decode_keys(collection, page_token, datetime.fromisoformat, int, int)
    found: list[tuple[tuple[datetime, int, int], Correction | AggregateCorrection]] = [
        ((item.old.sample_time, _READING, item.sequence), item)
        for item in _reading_corrections(conn, scope, start, end, after, size + 1)
    ]
    found += [
        ((item.slot_start, _AGGREGATE, item.sequence), item)
        for item in _aggregate_corrections(conn, scope, start, end, after, size + 1)
    ]
    found.sort(key=lambda pair: pair[0])
    items = [item for _, item in found[:size]]
    token = ""
    if len(found) > size:
        at, kind, sequence = found[size - 1][0]
        token = pagination.encode(collection, [at.isoformat(), str(kind), str(sequence)])
    return Page(items, token)


def _after(time: Any, sequence: Any, kind: int, after: tuple[Any, ...] | None) -> list[Any]:
    """Keyset condition: the rows of ``kind`` after the key (time, kind, sequence) ``after``."""
    if after is None:
        return []
    at, after_kind, after_sequence = after
    if kind < after_kind:
        return [time > at]
    if kind > after_kind:
        return [time >= at]
    return [sa.or_(time > at, sa.and_(time == at, sequence > after_sequence))]


def _reading_corrections(
    conn: Connection, scope: Scope, start: datetime, end: datetime, after: Any, limit: int
) -> list[Correction]:
    c = corrections_table
    placed = membership.placement()  # the charger's station when the reading was taken
    query = (
        sa.select(c, chargers.c.aggregator_id, chargers.c.station_id)
        .join(chargers, chargers.c.charger_id == c.c.charger_id)
        .outerjoin(placed, membership.placed_at(placed, c.c.charger_id, c.c.sample_time))
        .where(
            c.c.sample_time >= start,
            c.c.sample_time < end,
            *_scoped(scope, c.c.sample_time, membership.placed_station(placed, chargers.c.station_id)),
            *_after(c.c.sample_time, c.c.id, _READING, after),
        )
        .order_by(c.c.sample_time, c.c.id)
        .limit(limit)
    )
    return [
        Correction(
            aggregator_id=row.aggregator_id,
            station_id=row.station_id,
            sequence=row.id,
            source=row.source,
            batch_id=row.batch_id,
            correct_time=row.correct_time,
            old=_reading(row, "old_"),
            new=_reading(row, "new_"),
        )
        for row in conn.execute(query)
    ]


def _aggregate_corrections(
    conn: Connection, scope: Scope, start: datetime, end: datetime, after: Any, limit: int
) -> list[AggregateCorrection]:
    if scope.charger_id is not None:
        return []  # a charger is metered from its own readings only
    a = aggregate_corrections
    where: list[Any] = [a.c.slot_start >= start, a.c.slot_start < end]
    if scope.aggregator_id is not None:
        where.append(a.c.aggregator_id == scope.aggregator_id)
    if scope.station_id is not None:
        where.append(a.c.station_id == scope.station_id)
    if scope.node_id is not None:
        # A node sums stations (the aggregator's own value is of no node), each where it was at the slot.
        nodes = sa.select(registry.subtree_cte(scope.node_id).c.node_id)
        where += [
            a.c.station_id != "",
            membership.at_node(nodes, a.c.aggregator_id, a.c.station_id, a.c.slot_start),
        ]
    query = (
        sa.select(a)
        .where(*where, *_after(a.c.slot_start, a.c.id, _AGGREGATE, after))
        .order_by(a.c.slot_start, a.c.id)
        .limit(limit)
    )
    return [
        AggregateCorrection(
            aggregator_id=row.aggregator_id,
            station_id=row.station_id,
            slot_start=row.slot_start,
            sequence=row.id,
            source=row.source,
            batch_id=row.batch_id,
            correct_time=row.correct_time,
            old_mean_power_w=row.old_mean_power_w,
            new_mean_power_w=row.new_mean_power_w,
        )
        for row in conn.execute(query)
    ]
