"""Bulk SQL for the store's batch paths: the dialect's INSERT … ON CONFLICT, executemany on the driver,
chunked IN lists, and UTC times as the driver takes and returns them.

The charger, telemetry and capacity batches (up to 10,000 rows) skip
SQLAlchemy's per-row parameter and result processing where it costs more than
the query: ``execute_many`` / ``rows_in`` / ``select_in`` run a fixed
statement (``?`` placeholders, rewritten for the driver's paramstyle) with
driver-ready values (``time_param``, ``time_result``). Large IN lists are
split in ``chunks`` so SQLite stays under its bound-parameter limit.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from store.tables import UTCDateTime

T = TypeVar("T")

# Large IN lists are split so SQLite stays under its bound-parameter limit.
_CHUNK = 5000


# PostgreSQL: the staging table a telemetry batch is COPYed into (``store.telemetry``), one per session,
# emptied at every commit. Made when the pool opens a connection (``stage_on_connect``), so a batch runs
# no DDL; a connection without it makes it inside the batch's transaction (``ensure_stage``).
METER_STAGE = "pg_temp.vgi_meter_stage"
_STAGE_MADE = "vgi_meter_stage"
_METER_STAGE_DDL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {METER_STAGE} (charger_id varchar(64) NOT NULL,"
    " sample_time timestamptz NOT NULL, power_w bigint, energy_register_wh bigint, export_register_wh bigint,"
    " soc_ppb bigint, status smallint NOT NULL) ON COMMIT DELETE ROWS"
)


def stage_on_connect(dbapi_connection: Any, record: Any) -> None:
    """Pool ``connect`` hook (PostgreSQL): the session's staging table, committed before first use."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(_METER_STAGE_DDL)
    dbapi_connection.commit()
    record.info[_STAGE_MADE] = True


def ensure_stage(conn: Connection, cursor: Any) -> None:
    """The staging table exists for ``cursor``'s session (made in this transaction if the pool did not)."""
    if not conn.connection.info.get(_STAGE_MADE):
        cursor.execute(_METER_STAGE_DDL)


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update``."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _mark(conn: Connection) -> str:
    return "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"


def placeholder(conn: Connection) -> str:
    """The driver's positional parameter mark: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return _mark(conn)


@functools.cache
def _driver_sql(sql: str, mark: str) -> str:
    return sql.replace("?", mark)


def execute_many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run ``sql`` (``?`` placeholders, no other ``?`` or ``%``) once per row tuple, straight on the driver;
    the rows it changed, summed (both drivers sum ``rowcount`` over an executemany).

    The bulk paths skip SQLAlchemy's per-row parameter processing: the caller
    passes driver-ready values (times through ``time_param``).
    """
    if not rows:
        return 0
    return int(conn.exec_driver_sql(_driver_sql(sql, _mark(conn)), list(rows)).rowcount)


# Rows per multi-row statement: 2,000 rows of up to 16 values stay under SQLite's 32,766 bound parameters
# (and PostgreSQL's 65,535).
_VALUES_ROWS = 2000


@functools.cache
def _values_sql(head: str, width: int, count: int, tail: str, mark: str) -> str:
    row = "(" + ", ".join([mark] * width) + ")"
    return f"{_driver_sql(head, mark)} VALUES {', '.join([row] * count)}{_driver_sql(tail, mark)}"


def execute_values(
    conn: Connection,
    head: str,
    rows: Sequence[tuple[Any, ...]],
    tail: str = "",
    tail_params: tuple[Any, ...] = (),
) -> int:
    """``head VALUES (…), (…), … tail`` (``?`` placeholders; ``tail`` e.g. an ON CONFLICT clause with
    ``tail_params``) for the row tuples, as few multi-row statements as the parameter limits allow,
    straight on the driver; the rows they changed, summed.

    One statement per 2,000 rows rather than ``execute_many``'s one per row: on SQLite, binding and
    stepping a row per statement costs about twice the multi-row insert of the same rows.
    """
    if not rows:
        return 0
    width = len(rows[0])
    if width * _VALUES_ROWS + len(tail_params) > 32_000:
        raise ValueError("too many values per row for one multi-row statement")
    mark = _mark(conn)
    changed = 0
    for start in range(0, len(rows), _VALUES_ROWS):
        chunk = rows[start : start + _VALUES_ROWS]
        params = list(itertools.chain.from_iterable(chunk))
        params.extend(tail_params)
        sql = _values_sql(head, width, len(chunk), tail, mark)
        changed += on_cursor(conn, sql, tuple(params)).rowcount
    return changed


@functools.cache
def _unnest_sql(head: str, types: tuple[str, ...], tail: str) -> str:
    # %b: psycopg dumps each list in binary (~30 ms for 11 columns of 10,000), where the text format quotes
    # every element in Python (~150-180 ms).
    arrays = ", ".join(f"CAST(%b AS {sql_type}[])" for sql_type in types)
    return f"{head} SELECT * FROM unnest({arrays}){tail}"


def insert_rows(
    conn: Connection,
    head: str,
    pg_types: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    tail: str = "",
    tail_params: tuple[Any, ...] = (),
) -> int:
    """``head`` (``INSERT INTO t (columns)``) for the row tuples in as few statements as the store takes
    best, then ``tail`` (``?`` placeholders, e.g. an ON CONFLICT clause, with ``tail_params``); the rows
    inserted (or updated by the tail). ``pg_types``: each column's PostgreSQL type.

    PostgreSQL: ONE statement, ``head SELECT * FROM unnest(one array per column) tail`` — one parameter
    per column whatever the number of rows, dumped by psycopg in binary. A multi-row VALUES of 2,000 rows has 12,000 placeholders,
    which psycopg finds by parsing the statement text on every execution (it caches only statements
    under 4 KiB): ~45 ms a statement, more than the insert. SQLite: ``execute_values``.
    """
    if not rows:
        return 0
    if conn.dialect.name != "postgresql":
        return execute_values(conn, head, rows, tail, tail_params)
    columns = tuple(list(column) for column in zip(*rows, strict=True))
    sql = _unnest_sql(head, tuple(pg_types), _driver_sql(tail, "%s"))
    return int(conn.exec_driver_sql(sql, (*columns, *tail_params)).rowcount)


def text_array(values: Sequence[str]) -> str:
    """PostgreSQL: strings as one array literal (``{"a","b"}``), bound as text and cast in the statement
    (``%s::varchar[]``). Joined in one C call: psycopg's binary list dumper takes each element in Python,
    ~0.3 ms of the caller's CPU for 1,000 charger ids against ~0.04 ms. Every element quoted (a bare
    ``NULL`` is the null value); a backslash or a double quote in one is escaped."""
    joined = '","'.join(values)
    if "\\" in joined or joined.count('"') != 2 * (len(values) - 1):
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + joined + '"}' if values else "{}"


def int_array(values: Sequence[int | None]) -> str:
    """PostgreSQL: integers (None is NULL) as one array literal, bound as text and cast (``%s::int8[]``);
    see ``text_array`` (psycopg's binary list dumper: ~0.5 ms for 1,000 values, this ~0.1)."""
    if None in values:
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    return "{" + ",".join(map(str, values)) + "}"


@functools.cache
def _any_sql(sql: str, suffix: str) -> str:
    head = sql.removesuffix(" IN")
    if head == sql:
        raise ValueError("the statement must end in IN")
    return f"{_driver_sql(head, '%s')} = ANY(CAST(%b AS text[])){suffix}"


def in_list_sql(conn: Connection, sql: str, count: int, suffix: str = "") -> str:
    """``sql`` (``?`` placeholders, ending in ``IN``) with a list of ``count`` ids, then ``suffix``. On
    PostgreSQL the list is ONE text[] parameter, ``= ANY(…)`` (what PostgreSQL makes of an IN list
    anyway): a statement with thousands of placeholders is parsed by psycopg on every execution (see
    ``insert_rows``). On SQLite, ``count`` placeholders. Its parameters: ``in_list_params``."""
    if conn.dialect.name == "postgresql":
        return _any_sql(sql, suffix)
    return f"{_driver_sql(sql, '?')} ({', '.join(['?'] * count)}){suffix}"


def in_list_params(conn: Connection, params: tuple[Any, ...], ids: Sequence[str]) -> tuple[Any, ...]:
    """The parameters of ``in_list_sql``'s statement: ``params``, then the ids as the store takes them."""
    return (*params, list(ids)) if conn.dialect.name == "postgresql" else (*params, *ids)


def id_chunks(conn: Connection, ids: Sequence[str]) -> list[Sequence[str]]:
    """``ids`` split as ``in_list_sql`` takes them: whole on PostgreSQL (one array parameter), in
    ``chunks`` on SQLite (its bound-parameter limit); none when there are none."""
    if not ids:
        return []
    return [ids] if conn.dialect.name == "postgresql" else list(chunks(ids))


def rows_any(
    conn: Connection, sql: str, params: tuple[Any, ...], ids: Sequence[str], suffix: str = ""
) -> list[Any]:
    """``rows_in`` in as few statements as ``in_list_sql`` allows: on PostgreSQL one, the ids as an array."""
    out: list[Any] = []
    for chunk in id_chunks(conn, ids):
        out += conn.exec_driver_sql(
            in_list_sql(conn, sql, len(chunk), suffix), in_list_params(conn, params, chunk)
        ).fetchall()
    return out


class DriverResult:
    """What a single-row statement run by ``execute`` gives back: the driver's cursor, closed as soon as
    its rows are taken (or at once when the statement returns none), with the few result methods the
    callers use (``first``, ``scalar``, ``scalar_one``, ``fetchall``, ``rowcount``), as SQLAlchemy's
    result would close and answer them. Rows are the driver's tuples."""

    __slots__ = ("_cursor", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.rowcount: int = cursor.rowcount
        if cursor.description is None:
            cursor.close()

    def fetchall(self) -> list[Any]:
        try:
            return list(self._cursor.fetchall())
        finally:
            self._cursor.close()

    def first(self) -> Any:
        """The first row, or None; the rest are discarded."""
        try:
            return self._cursor.fetchone()
        finally:
            self._cursor.close()

    def scalar(self) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        """The first column of the only row; raises unless there is exactly one."""
        rows = self.fetchall()
        if len(rows) != 1:
            raise sa.exc.NoResultFound("no row") if not rows else sa.exc.MultipleResultsFound("several rows")
        return rows[0][0]


def execute(conn: Connection, sql: str, params: tuple[Any, ...]) -> DriverResult:
    """``sql`` (``?`` placeholders, no other ``?`` or ``%``) once with driver-ready ``params`` on a cursor of
    the connection's driver: a single-row statement through SQLAlchemy's ``exec_driver_sql`` costs several
    times the statement itself in its execution context, cursor events and result set-up
    (CreateAggregator's, the idempotency record's, the audit append's). No cursor event fires (the
    platform registers none, as for the group commit's savepoints); a driver error is raised as
    SQLAlchemy's (``sa.exc.IntegrityError`` …, a lost PostgreSQL connection invalidated) by the
    connection's own handling, exactly as ``exec_driver_sql`` raises it."""
    return on_cursor(conn, _driver_sql(sql, _mark(conn)), params)


def on_cursor(conn: Connection, statement: str, params: tuple[Any, ...] = ()) -> DriverResult:
    """``statement`` (already in the driver's paramstyle) on a new cursor of the connection's driver; see
    ``execute``."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement, params)
    except Exception as error:
        # Wrapped (and a lost connection invalidated) by the connection, as its own statements' errors are.
        conn._handle_dbapi_exception(error, statement, params, cursor, None)
    return DriverResult(cursor)


def select_in(conn: Connection, sql: str, params: tuple[Any, ...], ids: Sequence[str]) -> set[str]:
    """The first column of ``sql`` (``?`` placeholders, ending in ``IN``) with ``params``, for every chunk of ``ids``.

    Straight on the driver: SQLAlchemy's expanding IN renders a named
    parameter per id, which costs more than the query for thousands of ids.
    """
    return {row[0] for row in rows_in(conn, sql, params, ids)}


def rows_in(
    conn: Connection, sql: str, params: tuple[Any, ...], ids: Sequence[str], suffix: str = ""
) -> Iterable[Any]:
    """The driver's rows of ``sql`` (``?`` placeholders, ending in ``IN``) with ``params``, for every chunk of
    ``ids`` (``suffix`` after the list): no type processing (times through ``time_result``)."""
    mark = _mark(conn)
    prefix = _driver_sql(sql, mark)
    for chunk in chunks(ids):
        # fetchall: taking a batch's rows one by one through the result costs a Python call each.
        yield from conn.exec_driver_sql(
            f"{prefix} ({', '.join([mark] * len(chunk))}){suffix}", (*params, *chunk)
        ).fetchall()


# The UTC column's processors per dialect class (what they do depends on the class's column types only):
# making them costs ~17 µs a time, more than the statement a single-row write binds them for.
_TIME_PROCESSORS: dict[type[Any], tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]] = {}


def _time_processors(conn: Connection) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]:
    """(bind processor, result processor) of ``UTCDateTime`` for the connection's dialect."""
    dialect = conn.dialect
    processors = _TIME_PROCESSORS.get(type(dialect))
    if processors is None:
        impl = UTCDateTime().dialect_impl(dialect)
        processors = _TIME_PROCESSORS[type(dialect)] = (
            impl.bind_processor(dialect),
            impl.result_processor(dialect, None),
        )
    return processors


def time_result(conn: Connection) -> Callable[[Any], datetime | None]:
    """A stored UTC time as the driver returns it (SQLite's text, PostgreSQL's datetime) as an aware datetime;
    each distinct value is converted once (a batch's rows share their update_time)."""
    process = _time_processors(conn)[1]
    seen: dict[Any, datetime | None] = {None: None}

    def convert(value: Any) -> datetime | None:
        try:
            return seen[value]
        except KeyError:
            seen[value] = converted = process(value) if process is not None else value
            return converted

    return convert


def time_param(conn: Connection) -> Callable[[datetime], Any]:
    """A UTC time as the driver takes it: SQLite's stored text, PostgreSQL's aware datetime."""
    process = _time_processors(conn)[0]
    if process is None:
        return _unchanged
    return process


def _unchanged(value: datetime) -> Any:
    return value


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: Any = None,
) -> None:
    """INSERT the rows, or on a key conflict overwrite ``update`` columns (where ``where`` holds), in one executemany."""
    if not rows:
        return
    stmt = dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: stmt.excluded[name] for name in update},
        where=where,
    )
    conn.execute(stmt, list(rows))


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
