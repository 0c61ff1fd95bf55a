"""WAL checkpoints on SQLite run on the Database's checkpointer thread, never in the writer's COMMIT.

The writer's connections have SQLite's automatic checkpoint off; under
sustained writes the WAL stays bounded because the checkpointer copies it into
the database file and the writer starts it over; a clean close leaves every
committed row in the database file itself. PostgreSQL has no checkpointer.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from store.checkpoints import WalCheckpointer
from store.db import Database

from waiting import WAIT_S

_BLOB = 64 * 1024
_INSERT = sa.text("INSERT INTO probe (n, body) VALUES (:n, randomblob(:size))")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    if not database_url.startswith("sqlite"):
        pytest.skip("WAL checkpoints are SQLite's")
    database = Database(database_url, threads=2)
    await database.write(
        lambda conn: conn.exec_driver_sql("CREATE TABLE probe (n INTEGER PRIMARY KEY, body BLOB)")
    )
    try:
        yield database
    finally:
        await database.close()


async def _insert(db: Database, n: int) -> None:
    await db.write(lambda conn: conn.execute(_INSERT, {"n": n, "size": _BLOB}))


def _checkpointer(db: Database) -> WalCheckpointer:
    assert db.checkpointer is not None
    return db.checkpointer


async def test_only_sqlite_has_a_checkpointer(database_url: str) -> None:
    database = Database(database_url, threads=2)
    try:
        assert (database.checkpointer is not None) == database_url.startswith("sqlite")
    finally:
        await database.close()


async def test_no_checkpoint_in_a_commit(db: Database) -> None:
    setting = await db.write(lambda conn: conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
    assert setting == 0


async def test_wal_stays_bounded_under_sustained_writes(db: Database) -> None:
    checkpointer = _checkpointer(db)
    wal = checkpointer.wal_path
    largest = 0
    written = 0
    n = 0
    # Six times the threshold's worth of rows: without checkpoints the WAL would hold all of it.
    while written < 6 * checkpointer.wake_bytes:
        await _insert(db, n)
        n += 1
        written += _BLOB
        size = wal.stat().st_size
        largest = max(largest, size)
        if size >= checkpointer.wake_bytes:
            # The writer woke the checkpointer after that COMMIT: wait for a checkpoint to run.
            seen = checkpointer.checkpoints
            assert await asyncio.to_thread(checkpointer.wait_for, seen + 1, WAIT_S), "no checkpoint ran"
    assert checkpointer.checkpoints >= 5
    assert largest < 2 * checkpointer.wake_bytes, (largest, checkpointer.wake_bytes)


async def test_close_leaves_every_row_in_the_database_file(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("WAL checkpoints are SQLite's")
    database = Database(database_url, threads=2)
    await database.write(
        lambda conn: conn.exec_driver_sql("CREATE TABLE probe (n INTEGER PRIMARY KEY, body BLOB)")
    )
    for n in range(20):  # well under the threshold: no checkpoint before the close
        await _insert(database, n)
    checkpointer = _checkpointer(database)
    assert checkpointer.checkpoints == 0
    assert checkpointer.wal_path.stat().st_size > 0
    # Another connection keeps the file open, so closing the engine's last connection does not
    # checkpoint and remove the WAL itself: what is in the file is the checkpointer's doing.
    other = sqlite3.connect(checkpointer.path)
    try:
        other.execute("SELECT count(*) FROM probe").fetchall()
        await database.close()
        assert checkpointer.checkpoints == 1
        assert checkpointer.wal_path.stat().st_size == 0
        copy = tmp_path / "copy.db"
        shutil.copyfile(checkpointer.path, copy)  # the database file alone, without its WAL
    finally:
        other.close()
    alone = sqlite3.connect(copy)
    try:
        assert alone.execute("SELECT count(*) FROM probe").fetchall() == [(20,)]
    finally:
        alone.close()


async def test_writer_waits_for_a_truncate_at_the_hard_bound(db: Database) -> None:
    checkpointer = _checkpointer(db)
    # The hard bound at the threshold itself: every COMMIT that takes the WAL past it waits
    # for the WAL to be emptied before the writer goes on, however fast the writes come.
    checkpointer.truncate_factor = 1
    checkpointer.truncate_bytes = checkpointer.wake_bytes
    largest = 0
    for n in range(3 * checkpointer.wake_bytes // _BLOB):
        await _insert(db, n)
        largest = max(largest, checkpointer.wal_path.stat().st_size)
    assert checkpointer.checkpoints >= 2
    # One row's frames past the bound at most: the COMMIT that crossed it.
    assert largest < checkpointer.wake_bytes + 2 * _BLOB, (largest, checkpointer.wake_bytes)


async def test_a_wal_that_cannot_start_over_wakes_the_checkpointer_once_per_threshold_of_growth(
    db: Database,
) -> None:
    checkpointer = _checkpointer(db)
    # A reader holding its snapshot keeps the WAL from being copied whole and started over, as a
    # long report would: without the growth rule every COMMIT past the threshold woke another pass.
    reader = sqlite3.connect(checkpointer.path, isolation_level=None, check_same_thread=False)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM probe").fetchall()
        n = 0
        while checkpointer.wal_path.stat().st_size < checkpointer.wake_bytes:
            await _insert(db, n)
            n += 1
        await db.write(lambda conn: None)  # the writer has run committed() after every insert above
        assert checkpointer.wakes == 1
        woken_at = checkpointer.wal_path.stat().st_size
        # Writes adding less than another threshold's worth: no further wake.
        for _ in range(4):
            await _insert(db, n)
            n += 1
        await db.write(lambda conn: None)
        assert checkpointer.wal_path.stat().st_size < woken_at + checkpointer.wake_bytes
        assert checkpointer.wakes == 1
        # Another threshold's worth of growth: woken again.
        while checkpointer.wal_path.stat().st_size < woken_at + checkpointer.wake_bytes:
            await _insert(db, n)
            n += 1
        await db.write(lambda conn: None)
        assert checkpointer.wakes == 2
    finally:
        reader.execute("COMMIT")
        reader.close()
