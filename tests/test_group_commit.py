"""Writes queued together (SQLite group commit): each caller's own outcome, effects and after_commit hooks.

A first write holds the writer while three more queue behind it, so on SQLite
they commit as one group; on PostgreSQL they run concurrently. Either way a
write that raises loses only its own effects, a write that fails at COMMIT
fails alone, and an after_commit hook runs only for a committed write, after
its row is visible to other connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.db import Database, after_commit
from wire import notices as wire_notices

from waiting import WAIT_S

_INSERT = sa.text("INSERT INTO probe (n, parent) VALUES (:n, :parent)")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, threads=4, publisher=wire_notices.publish)
    await database.write(
        lambda conn: conn.exec_driver_sql(
            "CREATE TABLE probe (n INTEGER PRIMARY KEY,"
            " parent INTEGER REFERENCES probe (n) DEFERRABLE INITIALLY DEFERRED)"
        )
    )
    try:
        yield database
    finally:
        await database.close()


def _committed(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT n FROM probe").scalars())


def _insert(
    db: Database, n: int, seen: dict[int, list[int]], *, parent: int | None = None, fail: bool = False
) -> Callable[[Connection], int]:
    def write(conn: Connection) -> int:
        conn.execute(_INSERT, {"n": n, "parent": parent})
        after_commit(conn, lambda: seen.__setitem__(n, _committed(db)))
        if fail:
            raise ValueError(f"write {n} refused")
        return n

    return write


async def _queued_behind_a_held_writer(db: Database, writes: list[Callable[[Connection], int]]) -> list[Any]:
    holding, gate = threading.Event(), threading.Event()

    def hold(conn: Connection) -> bool:
        holding.set()
        return gate.wait(WAIT_S)

    held = asyncio.ensure_future(db.write(hold))
    assert await asyncio.to_thread(holding.wait, WAIT_S), "the first write never started"
    queued = [asyncio.ensure_future(db.write(write)) for write in writes]
    # One turn of the loop runs each task up to its first suspension: on SQLite that has queued
    # its write behind the held one (queueing is synchronous); on PostgreSQL each is running.
    await asyncio.sleep(0)
    gate.set()
    assert await held is True
    return await asyncio.gather(*queued, return_exceptions=True)


async def test_a_write_that_raises_loses_only_its_own_effects(db: Database) -> None:
    seen: dict[int, list[int]] = {}
    results = await _queued_behind_a_held_writer(
        db, [_insert(db, 1, seen), _insert(db, 2, seen, fail=True), _insert(db, 3, seen)]
    )
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "write 2 refused"
    assert results[2] == 3
    assert _committed(db) == [1, 3]
    assert sorted(seen) == [1, 3]
    assert 1 in seen[1]
    assert 3 in seen[3]


async def test_a_write_that_fails_at_commit_fails_alone(db: Database) -> None:
    seen: dict[int, list[int]] = {}
    # Row 2 names a parent that never exists: the deferred foreign key fails the COMMIT.
    results = await _queued_behind_a_held_writer(
        db, [_insert(db, 1, seen), _insert(db, 2, seen, parent=99), _insert(db, 3, seen)]
    )
    assert results[0] == 1
    assert isinstance(results[1], sa.exc.IntegrityError)
    assert results[2] == 3
    assert _committed(db) == [1, 3]
    assert sorted(seen) == [1, 3]
    assert seen[1][0] == 1
    assert 3 in seen[3]
