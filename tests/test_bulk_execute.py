"""``store.bulk.execute``: a statement on the driver's cursor answers and fails as ``exec_driver_sql`` would.

The single-row statements of the write paths (idempotency record, CreateAggregator, the audit append)
and each group commit's BEGIN skip SQLAlchemy's execution context; what callers rely on stays: the
rows, ``rowcount``, a constraint violation raised as ``sa.exc.IntegrityError`` (which
``store.aggregators`` turns into ALREADY_EXISTS), a busy store classified as a fault.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import faults
from store.bulk import execute, execute_values
from store.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, threads=2)
    await database.write(
        lambda conn: conn.exec_driver_sql(
            "CREATE TABLE probe (n INTEGER PRIMARY KEY, label VARCHAR(20) NOT NULL)"
        )
    )
    try:
        yield database
    finally:
        await database.close()


async def test_rows_and_rowcounts_are_the_drivers(db: Database) -> None:
    def write(conn: Connection) -> tuple[object, ...]:
        inserted = execute(
            conn, "INSERT INTO probe (n, label) VALUES (?, ?) RETURNING n", (1, "one")
        ).scalar()
        many = execute_values(conn, "INSERT INTO probe (n, label)", [(2, "two"), (3, "three")])
        updated = execute(conn, "UPDATE probe SET label = ? WHERE n > ?", ("more", 1)).rowcount
        first = execute(conn, "SELECT n, label FROM probe ORDER BY n", ()).first()
        none = execute(conn, "SELECT n FROM probe WHERE n = ?", (9,)).first()
        count = execute(conn, "SELECT COUNT(*) FROM probe", ()).scalar_one()
        rows = execute(conn, "SELECT n FROM probe ORDER BY n", ()).fetchall()
        return inserted, many, updated, tuple(first), none, count, [tuple(row) for row in rows]

    assert await db.write(write) == (1, 2, 2, (1, "one"), None, 3, [(1,), (2,), (3,)])


async def test_scalar_one_wants_exactly_one_row(db: Database) -> None:
    def none(conn: Connection) -> object:
        return execute(conn, "SELECT n FROM probe", ()).scalar_one()

    with pytest.raises(sa.exc.NoResultFound):
        await db.read(none)


async def test_a_constraint_violation_is_sqlalchemys_integrity_error_and_rolls_back(db: Database) -> None:
    def twice(conn: Connection) -> None:
        execute(conn, "INSERT INTO probe (n, label) VALUES (?, ?)", (1, "one"))
        execute(conn, "INSERT INTO probe (n, label) VALUES (?, ?)", (1, "again"))

    with pytest.raises(sa.exc.IntegrityError):
        await db.write(twice)
    assert await db.read(lambda conn: execute(conn, "SELECT COUNT(*) FROM probe", ()).scalar_one()) == 0
    # The store is usable afterwards: the failed transaction was rolled back, its connection returned.
    await db.write(lambda conn: execute(conn, "INSERT INTO probe (n, label) VALUES (?, ?)", (1, "one")))
    assert await db.read(lambda conn: execute(conn, "SELECT label FROM probe", ()).scalar()) == "one"


async def test_a_driver_error_is_wrapped_for_fault_classification(db: Database) -> None:
    def broken(conn: Connection) -> None:
        execute(conn, "SELECT no_such_column FROM probe", ())

    with pytest.raises(sa.exc.DBAPIError) as raised:
        await db.read(broken)
    # Not a store fault (a bug): classified as nothing, so it stays INTERNAL.
    assert faults.classify(raised.value) is None
