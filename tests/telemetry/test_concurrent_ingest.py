"""Two transactions storing the same new reading at once (SPEC F2 arrival rules, PostgreSQL).

Both read the key as absent; the first inserts and holds its transaction
open; the second's insert waits on it (seen in pg_stat_activity), then finds
the key taken when the first commits. The second arrival must not be dropped
while acknowledged as stored: with other values it is a correction (stored,
recorded, counted so), with the same values a duplicate. SQLite has one
writer at a time (BEGIN IMMEDIATE), so no two inserts can race there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.errors import AlreadyExists
from domain.telemetry import Reading
from store import aggregators, migrate, telemetry
from store.db import Database
from store.registry import Charger, GridNode, Station, chargers
from store.telemetry import corrections_table, meter_values
from wire import notices as wire_notices

from waiting import until, waiting_on_a_lock, within

pytestmark = pytest.mark.timeout(120)

CHARGING = 3
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: two inserts never race")
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    migrate.upgrade(database_url)
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        use_cases.upsert_grid_nodes(
            UnitOfWork(conn, now), [GridNode("ta1", "TRANSFORMER_AREA", None, "", 0, 0)]
        )
        aggregators.create(
            conn,
            aggregator_id="agg-1",
            display_name="",
            unified_social_credit_code="",
            contact_email="",
            now=now,
        )
        use_cases.upsert_stations(UnitOfWork(conn, now), "agg-1", [Station("st-1", "", "ta1", 0, 0)])
        use_cases.upsert_chargers(
            UnitOfWork(conn, now), "agg-1", [Charger("c0", "st-1", "AC", 22_000, 0, False, False)]
        )
    try:
        yield db
    finally:
        db.engine.dispose()


def _reading(at: datetime, power_w: int) -> Reading:
    return Reading("c0", at, power_w, None, Decimal("0.5"), CHARGING)


def _ingest(conn: Connection, batch_id: str, readings: list[Reading]) -> telemetry.BatchResult:
    return telemetry.ingest_batch(
        conn,
        charger_id=None,
        aggregator_id="agg-1",
        batch_id=batch_id,
        readings=readings,
        aggregates=(),
        now=datetime.now(UTC),
        max_skew=timedelta(days=3650),
    )


async def _race(
    db: Database, first: list[Reading], second: list[Reading], same_batch_id: bool = False
) -> tuple[Any, Any, str]:
    """``first`` stored in a transaction held open until ``second``'s insert waits on it."""
    holder = db.engine.connect()
    waiter = db.engine.connect()
    try:
        holder.begin()
        first_batch = "b1-" + uuid.uuid4().hex
        first_result = _ingest(holder, first_batch, first)
        pid = waiter.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        waiter.rollback()
        second_batch = first_batch if same_batch_id else "b2-" + uuid.uuid4().hex

        def write_second() -> telemetry.BatchResult:
            with waiter.begin():
                return _ingest(waiter, second_batch, second)

        pending = asyncio.get_running_loop().run_in_executor(None, write_second)

        await until(
            waiting_on_a_lock(db.engine, pid), what="the second insert waiting on the first transaction"
        )
        holder.commit()
        second_result = await within(pending, what="the second transaction")
        return first_result, second_result, second_batch
    finally:
        holder.close()
        waiter.close()


def _rows(db: Database) -> dict[datetime, int]:
    with db.engine.connect() as conn:
        return {
            row.sample_time: row.power_w
            for row in conn.execute(sa.select(meter_values.c.sample_time, meter_values.c.power_w))
        }


def _corrections(db: Database) -> list[tuple[int, int, str]]:
    c = corrections_table.c
    with db.engine.connect() as conn:
        return [
            (row.old_power_w, row.new_power_w, row.batch_id)
            for row in conn.execute(sa.select(c.old_power_w, c.new_power_w, c.batch_id).order_by(c.id))
        ]


async def test_a_new_reading_written_twice_at_once_with_other_values_is_a_correction(store: Database) -> None:
    minute = timedelta(minutes=1)
    first, second, batch = await _race(
        store, [_reading(T0, 1_000)], [_reading(T0, 5_000), _reading(T0 + minute, 2_000)]
    )

    assert (first.stored_points, first.duplicate_points, first.corrected_points) == (1, 0, 0)
    # The second arrival: one new reading, one correction of what the first committed — not 2 stored.
    assert (second.stored_points, second.duplicate_points, second.corrected_points) == (1, 0, 1)
    assert _rows(store) == {T0: 5_000, T0 + minute: 2_000}  # the later arrival wins
    assert _corrections(store) == [(1_000, 5_000, batch)]
    assert first.stored_points + second.stored_points == len(_rows(store))


async def test_a_new_reading_written_twice_at_once_with_the_same_values_is_a_duplicate(
    store: Database,
) -> None:
    first, second, _ = await _race(store, [_reading(T0, 1_000)], [_reading(T0, 1_000)])

    assert (first.stored_points, second.stored_points, second.duplicate_points, second.corrected_points) == (
        1,
        0,
        1,
        0,
    )
    assert _rows(store) == {T0: 1_000}
    assert _corrections(store) == []


async def test_one_batch_id_with_other_content_at_once_is_refused_and_stores_nothing(store: Database) -> None:
    """The second batch's readings are other keys, so only the batch record meets the first's: it must
    still be refused (ALREADY_EXISTS BATCH_ID_REUSED) and roll back what it wrote."""
    with pytest.raises(AlreadyExists) as refused:
        await _race(
            store, [_reading(T0, 111)], [_reading(T0 + timedelta(seconds=1), 222)], same_batch_id=True
        )
    assert refused.value.reason == "BATCH_ID_REUSED"
    assert _rows(store) == {T0: 111}


async def test_one_batch_sent_twice_at_once_answers_the_first_counts(store: Database) -> None:
    readings = [_reading(T0, 1_000), _reading(T0 + timedelta(minutes=1), 2_000)]
    first, second, _ = await _race(store, readings, readings, same_batch_id=True)
    assert (first.stored_points, first.duplicate_points, first.replayed) == (2, 0, False)
    assert (second.stored_points, second.duplicate_points, second.corrected_points, second.replayed) == (
        2,
        0,
        0,
        True,
    )
    assert _rows(store) == {T0: 1_000, T0 + timedelta(minutes=1): 2_000}


def _store_alone(db: Database, batch_id: str, readings: list[Reading]) -> telemetry.BatchResult:
    with db.engine.begin() as conn:
        return _ingest(conn, batch_id, readings)


def _latest(db: Database) -> tuple[Any, Any]:
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(chargers.c.last_meter_time, chargers.c.last_power_w).where(
                chargers.c.charger_id == "c0"
            )
        ).one()
    return row.last_meter_time, row.last_power_w


async def test_a_batch_of_new_keys_repeated_within_it_is_copied_with_its_last_values(store: Database) -> None:
    """All keys new: the COPY path. A key repeated in the batch counts as a correction (recorded) and
    the later position's values are stored; the charger takes the newest reading."""
    minute = timedelta(minutes=1)
    result = _store_alone(
        store, "b-repeat", [_reading(T0, 1_000), _reading(T0 + minute, 2_000), _reading(T0, 3_000)]
    )
    assert (result.stored_points, result.duplicate_points, result.corrected_points) == (2, 0, 1)
    assert _rows(store) == {T0: 3_000, T0 + minute: 2_000}
    assert _corrections(store) == [(1_000, 3_000, "b-repeat")]
    assert _latest(store) == (T0 + minute, 2_000)


async def test_a_batch_with_one_stored_key_falls_back_and_counts_it_against_the_stored_row(
    store: Database,
) -> None:
    """One key taken: the COPY fails on it and rolls back to its savepoint; the staged path stores the
    new keys and counts the taken one as a correction of the stored row, in the same transaction."""
    minute = timedelta(minutes=1)
    _store_alone(store, "b-first", [_reading(T0 + minute, 1_000)])
    with store.engine.begin() as conn:
        result = _ingest(
            conn,
            "b-second",
            [_reading(T0, 500), _reading(T0 + minute, 4_000), _reading(T0 + 2 * minute, 600)],
        )
        # The transaction goes on after the fallback: a later batch in it is stored too.
        later = _ingest(conn, "b-third", [_reading(T0 + 3 * minute, 700)])
    assert (result.stored_points, result.duplicate_points, result.corrected_points) == (2, 0, 1)
    assert (later.stored_points, later.duplicate_points, later.corrected_points) == (1, 0, 0)
    assert _rows(store) == {T0: 500, T0 + minute: 4_000, T0 + 2 * minute: 600, T0 + 3 * minute: 700}
    assert _corrections(store) == [(1_000, 4_000, "b-second")]
    assert _latest(store) == (T0 + 3 * minute, 700)
