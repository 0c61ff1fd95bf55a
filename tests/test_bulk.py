"""store.bulk's batch statements on both stores: arrays on PostgreSQL, placeholders on SQLite, same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Connection

from store import bulk
from store.db import create_engine

_TABLE = (
    "CREATE TABLE bulk_probe (id varchar(64) PRIMARY KEY, owner varchar(40) NOT NULL, n bigint NOT NULL,"
    " flag boolean NOT NULL, at {time} NULL)"
)
_HEAD = "INSERT INTO bulk_probe (id, owner, n, flag, at)"
_TYPES = ("varchar", "varchar", "bigint", "boolean", "timestamptz")
_TAIL = " ON CONFLICT (id) DO UPDATE SET n = excluded.n, at = excluded.at WHERE bulk_probe.owner = ?"


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            time_type = "timestamptz" if connection.dialect.name == "postgresql" else "text"
            connection.exec_driver_sql(_TABLE.format(time=time_type))
            yield connection
    finally:
        engine.dispose()


def _rows(conn: Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.exec_driver_sql("SELECT id, owner, n, flag FROM bulk_probe ORDER BY id")]


def test_insert_rows_with_an_upsert_tail_writes_and_counts_like_the_values_statements(
    conn: Connection,
) -> None:
    at = bulk.time_param(conn)(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    # More rows than one multi-row statement holds on SQLite; NULLs only in a column, and mixed.
    first = [(f"id-{i:05d}", "b" if i < 10 else "a", i, i % 2 == 0, None) for i in range(4_500)]
    assert bulk.insert_rows(conn, _HEAD, _TYPES, first, _TAIL, ("a",)) == 4_500
    again = [(f"id-{i:05d}", "a", -i, True, at if i % 3 else None) for i in range(4_600)]
    # The tail's WHERE leaves the 10 rows "b" holds alone: 4,490 updated, 100 inserted.
    assert bulk.insert_rows(conn, _HEAD, _TYPES, again, _TAIL, ("a",)) == 4_490 + 100
    rows = _rows(conn)
    assert len(rows) == 4_600
    assert rows[1] == ("id-00001", "b", 1, False)
    assert rows[11] == ("id-00011", "a", -11, False)
    assert rows[4_599] == ("id-04599", "a", -4_599, True)
    stamped = conn.exec_driver_sql("SELECT count(*) FROM bulk_probe WHERE at IS NOT NULL").scalar()
    assert stamped == len([i for i in range(10, 4_600) if i % 3])
    assert bulk.insert_rows(conn, _HEAD, _TYPES, [], _TAIL, ("a",)) == 0


def test_rows_any_and_in_lists_find_the_same_rows_in_one_statement_or_chunks(conn: Connection) -> None:
    rows = [(f"id-{i:05d}", "a", i, False, None) for i in range(12_000)]
    bulk.insert_rows(conn, _HEAD, _TYPES, rows)
    wanted = [f"id-{i:05d}" for i in range(0, 13_000, 2)]  # past the 5,000 a chunk; some absent
    found = bulk.rows_any(conn, "SELECT id, n FROM bulk_probe WHERE owner = ? AND id IN", ("a",), wanted)
    assert sorted(found) == [(f"id-{i:05d}", i) for i in range(0, 12_000, 2)]
    assert bulk.rows_any(conn, "SELECT id FROM bulk_probe WHERE id IN", (), []) == []
    assert bulk.rows_any(conn, "SELECT id FROM bulk_probe WHERE owner = ? AND id IN", ("b",), wanted) == []
    locked = bulk.rows_any(conn, "SELECT id FROM bulk_probe WHERE id IN", (), ["id-00003"], " ORDER BY id")
    assert [tuple(r) for r in locked] == [("id-00003",)]
    statements = bulk.id_chunks(conn, wanted)
    assert [len(c) for c in statements] == ([6_500] if conn.dialect.name == "postgresql" else [5_000, 1_500])
    with pytest.raises(ValueError):
        bulk._any_sql("SELECT id FROM bulk_probe WHERE id =", "")
