"""Telemetry ingestion and the read side built on it (SPEC F2).

Write side, each function running in the caller's transaction (``db.write``):
``record_heartbeat``, ``record_status``, ``ingest_meter_values`` /
``ingest_batch`` (idempotent by batch id), ``ingest_aggregates`` via
``ingest_batch``, ``start_session``, ``stop_session``.

Arrival (SPEC F2): a batch id already committed by the same source stores
nothing and is answered with the first answer (``replayed``), on every path —
when it carries the same content; under other content it is refused
(ALREADY_EXISTS ``BATCH_ID_REUSED``: a batch of that id exists) and stores nothing.
Two transactions inserting the same new (charger, sample time) at once: the
one whose insert finds the key taken by the other's commit counts its reading
as a duplicate or a correction of that one (recorded, and its values stored:
it arrived later), never as stored while dropping it.
A reading is identified by (charger, sample time): the same values again are
a duplicate; other values are a correction, which replaces the stored row
(the later arrival wins; inside a batch, the later position) and is recorded
in ``meter_value_corrections`` with its source, batch, time, old and new
values (an uploaded 15-minute aggregate: ``interval_aggregate_corrections``).
Each new reading keeps its receive time: one that arrives for a window
already evaluated marks the evaluation stale like a correction
(``corrected_since``). Each reading of a batch is counted once as stored, duplicate or
corrected, so the counts and the stored rows do not depend on how readings
were split into batches. The charger row keeps the latest reading (and
counts it as a sign of life) so capacity and statistics never search the
time series.

How readings go in: on SQLite the stored values under the batch's keys are read first, then the new
keys inserted by one executemany; on PostgreSQL the batch is COPYed into a session's temporary staging
table and one INSERT … SELECT … ON CONFLICT DO NOTHING stores the new keys and names the taken ones, and
only those are read back (``_store_readings_staged``). Both count and store the same (tests/telemetry on
both stores).

Read side (``db.read``): SPEC F2 15-minute mean power per aggregator or grid
node per slot (the input of baselines and evaluation); the monitor's
per-minute figure is ``store.metering.minute_power``, the same rules.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from operator import attrgetter
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import metering as domain_metering
from domain.errors import FieldViolation, InvalidArgument, NotFound
from domain.telemetry import (
    FOREIGN_CHARGER,
    SLOT,
    Aggregate,
    Reading,
    batch_digest,
    batch_id_reused,
    check_chargers,
    check_not_future,
    check_slot_aligned,
    to_ppb,
)
from store import bulk, capacity_rows, metering, registry
from store.bulk import chunks
from store.registry import chargers
from store.tables import table_of
from store.telemetry_tables import (
    IntervalAggregateCorrectionRow,
    IntervalAggregateRow,
    MeterValueCorrectionRow,
    MeterValueRow,
    TelemetryBatchRow,
)

meter_values = table_of(MeterValueRow)
interval_aggregates = table_of(IntervalAggregateRow)
batches = table_of(TelemetryBatchRow)
corrections_table = table_of(MeterValueCorrectionRow)
aggregate_corrections = table_of(IntervalAggregateCorrectionRow)

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
    """The answer to a batch: readings (and aggregates) stored new, duplicates, corrections.

    ``replayed`` is true when the batch id had been committed before: the
    counts are then the first answer's, and nothing was stored this time.
    """

    stored_points: int
    duplicate_points: int = 0
    corrected_points: int = 0
    replayed: bool = False

    @property
    def duplicate(self) -> bool:
        return self.replayed


@dataclass(slots=True)
class _Counts:
    stored: int = 0
    duplicate: int = 0
    corrected: int = 0


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
    content_digest: str | None = None,
) -> BatchResult:
    """Store a batch of readings once (see ``ingest_batch``).

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
        content_digest=content_digest,
    )


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
    content_digest: str | None = None,
) -> BatchResult:
    """Readings and interval aggregates of one batch, stored once per (source, batch id).

    The same id again with the same content (in the same order) is answered with the first
    answer and stores nothing; with other content it is refused, ALREADY_EXISTS
    ``BATCH_ID_REUSED``, and stores nothing either. ``content_digest`` is the batch's digest as the
    servicer took it off the wire (cheap); without one it is ``domain.telemetry.batch_digest`` of the
    records (callers with no wire message: a source must keep to one of the two)."""
    postgres = conn.dialect.name == "postgresql"
    allowed: set[str] | None
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
        owner = aggregator_id
        source = f"aggregator/{aggregator_id}"
        named = sorted({r.charger_id for r in readings})
        # PostgreSQL: found by the chargers' latest-reading update below, after the re-send check — but
        # only for chargers this process has seen the update return as the aggregator's own; a batch
        # naming any other charger is checked first, before a row of it is written, so a batch naming
        # another tenant's chargers never holds (even uncommitted) a key of theirs (``_RecentlyOwn``).
        if not postgres or not _recently_own.covers(conn, aggregator_id, named):
            allowed = _live_chargers(conn, aggregator_id, named)
        else:
            allowed = None
    else:
        raise ValueError("a batch comes from a charger or an aggregator")
    content = content_digest or batch_digest(readings, aggregates)
    seen = _first_answer(conn, source, batch_id)
    if seen is not None:
        if seen[3] not in (None, content):
            raise batch_id_reused(batch_id)
        return BatchResult(seen[0], seen[1], seen[2], replayed=True)
    if postgres and readings:
        # The readings go in first, and the statement that then writes the chargers' latest readings
        # is the one that finds which of the batch's chargers are the owner's live ones: one pass over
        # the chargers. A refusal below raises, and the transaction rolls back with all of it: nothing
        # of the batch is stored. (The checks answer in the same order as on SQLite.)
        folded = _Folded.of(readings)
        if allowed is not None and not allowed.issuperset(folded.chargers):
            check_chargers(readings, allowed, field)
        points, live = _store_readings_copied(conn, readings, folded, owner, source, batch_id, now)
        if aggregator_id is not None:
            _recently_own.saw(conn, aggregator_id, live)
        allowed = live if allowed is None else allowed & live
        if not allowed.issuperset(folded.chargers):
            check_chargers(readings, allowed, field)
    else:
        check_chargers(readings, allowed or set(), field)
    _check_times(readings, aggregates, now, max_skew, field, aggregates_field)
    if aggregates:
        _check_aggregate_owner(conn, charger_id, aggregator_id, aggregates, aggregates_field)
    if not postgres:
        points = _store_readings(conn, readings, source, batch_id, now)
    elif not readings:
        points = _Counts()
    intervals = _store_aggregates(conn, aggregates, source, batch_id, now)
    result = BatchResult(
        points.stored + intervals.stored,
        points.duplicate + intervals.duplicate,
        points.corrected + intervals.corrected,
    )
    inserted = bulk.execute(
        conn,
        _RECORD_BATCH,
        (
            source,
            batch_id,
            result.stored_points,
            result.duplicate_points,
            result.corrected_points,
            content,
            bulk.time_param(conn)(now),
        ),
    ).first()
    if inserted is None:
        twin = _first_answer(conn, source, batch_id)
        if twin is not None and twin[3] not in (None, content):
            # Not a twin: another content under the same id committed first; ours is undone.
            raise batch_id_reused(batch_id)
        if twin is not None:
            # The same content committed first: answered as a re-send, with the first answer.
            return BatchResult(twin[0], twin[1], twin[2], replayed=True)
    return result


def _check_times(
    readings: Sequence[Reading],
    aggregates: Sequence[Aggregate],
    now: datetime,
    max_skew: timedelta,
    field: str,
    aggregates_field: str,
) -> None:
    """``check_not_future`` of the readings' sample times and the aggregates' slots; their field paths are
    written only when one of them is late (a batch's thousand paths cost more than the check)."""
    limit = now + max_skew
    if (readings and max(map(_SAMPLE_TIME, readings)) > limit) or (
        aggregates and max(a.slot_start for a in aggregates) > limit
    ):
        check_not_future(
            [(f"{field}[{i}].sample_time", r.sample_time) for i, r in enumerate(readings)]
            + [(f"{aggregates_field}[{i}].slot_start_time", a.slot_start) for i, a in enumerate(aggregates)],
            now,
            max_skew,
        )


_SAMPLE_TIME = attrgetter("sample_time")


# On the driver (store.bulk.execute): through SQLAlchemy's Core each of these single-row statements cost
# about as much Python as the batch's COPY.
_FIRST_ANSWER = (
    "SELECT stored_points, duplicate_points, corrected_points, content_digest FROM telemetry_batches"
    " WHERE source = ? AND batch_id = ?"
)
# A concurrent twin of this batch committed first: its rows and ours met at the time-series key, so
# nothing is stored twice either way. RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT.
_RECORD_BATCH = (
    "INSERT INTO telemetry_batches (source, batch_id, stored_points, duplicate_points, corrected_points,"
    " content_digest, create_time) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING batch_id"
)


def _first_answer(conn: Connection, source: str, batch_id: str) -> Any:
    """(stored, duplicate, corrected points, content digest) of the batch committed under this id, or None."""
    return bulk.execute(conn, _FIRST_ANSWER, (source, batch_id)).first()


class _RecentlyOwn:
    """Per database and aggregator, the chargers a committed-or-not latest-reading update of this process
    returned as that aggregator's live ones (at most ``LIMIT`` ids per aggregator, then started afresh).

    Only a shortcut: it decides whether a PostgreSQL batch is checked BEFORE its readings are written. The
    update itself is the check either way (a charger deleted or moved since is refused there, and the
    transaction rolls back); what this keeps out is a batch naming chargers its aggregator never had here
    writing, uncommitted, keys another tenant's batches would then wait on.
    """

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self._seen: weakref.WeakKeyDictionary[sa.Engine, dict[str, set[str]]] = weakref.WeakKeyDictionary()

    def covers(self, conn: Connection, aggregator_id: str, ids: Sequence[str]) -> bool:
        own = self._seen.get(conn.engine, {}).get(aggregator_id)
        return own is not None and own.issuperset(ids)

    def saw(self, conn: Connection, aggregator_id: str, ids: set[str]) -> None:
        by_aggregator = self._seen.setdefault(conn.engine, {})
        own = by_aggregator.setdefault(aggregator_id, set())
        if len(own) + len(ids) > self.LIMIT:
            own.clear()
        own |= ids


_recently_own = _RecentlyOwn()


_LIVE_CHARGERS_ANY = "SELECT charger_id FROM chargers WHERE aggregator_id = %s AND delete_time IS NULL AND charger_id = ANY(%b)"
_LIVE = "FROM chargers WHERE aggregator_id = ? AND delete_time IS NULL AND charger_id IN"


def _live_chargers(conn: Connection, aggregator_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` (distinct) are live chargers of the aggregator."""
    if conn.dialect.name == "postgresql":
        # One array parameter: a thousand placeholders cost psycopg a parse of the statement text and
        # PostgreSQL a thousand parameters to bind, about as much as the lookup.
        return {
            row[0] for row in conn.exec_driver_sql(_LIVE_CHARGERS_ANY, (aggregator_id, list(ids))).fetchall()
        }
    # SQLite: usually all of them, so counted first and listed only when some are not (a thousand rows
    # built and fetched cost more than the lookups).
    if sum(
        count for (count,) in bulk.rows_in(conn, "SELECT count(*) " + _LIVE, (aggregator_id,), ids)
    ) == len(ids):
        return set(ids)
    return bulk.select_in(conn, "SELECT charger_id " + _LIVE, (aggregator_id,), ids)


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
    " (charger_id, sample_time, power_w, energy_register_wh, export_register_wh, soc_ppb, status,"
    " receive_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

_CORRECT_READING = (
    "UPDATE meter_values SET power_w = ?, energy_register_wh = ?, export_register_wh = ?, soc_ppb = ?, status = ?"
    " WHERE charger_id = ? AND sample_time = ?"
)

# A reading is a sign of life too (aggregator-controlled chargers have no
# device stream sending heartbeats); an older reading changes nothing, a
# correction of the latest one replaces it.
_UPDATE_LATEST = (
    "UPDATE chargers SET last_power_w = ?, last_energy_register_wh = ?, last_meter_time = ?,"
    " last_heartbeat_time = CASE WHEN last_heartbeat_time IS NULL OR last_heartbeat_time < ? THEN ?"
    " ELSE last_heartbeat_time END"
    " WHERE charger_id = ? AND (last_meter_time IS NULL OR last_meter_time <= ?)"
)
_UPDATE_ALIVE = (
    "UPDATE chargers SET last_heartbeat_time = ?"
    " WHERE charger_id = ? AND (last_heartbeat_time IS NULL OR last_heartbeat_time < ?)"
)

_Values = tuple[int | None, int | None, int | None, int | None, int]
"""(power_w, energy_register_wh, export_register_wh, soc_ppb, status): what a correction compares
(a register or power not sent is None, and None differs from any value)."""


_STORED_VALUES = (
    "SELECT charger_id, sample_time, power_w, energy_register_wh, export_register_wh, soc_ppb, status"
    " FROM meter_values WHERE sample_time >= ? AND sample_time <= ? AND charger_id IN"
)


def _stored_values(conn: Connection, readings: Sequence[Reading]) -> dict[tuple[str, datetime], _Values]:
    """The rows already stored under the batch's keys (one range query per chunk of chargers).

    On the driver, like the insert: a batch's thousand charger ids in an expanding IN cost
    SQLAlchemy more than the query."""
    ids = sorted({r.charger_id for r in readings})
    to_param, when = bulk.time_param(conn), bulk.time_result(conn)
    first = to_param(min(r.sample_time for r in readings))
    last = to_param(max(r.sample_time for r in readings))
    wanted = {(r.charger_id, r.sample_time) for r in readings}
    out: dict[tuple[str, datetime], _Values] = {}
    for row in bulk.rows_in(conn, _STORED_VALUES, (first, last), ids):
        key = (row[0], when(row[1]))
        if key in wanted:
            out[key] = (row[2], row[3], row[4], row[5], row[6])  # type: ignore[assignment]
    return out


_Keyed = list[tuple[tuple[str, datetime], _Values]]


def _keyed(readings: Sequence[Reading]) -> _Keyed:
    """Each reading's key and values, in arrival order; a SOC converted once per distinct value of a batch
    (keyed by type too: a float and a Decimal equal in value may convert differently)."""
    ppb: dict[tuple[type, Any], int] = {}
    out: _Keyed = []
    for charger_id, sample_time, power_w, energy_wh, soc, status, export_wh in readings:
        if soc is None:
            soc_ppb = None
        else:
            memo = (type(soc), soc)
            soc_ppb = ppb.get(memo)
            if soc_ppb is None:
                soc_ppb = ppb[memo] = to_ppb(soc)
        out.append(((charger_id, sample_time), (power_w, energy_wh, export_wh, soc_ppb, status)))
    return out


def _fold(
    keyed: _Keyed,
    before: dict[tuple[str, datetime], _Values],
    source: str,
    batch_id: str,
    now: datetime,
) -> tuple[
    _Counts, dict[tuple[str, datetime], _Values], dict[tuple[str, datetime], _Values], list[dict[str, Any]]
]:
    """Each reading counted against what is stored (``before``) or an earlier one of the batch: (counts, the final
    value per key, the first value per key not stored before, the corrections in arrival order)."""
    counts = _Counts()
    final: dict[tuple[str, datetime], _Values] = {}
    first: dict[tuple[str, datetime], _Values] = {}
    corrections: list[dict[str, Any]] = []
    # Readings are taken in arrival order, so a batch split in two (or merged
    # from two) counts and stores exactly what the single batch does.
    for key, value in keyed:
        previous = final.get(key, before.get(key))
        if previous is None:
            first[key] = value
            counts.stored += 1
        elif previous == value:
            counts.duplicate += 1
        else:
            counts.corrected += 1
            corrections.append(_correction(key, previous, value, source, batch_id, now))
        final[key] = value
    return counts, final, first, corrections


# SQLite: a batch's keys are usually all new, so its readings are first inserted as if none were stored, in a
# savepoint; only when the insert skipped a taken key is that undone and the stored values read first.
_OPTIMISTIC = "SAVEPOINT vgi_new_readings"
_OPTIMISTIC_UNDO = "ROLLBACK TO SAVEPOINT vgi_new_readings"
_OPTIMISTIC_DONE = "RELEASE SAVEPOINT vgi_new_readings"


def _insert_new_readings(
    conn: Connection,
    readings: Sequence[Reading],
    keyed: _Keyed,
    source: str,
    batch_id: str,
    now: datetime,
    to_param: Any,
    received: Any,
) -> tuple[
    dict[tuple[str, datetime], _Values],
    _Counts,
    dict[tuple[str, datetime], _Values],
    dict[tuple[str, datetime], _Values],
    list[dict[str, Any]],
    dict[datetime, Any],
    int,
]:
    """The batch counted against what is stored and its new keys inserted (SQLite): (the stored values under
    its keys, then ``_fold``'s counts, final values, first values and corrections, the time parameters, the
    rows inserted).

    The insert of every distinct key skips only keys already taken (ON CONFLICT DO NOTHING), so when it
    inserted them all none was stored before and the fold against nothing is the fold against the store:
    the read of the stored values is saved. Otherwise the insert is rolled back to its savepoint and the
    batch goes the exact way: stored values read, folded against them, new keys inserted."""
    counts, final, first, corrections = _fold(keyed, {}, source, batch_id, now)
    stamps = {t: to_param(t) for t in {t for _, t in final}}  # a batch's readings share few times
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(_OPTIMISTIC)
    try:
        inserted = bulk.execute_many(
            conn, _INSERT_READINGS, [(c, stamps[t], *final[(c, t)], received) for c, t in first]
        )
    except BaseException:
        driver.execute(_OPTIMISTIC_UNDO)
        driver.execute(_OPTIMISTIC_DONE)
        raise
    if inserted == len(first):
        driver.execute(_OPTIMISTIC_DONE)
        return {}, counts, final, first, corrections, stamps, inserted
    driver.execute(_OPTIMISTIC_UNDO)
    driver.execute(_OPTIMISTIC_DONE)
    before = _stored_values(conn, readings)
    counts, final, first, corrections = _fold(keyed, before, source, batch_id, now)
    inserted = bulk.execute_many(
        conn, _INSERT_READINGS, [(c, stamps[t], *final[(c, t)], received) for c, t in first]
    )
    return before, counts, final, first, corrections, stamps, inserted


def _latest_and_alive(
    final: Mapping[tuple[str, datetime], _Values],
) -> tuple[dict[str, tuple[datetime, _Values]], dict[str, datetime]]:
    """Per charger, its latest sampled reading (time, values) and the latest time of a register-only one."""
    latest: dict[str, tuple[datetime, _Values]] = {}
    alive: dict[str, datetime] = {}
    for (c, t), value in final.items():
        if value[0] is None:
            # Registers only: a sign of life, but F3's present power stays the last one sampled.
            alive[c] = max(alive.get(c, t), t)
            continue
        current = latest.get(c)
        if current is None or t > current[0]:
            latest[c] = (t, value)
    return latest, alive


def _store_readings(
    conn: Connection, readings: Sequence[Reading], source: str, batch_id: str, now: datetime
) -> _Counts:
    if not readings:
        return _Counts()
    keyed = _keyed(readings)
    to_param = bulk.time_param(conn)
    received = to_param(now)
    before, counts, final, first, corrections, stamps, inserted = _insert_new_readings(
        conn, readings, keyed, source, batch_id, now, to_param, received
    )
    if inserted < len(first):
        # A concurrent transaction committed some of these keys between our read and our insert
        # (PostgreSQL: the insert waited for it, then did nothing). Its values arrived first:
        # ours are duplicates of them or corrections — never dropped while counted as stored.
        raced = _raced(conn, readings, final, first)
        lost = len(first) - inserted
        counts.stored -= lost
        counts.duplicate += lost - len(raced)
        ahead = []
        for key, theirs in raced.items():
            if first[key] == theirs:
                counts.duplicate += 1
            else:
                counts.corrected += 1
                ahead.append(_correction(key, theirs, first[key], source, batch_id, now))
        corrections = ahead + corrections
        before = {**before, **raced}  # so the rows are updated to ours below
    _apply_corrections(conn, final, before, corrections, stamps)
    latest, alive = _latest_and_alive(final)
    rows = []
    # In charger order, as store.capacity_rows locks chargers rows: two writers never wait on each other crosswise.
    for c, (t, value) in sorted(latest.items()):
        at = stamps[t]
        rows.append((value[0], value[1], at, at, at, c, at))
    bulk.execute_many(conn, _UPDATE_LATEST, rows)
    capacity_rows.refresh_meters(conn, list(latest))
    if alive:
        bulk.execute_many(conn, _UPDATE_ALIVE, [(stamps[at], cid, stamps[at]) for cid, at in alive.items()])
    return counts


def _apply_corrections(
    conn: Connection,
    final: dict[tuple[str, datetime], _Values],
    before: dict[tuple[str, datetime], _Values],
    corrections: list[dict[str, Any]],
    stamps: dict[datetime, Any],
) -> None:
    """Stored rows whose final value differs take it; the corrections are recorded."""
    changed = [
        (*value, c, stamps[t])
        for (c, t), value in final.items()
        if (c, t) in before and before[(c, t)] != value
    ]
    if changed:
        bulk.execute_many(conn, _CORRECT_READING, changed)
    if corrections:
        conn.execute(sa.insert(corrections_table), corrections)


_STAGE_COLUMNS = "charger_id, sample_time, power_w, energy_register_wh, export_register_wh, soc_ppb, status"

# PostgreSQL, first: the batch's keys go straight into meter_values by one binary COPY in a savepoint, as a raw
# COPY would write them. A reading is new unless its key is stored already, so that is the batch almost
# always; a key that is taken (stored before, or by a concurrent transaction that committed while the COPY
# waited on it) fails the COPY with a unique violation, which rolls back to the savepoint and stores the batch
# by the staged path below, which tells duplicates and corrections apart. Rows go in (sample_time, charger_id)
# order, the staged path's order too, so two writers of overlapping keys take them in one order; a deadlock
# all the same (COPY buffers a partitioned table's rows per partition) also falls back.
_COPY_READINGS = f"COPY meter_values ({_STAGE_COLUMNS}, receive_time) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("varchar", "timestamptz", "int8", "int8", "int8", "int8", "int2", "timestamptz")
_COPY_SAVEPOINT = "SAVEPOINT vgi_meter_copy"
_COPY_UNDO = "ROLLBACK TO SAVEPOINT vgi_meter_copy"
_COPY_DONE = "RELEASE SAVEPOINT vgi_meter_copy"
# The chargers' latest readings and registers-only readings as signs of life, one array per column and one
# element per charger of the batch (``_Folded``), written only to the owner's live chargers, whose ids it
# returns: the batch's charger check and its update in one pass over the chargers. What each row takes is
# what the SQLite path's two updates do (``_UPDATE_LATEST``, then ``_UPDATE_ALIVE``): a sampled reading
# not older than the stored one replaces it and is a sign of life, a later registers-only one too. A row
# whose values do not move is written unchanged, so that it is returned (not the batch's usual case).
_NEWER = "(v.sample_time IS NOT NULL AND (c.last_meter_time IS NULL OR c.last_meter_time <= v.sample_time))"
_UPDATE_LATEST_OF_LIVE = (
    f"UPDATE chargers c SET last_power_w = CASE WHEN {_NEWER} THEN v.power_w ELSE c.last_power_w END,"
    f" last_energy_register_wh = CASE WHEN {_NEWER} THEN v.energy_register_wh ELSE c.last_energy_register_wh END,"
    f" last_meter_time = CASE WHEN {_NEWER} THEN v.sample_time ELSE c.last_meter_time END,"
    # GREATEST skips NULLs: the reading's time when it is the latest, the registers-only reading's time.
    f" last_heartbeat_time = GREATEST(c.last_heartbeat_time, CASE WHEN {_NEWER} THEN v.sample_time END,"
    " v.alive_time)"
    " FROM unnest(%s::varchar[], %b::timestamptz[], %s::int8[], %s::int8[], %b::timestamptz[])"
    " AS v(charger_id, sample_time, power_w, energy_register_wh, alive_time)"
    " WHERE c.charger_id = v.charger_id AND c.aggregator_id = %s AND c.delete_time IS NULL"
    " RETURNING c.charger_id"
)


@dataclass(frozen=True, slots=True)
class _Folded:
    """A PostgreSQL batch's readings taken apart once: each reading's key and values (``_keyed``), the last
    value of each key, and per charger (sorted) its latest sampled reading and latest registers-only time."""

    keyed: _Keyed
    final: dict[tuple[str, datetime], _Values]
    latest: dict[str, tuple[datetime, _Values]]
    alive: dict[str, datetime]
    chargers: list[str]

    @classmethod
    def of(cls, readings: Sequence[Reading]) -> _Folded:
        keyed = _keyed(readings)
        final = dict(keyed)
        latest, alive = _latest_and_alive(final)
        return cls(keyed, final, latest, alive, sorted(latest.keys() | alive.keys()))


def _update_latest_of_live(conn: Connection, aggregator_id: str, batch: _Folded) -> set[str]:
    """Write the batch's latest readings to the chargers that are the aggregator's live ones; their ids."""
    latest, alive, ids = batch.latest, batch.alive, batch.chargers
    # In charger order, as store.capacity_rows locks chargers rows. unnest pads a shorter array with NULLs,
    # and takes a NULL array as empty: a column no charger has a value in is sent as NULL. The ids and
    # numbers as array literals (``bulk.text_array``), the times bound binary (parsed as text they cost
    # PostgreSQL more than the literal saves here).
    times: list[datetime | None] | None = None
    powers = energies = None
    if latest:
        sampled = [latest.get(c, _UNSAMPLED) for c in ids]
        times = [t for t, _ in sampled]
        powers = bulk.int_array([v[0] for _, v in sampled])
        energies = bulk.int_array([v[1] for _, v in sampled])
    columns = (
        bulk.text_array(ids),
        times,
        powers,
        energies,
        [alive.get(c) for c in ids] if alive else None,
        aggregator_id,
    )
    driver: Any = conn.connection.dbapi_connection  # psycopg's, in this transaction
    with driver.cursor() as cursor:
        return {row[0] for row in cursor.execute(_UPDATE_LATEST_OF_LIVE, columns).fetchall()}


_UNSAMPLED: tuple[datetime | None, _Values] = (None, (None, None, None, None, 0))


def _time_first(key: tuple[str, datetime]) -> tuple[datetime, str]:
    return key[1], key[0]


def _store_readings_copied(
    conn: Connection,
    readings: Sequence[Reading],
    batch: _Folded,
    owner: str,
    source: str,
    batch_id: str,
    now: datetime,
) -> tuple[_Counts, set[str]]:
    """PostgreSQL: the batch's readings stored, then its chargers' latest readings written to those that are
    the owner's live chargers (``_update_latest_of_live``) and their sessions' capacity rows; (the counts,
    those chargers)."""
    keyed, final = batch.keyed, batch.final
    counts: _Counts | None = None
    driver: Any = conn.connection.dbapi_connection  # psycopg's, in this transaction
    with driver.cursor() as cursor:
        cursor.execute(_COPY_SAVEPOINT)
        try:
            with cursor.copy(_COPY_READINGS) as copy:
                copy.set_types(_COPY_TYPES)
                write = copy.write_row
                for key in sorted(final, key=_time_first):
                    write((*key, *final[key], now))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            cursor.execute(_COPY_UNDO)
            cursor.execute(_COPY_DONE)
            counts = _store_readings_staged(conn, readings, batch, source, batch_id, now)
        else:
            cursor.execute(_COPY_DONE)
    if counts is None and len(final) == len(keyed):
        # Every key was new and none repeated in the batch: each reading stored, nothing else to count.
        counts = _Counts(stored=len(keyed))
    elif counts is None:
        # Every key was new: the batch's own repeats are its only duplicates and corrections.
        counts, _, _, corrections = _fold(keyed, {}, source, batch_id, now)
        if corrections:
            _apply_corrections(conn, final, {}, corrections, {})
    live = _update_latest_of_live(conn, owner, batch)
    # The sessions' capacity rows take the chargers' latest readings (store.capacity_rows).
    capacity_rows.refresh_meters(conn, sorted(batch.latest))
    return counts, live


# PostgreSQL, when a key is taken: the batch goes to a session's temporary staging table by COPY, then into meter_values by one
# INSERT … SELECT that skips keys already stored (by an earlier batch, or by a concurrent transaction whose
# commit the insert waited for) and names them; only those are read back and counted as duplicates or
# corrections. The charger rows take their latest readings after it (``_update_latest_of_live``).
_STAGE = bulk.METER_STAGE
_COPY_STAGE = f"COPY {_STAGE} ({_STAGE_COLUMNS}) FROM STDIN"
_INSERT_STAGED = (
    f"WITH inserted AS (INSERT INTO meter_values ({_STAGE_COLUMNS}, receive_time)"
    f" SELECT {_STAGE_COLUMNS}, %s FROM {_STAGE} ORDER BY sample_time, charger_id ON CONFLICT DO NOTHING"
    " RETURNING charger_id, sample_time)"
    f" SELECT s.charger_id, s.sample_time FROM {_STAGE} s WHERE NOT EXISTS"
    " (SELECT FROM inserted i WHERE i.charger_id = s.charger_id AND i.sample_time = s.sample_time)"
)
_EMPTY_STAGE = f"DELETE FROM {_STAGE}"


def _store_readings_staged(
    conn: Connection, readings: Sequence[Reading], batch: _Folded, source: str, batch_id: str, now: datetime
) -> _Counts:
    keyed, final = batch.keyed, batch.final
    driver: Any = conn.connection.dbapi_connection  # psycopg's, in this transaction
    with driver.cursor() as cursor:
        bulk.ensure_stage(conn, cursor)
        with cursor.copy(_COPY_STAGE) as copy:
            for (c, t), value in final.items():
                copy.write_row((c, t, *value))
        taken = cursor.execute(_INSERT_STAGED, (now,)).fetchall()
        # Emptied at COMMIT too (ON COMMIT DELETE ROWS); emptied here for a next batch in the same transaction.
        cursor.execute(_EMPTY_STAGE)
    before: dict[tuple[str, datetime], _Values] = {}
    if taken:
        # Stored before this batch, or by a transaction that committed while the insert waited on it:
        # either way its values arrived first, and ours are duplicates of them or corrections.
        keys = {(c, t) for c, t in taken}
        before = _stored_values(conn, [r for r in readings if (r.charger_id, r.sample_time) in keys])
    counts, final, _, corrections = _fold(keyed, before, source, batch_id, now)
    if before or corrections:
        to_param = bulk.time_param(conn)
        _apply_corrections(conn, final, before, corrections, {t: to_param(t) for _, t in before})
    return counts


def _raced(
    conn: Connection,
    readings: Sequence[Reading],
    final: dict[tuple[str, datetime], _Values],
    inserting: dict[tuple[str, datetime], _Values],
) -> dict[tuple[str, datetime], _Values]:
    """Of the keys this batch inserted, those now holding other values than ours: another
    transaction's rows, committed first. (Keys it holds with our own values are counted as
    duplicates by number: which of them were ours cannot matter to the rows.)"""
    fresh = [r for r in readings if (r.charger_id, r.sample_time) in inserting]
    stored = _stored_values(conn, fresh)
    return {key: value for key, value in stored.items() if key in inserting and value != final[key]}


def _correction(
    key: tuple[str, datetime], old: _Values, new: _Values, source: str, batch_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "charger_id": key[0],
        "sample_time": key[1],
        "source": source,
        "batch_id": batch_id,
        "correct_time": now,
        "old_power_w": old[0],
        "old_energy_register_wh": old[1],
        "old_export_register_wh": old[2],
        "old_soc_ppb": old[3],
        "old_status": old[4],
        "new_power_w": new[0],
        "new_energy_register_wh": new[1],
        "new_export_register_wh": new[2],
        "new_soc_ppb": new[3],
        "new_status": new[4],
    }


def _store_aggregates(
    conn: Connection, aggregates: Sequence[Aggregate], source: str, batch_id: str, now: datetime
) -> _Counts:
    """Aggregates counted like readings: new, duplicate (same value) or corrected (another value,
    which replaces the stored one, moves its update_time — what marks evaluations stale — and is
    recorded in ``interval_aggregate_corrections``, like a reading's correction)."""
    counts = _Counts()
    if not aggregates:
        return counts
    before: dict[tuple[str, str, datetime], int] = {}
    first = min(a.slot_start for a in aggregates)
    last = max(a.slot_start for a in aggregates)
    for aggregator_id in sorted({a.aggregator_id for a in aggregates}):
        for row in conn.execute(
            sa.select(
                interval_aggregates.c.station_id,
                interval_aggregates.c.slot_start,
                interval_aggregates.c.mean_power_w,
            ).where(
                interval_aggregates.c.aggregator_id == aggregator_id,
                interval_aggregates.c.slot_start >= first,
                interval_aggregates.c.slot_start <= last,
            )
        ):
            before[(aggregator_id, row.station_id, row.slot_start)] = row.mean_power_w
    final: dict[tuple[str, str, datetime], int] = {}
    corrections: list[dict[str, Any]] = []
    for a in aggregates:
        key = (a.aggregator_id, a.station_id, a.slot_start)
        previous = final.get(key, before.get(key))
        if previous is None:
            counts.stored += 1
        elif previous == a.mean_power_w:
            counts.duplicate += 1
        else:
            counts.corrected += 1
            corrections.append(
                {
                    "aggregator_id": key[0],
                    "station_id": key[1],
                    "slot_start": key[2],
                    "source": source,
                    "batch_id": batch_id,
                    "correct_time": now,
                    "old_mean_power_w": previous,
                    "new_mean_power_w": a.mean_power_w,
                }
            )
        final[key] = a.mean_power_w
    bulk.upsert(
        conn,
        interval_aggregates,
        [
            {
                "aggregator_id": key[0],
                "station_id": key[1],
                "slot_start": key[2],
                "mean_power_w": value,
                "update_time": now,
            }
            for key, value in final.items()
            if before.get(key) != value
        ],
        ["aggregator_id", "station_id", "slot_start"],
        ["mean_power_w", "update_time"],
    )
    if corrections:
        conn.execute(sa.insert(aggregate_corrections), corrections)
    return counts


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


def corrected_since(
    conn: Connection, aggregator_id: str, start: datetime, end: datetime, since: datetime
) -> bool:
    """Whether what the aggregator's window [start, end) meters to changed after ``since`` (SPEC F2):
    a reading in it of one of the aggregator's chargers was corrected or first received after
    ``since`` (a late arrival changes the computation as a correction does), or one of its 15-minute
    values of a slot starting in [start, end) was stored or changed after it."""
    a = interval_aggregates.c
    changed = [
        sa.select(a.slot_start).where(
            a.aggregator_id == aggregator_id, a.slot_start >= start, a.slot_start < end, a.update_time > since
        )
    ]
    # Readings of the aggregator's chargers in the window: corrected, or first received, after ``since``.
    for table, after in (
        (corrections_table, corrections_table.c.correct_time),
        (meter_values, meter_values.c.receive_time),
    ):
        changed.append(
            sa.select(table.c.charger_id)
            .join(chargers, chargers.c.charger_id == table.c.charger_id)
            .where(
                chargers.c.aggregator_id == aggregator_id,
                table.c.sample_time >= start,
                table.c.sample_time < end,
                after > since,
            )
        )
    # In this order, stopping at the first that finds a row.
    return any(conn.execute(query.limit(1)).first() is not None for query in changed)


AGGREGATOR_SOURCE = metering.AGGREGATOR
REGISTER_SOURCE = domain_metering.REGISTER
POWER_SOURCE = domain_metering.POWER
MIXED_SOURCE = "MIXED"


@dataclass(frozen=True, slots=True)
class SlotValue:
    """A slot mean (W, exact), what it came from (``*_SOURCE``; ``MIXED`` when its parts differ) and
    its coverage (exact, 0–1: the least covered fraction of the slot among the parts summed; see
    ``domain.metering``)."""

    mean_power_w: Fraction
    source: str
    coverage: Fraction


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
    values = slot_values(
        conn,
        start=start,
        end=end,
        aggregator_id=aggregator_id,
        node_id=node_id,
        heartbeat_timeout=heartbeat_timeout,
        record_falls=record_falls,
    )
    return {at: value.mean_power_w for at, value in values.items()}


def slot_values(
    conn: Connection,
    *,
    start: datetime,
    end: datetime,
    aggregator_id: str | None = None,
    node_id: str | None = None,
    station_id: str | None = None,
    charger_id: str | None = None,
    heartbeat_timeout: timedelta = metering.DEFAULT_HEARTBEAT_TIMEOUT,
    record_falls: bool = False,
) -> dict[datetime, SlotValue]:
    """``slot_mean_power`` of any scope, with each slot's source: the filters given combine (a station
    needs its aggregator). The one computation is ``store.metering.scope_means`` (SPEC F2).

    A node counts each station's data for the node it belonged to when it was
    taken (``membership.at_node``), and a station each reading of the charger
    that was at it then (``membership.placed_at``): a later delete or move of a
    station or a charger does not rewrite their history. The aggregator's own 15-minute value replaces the slot only for
    the whole aggregator; station values replace their station's readings
    except for a single charger, which is metered from its readings only.
    """
    if aggregator_id is None and node_id is None:
        raise ValueError("give aggregator_id, node_id or both")
    station_scope = None
    if aggregator_id is not None:
        station_scope = sa.select(registry.stations.c.aggregator_id, registry.stations.c.station_id).where(
            registry.stations.c.aggregator_id == aggregator_id
        )
        if station_id is not None and charger_id is None:
            # A charger's own series is all its readings, at whichever station they were taken.
            station_scope = station_scope.where(registry.stations.c.station_id == station_id)
    whole_aggregator = (
        aggregator_id is not None and node_id is None and station_id is None and charger_id is None
    )
    sources: metering.Sources = {}
    coverage: metering.Coverage = {}
    found = metering.scope_means(
        conn,
        start=start,
        end=end,
        step=SLOT,
        station_scope=station_scope,
        node_id=node_id,
        charger_id=charger_id,
        heartbeat_timeout=heartbeat_timeout,
        aggregator_level=[aggregator_id] if whole_aggregator and aggregator_id is not None else [],
        record_falls=record_falls,
        sources=sources,
        coverage=coverage,
    )
    merged: dict[datetime, set[str]] = {}
    for per_aggregator in sources.values():
        for at, found_sources in per_aggregator.items():
            merged.setdefault(at, set()).update(found_sources)
    covered = domain_metering.scope_coverage(coverage.values())
    return {
        at: SlotValue(value, _source(merged.get(at, set())), covered[at])
        for at, value in sorted(domain_metering.scope_sum(found.values()).items())
    }


def _source(found: set[str]) -> str:
    return next(iter(found)) if len(found) == 1 else MIXED_SOURCE
