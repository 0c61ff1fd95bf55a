"""Telemetry ingestion and the read side built on it (SPEC F2).

Write side, each function running in the caller's transaction (``db.write``):
``record_heartbeat``, ``record_status``, ``ingest_meter_values`` /
``ingest_batch`` (idempotent by batch id), ``ingest_aggregates`` via
``ingest_batch``, ``start_session``, ``stop_session``.

Exactly once: a batch id already committed by the same source stores
nothing (``duplicate``); on top of that the time series is keyed by
(charger, sample time) and inserted with ON CONFLICT DO NOTHING, so even a
reading re-sent inside another batch is stored once. The charger row keeps
the latest reading (and counts it as a sign of life) so capacity and
statistics never search the time series.

Read side (``db.read``): SPEC F2 15-minute mean power per aggregator or grid
node per slot (the input of baselines and evaluation); the monitor's
per-minute figure is ``store.metering.minute_power``, the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import metering as domain_metering
from domain.errors import FieldViolation, InvalidArgument, NotFound
from domain.telemetry import (
    FOREIGN_CHARGER,
    SLOT,
    Aggregate,
    Reading,
    check_chargers,
    check_not_future,
    check_slot_aligned,
    to_ppb,
)
from store import metering, registry
from store.registry import chargers, chunks
from store.telemetry_tables import IntervalAggregateRow, MeterValueRow, TelemetryBatchRow

meter_values = MeterValueRow.__table__  # type: ignore[attr-defined]
interval_aggregates = IntervalAggregateRow.__table__  # type: ignore[attr-defined]
batches = TelemetryBatchRow.__table__  # type: ignore[attr-defined]

DEFAULT_MAX_SKEW = timedelta(seconds=300)

CHARGER_STATUSES = (
    "UNSPECIFIED",
    "AVAILABLE",
    "OCCUPIED",
    "CHARGING",
    "DISCHARGING",
    "FAULTED",
    "UNAVAILABLE",
)
"""vgi.common.v1.ChargerStatus names by number (the store does not import generated code)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    stored_points: int
    duplicate: bool


def _newer(column: Any, at: Any) -> Any:
    return sa.or_(column.is_(None), column < at)


def record_heartbeat(conn: Connection, charger_id: str, at: datetime) -> None:
    """The charger is alive at ``at`` (pass the server's receive time: device clocks drift)."""
    conn.execute(
        sa.update(chargers)
        .where(chargers.c.charger_id == charger_id, _newer(chargers.c.last_heartbeat_time, at))
        .values(last_heartbeat_time=at)
    )


def record_status(conn: Connection, charger_id: str, status: str, at: datetime) -> None:
    """Set the charger's status (a CHARGER_STATUSES name) unless a later status is already recorded."""
    if status not in CHARGER_STATUSES:
        raise InvalidArgument(
            f"unknown charger status {status}", violations=[FieldViolation("status", "not a ChargerStatus")]
        )
    conn.execute(
        sa.update(chargers)
        .where(chargers.c.charger_id == charger_id, _newer(chargers.c.status_time, at))
        .values(status=status, status_time=at)
    )


def ingest_meter_values(
    conn: Connection,
    charger_id: str | None,
    values: Sequence[Reading],
    batch_id: str,
    now: datetime,
    *,
    aggregator_id: str | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> int:
    """Store a batch of readings once; returns the number stored (0 when the batch id was seen before).

    ``charger_id`` set: a device's batch, every value must be of that charger.
    ``charger_id`` None: an aggregator's batch (``aggregator_id`` required),
    every value must be of one of its live chargers. Timestamps later than
    ``now + max_skew`` are rejected (INVALID_ARGUMENT, FUTURE_TIMESTAMP).
    """
    return ingest_batch(
        conn,
        charger_id=charger_id,
        aggregator_id=aggregator_id,
        batch_id=batch_id,
        readings=values,
        aggregates=(),
        now=now,
        max_skew=max_skew,
    ).stored_points


def ingest_batch(
    conn: Connection,
    *,
    charger_id: str | None,
    aggregator_id: str | None,
    batch_id: str,
    readings: Sequence[Reading],
    aggregates: Sequence[Aggregate],
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    field: str = "values",
    aggregates_field: str = "aggregates",
) -> BatchResult:
    """Readings and interval aggregates of one batch, stored once per (source, batch id)."""
    if charger_id is not None:
        owner = registry.charger_owner(conn, charger_id)
        if owner is None:
            raise NotFound(
                f"charger {charger_id} is not registered",
                reason="CHARGER_NOT_FOUND",
                metadata={"charger_id": charger_id},
            )
        source, allowed = f"device/{charger_id}", {charger_id}
    elif aggregator_id is not None:
        source = f"aggregator/{aggregator_id}"
        allowed = _live_chargers(conn, aggregator_id, sorted({r.charger_id for r in readings}))
    else:
        raise ValueError("a batch comes from a charger or an aggregator")
    seen = conn.execute(
        sa.select(batches.c.stored_points).where(batches.c.source == source, batches.c.batch_id == batch_id)
    ).first()
    if seen is not None:
        return BatchResult(stored_points=0, duplicate=True)
    check_chargers(readings, allowed, field)
    check_not_future(
        [(f"{field}[{i}].sample_time", r.sample_time) for i, r in enumerate(readings)]
        + [(f"{aggregates_field}[{i}].slot_start_time", a.slot_start) for i, a in enumerate(aggregates)],
        now,
        max_skew,
    )
    if aggregates:
        _check_aggregate_owner(conn, charger_id, aggregator_id, aggregates, aggregates_field)
    stored = _store_readings(conn, readings) + _store_aggregates(conn, aggregates, now)
    conn.execute(
        registry.dialect_insert(conn, batches)
        .values(source=source, batch_id=batch_id, stored_points=stored, create_time=now)
        # A concurrent twin of this batch committed first: its rows and ours
        # met at the time-series key, so nothing is stored twice either way.
        .on_conflict_do_nothing()
    )
    return BatchResult(stored_points=stored, duplicate=False)


def _live_chargers(conn: Connection, aggregator_id: str, ids: Sequence[str]) -> set[str]:
    return registry.select_in(
        conn,
        "SELECT charger_id FROM chargers WHERE aggregator_id = ? AND delete_time IS NULL AND charger_id IN",
        (aggregator_id,),
        ids,
    )


def _check_aggregate_owner(
    conn: Connection,
    charger_id: str | None,
    aggregator_id: str | None,
    aggregates: Sequence[Aggregate],
    field: str,
) -> None:
    if charger_id is not None or aggregator_id is None:
        raise InvalidArgument(
            "only aggregators report interval aggregates",
            reason=FOREIGN_CHARGER,
            violations=[FieldViolation(field, "devices report meter values only")],
        )
    check_slot_aligned(aggregates, field)
    station_ids = sorted({a.station_id for a in aggregates if a.station_id})
    known: set[str] = set()
    for chunk in chunks(station_ids):
        known.update(
            conn.execute(
                sa.select(registry.stations.c.station_id).where(
                    registry.stations.c.aggregator_id == aggregator_id,
                    registry.stations.c.station_id.in_(chunk),
                )
            ).scalars()
        )
    violations = [
        FieldViolation(f"{field}[{i}].resource", "is not one of your resources")
        for i, a in enumerate(aggregates)
        if a.aggregator_id != aggregator_id or (a.station_id and a.station_id not in known)
    ]
    if violations:
        raise InvalidArgument(
            "interval aggregates for resources the caller does not own",
            reason="RESOURCE_NOT_ALLOWED",
            violations=violations,
        )


_INSERT_READINGS = (
    "INSERT INTO meter_values"
    " (charger_id, sample_time, power_w, energy_register_wh, export_register_wh, soc_ppb, status)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

# A reading is a sign of life too (aggregator-controlled chargers have no
# device stream sending heartbeats); an older reading changes nothing.
_UPDATE_LATEST = (
    "UPDATE chargers SET last_power_w = ?, last_energy_register_wh = ?, last_meter_time = ?,"
    " last_heartbeat_time = CASE WHEN last_heartbeat_time IS NULL OR last_heartbeat_time < ? THEN ?"
    " ELSE last_heartbeat_time END"
    " WHERE charger_id = ? AND (last_meter_time IS NULL OR last_meter_time < ?)"
)
_UPDATE_ALIVE = (
    "UPDATE chargers SET last_heartbeat_time = ?"
    " WHERE charger_id = ? AND (last_heartbeat_time IS NULL OR last_heartbeat_time < ?)"
)


def _store_readings(conn: Connection, readings: Sequence[Reading]) -> int:
    if not readings:
        return 0
    # The last reading of a (charger, time) pair in a batch wins, as the
    # primary key requires one row and PostgreSQL refuses to touch a row twice.
    unique = {(r.charger_id, r.sample_time): r for r in readings}
    # Readings of a batch mostly share their sample times: each is converted once.
    to_param = registry.time_param(conn)
    stamps = {t: to_param(t) for _, t in unique}
    registry.execute_many(
        conn,
        _INSERT_READINGS,
        [
            (
                r.charger_id,
                stamps[r.sample_time],
                r.power_w,
                r.energy_register_wh,
                r.export_register_wh,
                None if r.soc is None else to_ppb(r.soc),
                r.status,
            )
            for r in unique.values()
        ],
    )
    latest: dict[str, Reading] = {}
    alive: dict[str, datetime] = {}
    for r in unique.values():
        if r.power_w is None:
            # Registers only: a sign of life, but F3's present power stays the last one sampled.
            alive[r.charger_id] = max(alive.get(r.charger_id, r.sample_time), r.sample_time)
            continue
        current = latest.get(r.charger_id)
        if current is None or r.sample_time > current.sample_time:
            latest[r.charger_id] = r
    rows = []
    for r in latest.values():
        at = stamps[r.sample_time]
        rows.append((r.power_w, r.energy_register_wh, at, at, at, r.charger_id, at))
    registry.execute_many(conn, _UPDATE_LATEST, rows)
    if alive:
        registry.execute_many(
            conn, _UPDATE_ALIVE, [(stamps[at], cid, stamps[at]) for cid, at in alive.items()]
        )
    return len(unique)


def _store_aggregates(conn: Connection, aggregates: Sequence[Aggregate], now: datetime) -> int:
    if not aggregates:
        return 0
    unique = {(a.aggregator_id, a.station_id, a.slot_start): a for a in aggregates}
    registry.upsert(
        conn,
        interval_aggregates,
        [
            {
                "aggregator_id": a.aggregator_id,
                "station_id": a.station_id,
                "slot_start": a.slot_start,
                "mean_power_w": a.mean_power_w,
                "update_time": now,
            }
            for a in unique.values()
        ],
        ["aggregator_id", "station_id", "slot_start"],
        ["mean_power_w", "update_time"],
    )
    return len(unique)


def start_session(
    conn: Connection,
    aggregator_id: str,
    charger_id: str,
    session: registry.Session,
    now: datetime,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> None:
    """A vehicle plugged into ``charger_id`` (the device's own) with its charging needs.

    Any other active session on the charger ends at this plug-in time.
    """
    violations = []
    if session.charger_id != charger_id:
        violations.append(FieldViolation("session.charger_id", "must be the caller's charger"))
    if violations:
        raise InvalidArgument("invalid session", reason="INVALID_SESSION", violations=violations)
    check_not_future([("session.plug_in_time", session.plug_in_time)], now, max_skew)
    registry.write_sessions(conn, aggregator_id, [session], now)


def stop_session(
    conn: Connection, aggregator_id: str, session_id: str, at: datetime, *, charger_id: str | None = None
) -> bool:
    """End a session at ``at``; False when it had ended already. NOT_FOUND for an unknown session
    (or, with ``charger_id``, one on another charger)."""
    query = sa.select(registry.sessions.c.state).where(
        registry.sessions.c.aggregator_id == aggregator_id, registry.sessions.c.session_id == session_id
    )
    if charger_id is not None:
        query = query.where(registry.sessions.c.charger_id == charger_id)
    if conn.execute(query).first() is None:
        raise NotFound(
            f"session {session_id} not found", reason="SESSION_NOT_FOUND", metadata={"session_id": session_id}
        )
    return registry.end_session(conn, aggregator_id, session_id, at, at)


# ---------------------------------------------------------------- read side


def slot_mean_power(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    aggregator_id: str | None = None,
    node_id: str | None = None,
    heartbeat_timeout: timedelta = metering.DEFAULT_HEARTBEAT_TIMEOUT,
    record_falls: bool = False,
) -> dict[datetime, Fraction]:
    """SPEC F2 15-minute mean power (W, exact) per slot start in [start, end) of an aggregator or a
    grid node (with descendants); slots without a value are absent (baselines skip such days).

    Per charger ``domain.metering``; per station a reported station aggregate
    replaces its chargers' sum; for an aggregator, an aggregator-level
    aggregate replaces the whole slot (see ``store.metering.scope_means``).
    """
    if (aggregator_id is None) == (node_id is None):
        raise ValueError("give exactly one of aggregator_id and node_id")
    station_scope: Any
    if node_id is not None:
        station_scope = registry.stations_under(node_id)
    else:
        station_scope = sa.select(registry.stations.c.aggregator_id, registry.stations.c.station_id).where(
            registry.stations.c.aggregator_id == aggregator_id
        )
    found = metering.scope_means(
        conn,
        start=start,
        end=end,
        step=SLOT,
        station_scope=station_scope,
        heartbeat_timeout=heartbeat_timeout,
        aggregator_level=[aggregator_id] if aggregator_id is not None else [],
        record_falls=record_falls,
    )
    return dict(sorted(domain_metering.scope_sum(found.values()).items()))
