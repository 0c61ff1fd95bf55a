"""Two CreateAggregator transactions racing for one id or display name (PostgreSQL).

Both check for a clash before either commits; the first inserts and holds its
transaction open; the second's insert waits on it (seen in pg_stat_activity),
then finds the id or name taken when the first commits. The loser is refused
with the same reason and metadata as when the check itself saw the winner
(AGGREGATOR_EXISTS, or DISPLAY_NAME_TAKEN naming the holder), and writes
nothing. SQLite has one writer at a time (BEGIN IMMEDIATE): no two creates race.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from domain.errors import AlreadyExists
from store import aggregators, migrate
from store.db import Database

from waiting import until, waiting_on_a_lock, within

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: two creates never race")
    migrate.upgrade(database_url)
    db = Database(database_url, threads=2)
    try:
        yield db
    finally:
        db.engine.dispose()


def _create(conn: sa.Connection, aggregator_id: str, display_name: str) -> aggregators.Aggregator:
    return aggregators.create(
        conn,
        aggregator_id=aggregator_id,
        display_name=display_name,
        unified_social_credit_code="",
        contact_email="",
        now=datetime.now(UTC),
    )


async def _race(db: Database, first: tuple[str, str], second: tuple[str, str]) -> AlreadyExists:
    """``first`` created in a transaction held open until ``second``'s insert waits on it; the refusal."""
    holder = db.engine.connect()
    waiter = db.engine.connect()
    try:
        holder.begin()
        _create(holder, *first)
        pid = waiter.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        waiter.rollback()

        def create_second() -> AlreadyExists:
            with pytest.raises(AlreadyExists) as refused, waiter.begin():
                _create(waiter, *second)
            return refused.value

        pending = asyncio.get_running_loop().run_in_executor(None, create_second)

        await until(
            waiting_on_a_lock(db.engine, pid), what="the second insert waiting on the first transaction"
        )
        holder.commit()
        return await within(pending, what="the second transaction")
    finally:
        holder.close()
        waiter.close()


def _ids(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT aggregator_id FROM aggregators").scalars())


async def test_the_loser_of_a_display_name_race_is_told_the_name_is_taken_and_by_whom(
    store: Database,
) -> None:
    refused = await _race(store, ("winner", "Same Name"), ("loser", "Same Name"))
    assert refused.reason == "DISPLAY_NAME_TAKEN"
    assert refused.metadata == {"aggregator_id": "winner"}
    assert _ids(store) == ["winner"]


async def test_the_loser_of_an_id_race_is_told_the_aggregator_exists(store: Database) -> None:
    refused = await _race(store, ("same-id", "First"), ("same-id", "Second"))
    assert refused.reason == "AGGREGATOR_EXISTS"
    assert refused.metadata == {"aggregator_id": "same-id"}
    assert _ids(store) == ["same-id"]
