"""The denormalised F3 inputs of the active sessions (table ``capacity_sessions``), kept in step with
the registry.

A node's real-time capacity over 100,000 sessions spent most of its time in
the database joining sessions to their charger (a key lookup into a million
rows each) and its station. Everything in that join that does not depend on
the time of the query is kept here instead, one row per active session whose
charger and station are live: the station's grid node, Pc and Pd with the
charger's limits applied, the energy terms in ppb, the departure in µs since
the epoch, the plug-in and the charger's latest meter value. The query reads
this one table; the decisions that depend on ``now`` (meter freshness, the
departure horizon) stay in it.

Every store function that writes what a row derives from calls one of the
functions below in the same transaction: sessions (``store.registry.write_sessions``,
``end_session``), chargers and stations (their writes and soft deletes), the
latest meter value (``store.telemetry``). A row is always recomputed from the
registry by the same SELECT (``refresh_*``), never patched field by field, so
it cannot drift from the join it replaces; ``rebuild`` recomputes every row
(after a bulk load that bypassed the store, as the migration's backfill does).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from store.bulk import chunks, in_list_params, in_list_sql, placeholder, text_array

COLUMNS = (
    "aggregator_id, session_id, charger_id, grid_node_id, battery_wh, need_ppb, above_floor_ppb,"
    " departure_us, charge_w, discharge_w, plug_in_time, meter_power_w, meter_time"
)

# Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC on SQLite (store.tables.UTCDateTime): whole seconds by
# strftime, the six digits after the point as they are; EXTRACT(EPOCH …) is exact (numeric) on
# PostgreSQL ≥ 14.
DEPARTURE_US = {
    "sqlite": "(CAST(strftime('%s', s.expected_departure_time) AS INTEGER) * 1000000"
    " + CAST(substr(s.expected_departure_time, 21, 6) AS INTEGER))",
    "postgresql": "CAST(EXTRACT(EPOCH FROM s.expected_departure_time) * 1000000 AS BIGINT)",
}

SOURCE = (
    "SELECT s.aggregator_id, s.session_id, s.charger_id, st.grid_node_id, s.battery_wh,"
    " s.target_soc_ppb - s.soc_ppb, s.soc_ppb - s.v2g_floor_soc_ppb, {departure},"
    " CASE WHEN s.max_charge_w <= c.rated_charge_w THEN s.max_charge_w ELSE c.rated_charge_w END,"
    " CASE WHEN s.bidirectional AND c.bidirectional THEN"
    " CASE WHEN s.max_discharge_w <= c.rated_discharge_w THEN s.max_discharge_w ELSE c.rated_discharge_w END"
    " END,"
    " s.plug_in_time, c.last_power_w, c.last_meter_time"
    " FROM ev_sessions s JOIN chargers c ON c.charger_id = s.charger_id"
    " JOIN stations st ON st.aggregator_id = c.aggregator_id AND st.station_id = c.station_id"
    " WHERE s.state = 'ACTIVE' AND c.delete_time IS NULL AND st.delete_time IS NULL"
)
"""One capacity row per active session on a live charger at a live station (what the registry
join of the capacity query selected); the caller appends its ``AND …``."""


def insert_sql(dialect: str) -> str:
    """INSERT INTO capacity_sessions of ``SOURCE`` for ``dialect`` (``sqlite``/``postgresql``), ``?`` marks."""
    return f"INSERT INTO capacity_sessions ({COLUMNS}) " + SOURCE.format(departure=DEPARTURE_US[dialect])


def _insert(conn: Connection) -> str:
    return insert_sql(conn.dialect.name)


def _driver(conn: Connection, sql: str) -> str:
    """``sql`` with ``?`` marks as the driver takes it (psycopg: ``%s``, a literal ``%`` doubled)."""
    mark = placeholder(conn)
    return sql if mark == "?" else sql.replace("%", "%%").replace("?", mark)


def _run_in(
    conn: Connection, sql: str, params: tuple[object, ...], ids: Sequence[str], close: str = ""
) -> None:
    """``sql`` (``?`` marks, ending in ``IN``) for every chunk of ``ids``, then ``close``, on the driver; on
    PostgreSQL one statement, the ids as one array (``store.bulk.in_list_sql``)."""
    if conn.dialect.name == "postgresql":
        # A literal % (the departure's strftime is SQLite's) doubled for psycopg; no ? but the marks.
        statement = in_list_sql(conn, sql.replace("%", "%%"), len(ids), close)
        conn.exec_driver_sql(statement, in_list_params(conn, params, ids))
        return
    mark = placeholder(conn)
    prefix = _driver(conn, sql)
    for chunk in chunks(ids):
        conn.exec_driver_sql(f"{prefix} ({', '.join([mark] * len(chunk))}){close}", (*params, *chunk))


def _lock(conn: Connection, sql: str, params: tuple[object, ...], ids: Sequence[str]) -> None:
    """On PostgreSQL, lock the chargers rows ``sql`` selects (in id order) before recomputing their
    sessions' rows: the latest meter value is written under that row lock (``store.telemetry``), so
    a concurrent reading either commits before this recomputation reads it or waits and then
    copies into the rows this transaction inserted. SQLite has one writer at a time."""
    if conn.dialect.name == "postgresql":
        _run_in(conn, sql, params, ids, " ORDER BY charger_id FOR UPDATE")


def refresh_chargers(conn: Connection, charger_ids: Sequence[str]) -> None:
    """Recompute the rows of the sessions on these chargers (their limits, station, liveness or
    sessions changed)."""
    if not charger_ids:
        return
    ids = sorted(set(charger_ids))
    _lock(conn, "SELECT charger_id FROM chargers WHERE charger_id IN", (), ids)
    _run_in(conn, "DELETE FROM capacity_sessions WHERE charger_id IN", (), ids)
    _run_in(conn, _insert(conn) + " AND s.charger_id IN", (), ids)


def refresh_stations(conn: Connection, aggregator_id: str, station_ids: Sequence[str]) -> None:
    """Recompute the rows of the sessions on the chargers at these stations of the aggregator (their grid
    node or liveness changed)."""
    if not station_ids:
        return
    ids = sorted(set(station_ids))
    _lock(
        conn,
        "SELECT charger_id FROM chargers WHERE aggregator_id = ? AND station_id IN",
        (aggregator_id,),
        ids,
    )
    _run_in(
        conn,
        "DELETE FROM capacity_sessions WHERE charger_id IN"
        " (SELECT charger_id FROM chargers WHERE aggregator_id = ? AND station_id IN",
        (aggregator_id,),
        ids,
        ")",
    )
    _run_in(conn, _insert(conn) + " AND c.aggregator_id = ? AND c.station_id IN", (aggregator_id,), ids)


def drop_sessions(conn: Connection, aggregator_id: str, session_ids: Sequence[str]) -> None:
    """Remove the rows of these sessions of the aggregator (ended, or about to be recomputed)."""
    if session_ids:
        _run_in(
            conn,
            "DELETE FROM capacity_sessions WHERE aggregator_id = ? AND session_id IN",
            (aggregator_id,),
            sorted(set(session_ids)),
        )


_REFRESH_METERS_ANY = (
    "UPDATE capacity_sessions SET"
    " meter_power_w = (SELECT c.last_power_w FROM chargers c WHERE c.charger_id = capacity_sessions.charger_id),"
    " meter_time = (SELECT c.last_meter_time FROM chargers c WHERE c.charger_id = capacity_sessions.charger_id)"
    " WHERE charger_id = ANY(%s::varchar[])"
)


def refresh_meters(conn: Connection, charger_ids: Sequence[str]) -> None:
    """Copy these chargers' latest meter value (``chargers.last_power_w``/``last_meter_time``, which
    ``store.telemetry`` keeps: an older reading changes nothing, a correction of the latest replaces it)
    into their sessions' rows."""
    if not charger_ids:
        return
    if conn.dialect.name == "postgresql":
        # One array parameter: a batch's thousand ids as placeholders cost psycopg a parse of the statement
        # text (uncached over 4 KiB) several times the update of a fleet without active sessions. As one
        # literal (store.bulk.text_array): psycopg's binary list dumper takes each id in Python.
        conn.exec_driver_sql(_REFRESH_METERS_ANY, (text_array(sorted(set(charger_ids))),))
        return
    _run_in(
        conn,
        "UPDATE capacity_sessions SET"
        " meter_power_w = (SELECT c.last_power_w FROM chargers c WHERE c.charger_id = capacity_sessions.charger_id),"
        " meter_time = (SELECT c.last_meter_time FROM chargers c WHERE c.charger_id = capacity_sessions.charger_id)"
        " WHERE charger_id IN",
        (),
        sorted(set(charger_ids)),
    )


def rebuild(conn: Connection) -> None:
    """Recompute every row from the registry."""
    conn.exec_driver_sql("DELETE FROM capacity_sessions")
    conn.exec_driver_sql(_driver(conn, _insert(conn)))
