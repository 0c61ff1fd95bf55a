"""meter_values partitioned by day on PostgreSQL (migration 0018_meter_partitions, ``store.partitions``):
the migration carries every reading both ways, a reading for a day without a partition is kept in the
default partition and moves into the day's partition when it is created, and meter-value retention
drops whole day partitions (PostgreSQL) or deletes rows (SQLite) — never a reading younger than the cut.
Runs on SQLite and PostgreSQL; time is passed in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.telemetry import Reading
from server.retention import Retention
from store import aggregators, migrate, partitions, telemetry
from store.db import Database
from store.registry import Charger, GridNode, Station
from store.telemetry import meter_values
from wire import notices as wire_notices

pytestmark = pytest.mark.timeout(120)

CHARGING = 3
NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
TODAY = NOW.date()


def _row(charger: str, at: datetime, power: int) -> dict[str, object]:
    return {
        "charger_id": charger,
        "sample_time": at,
        "power_w": power,
        "energy_register_wh": power * 10,
        "export_register_wh": None,
        "soc_ppb": 500_000_000,
        "status": CHARGING,
        "receive_time": at + timedelta(seconds=5),
    }


ROWS = [
    _row("c0", datetime(2020, 1, 1, 0, 0, tzinfo=UTC), 1),
    _row("c0", datetime(2026, 12, 5, 23, 59, tzinfo=UTC), 2),
    _row("c0", datetime(2026, 12, 6, 0, 0, tzinfo=UTC), 3),
    _row("c1", datetime(2026, 12, 6, 0, 0, tzinfo=UTC), 4),
    _row("c1", datetime(2026, 12, 7, 10, 0, tzinfo=UTC), 5),
]


def _stored(db: Database) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.select(meter_values).order_by(meter_values.c.charger_id, meter_values.c.sample_time)
            )
        ]


def _where(db: Database) -> dict[tuple[str, datetime], str]:
    """PostgreSQL: the partition each reading is stored in."""
    with db.engine.connect() as conn:
        return {
            (row[0], row[1]): row[2]
            for row in conn.exec_driver_sql(
                "SELECT charger_id, sample_time, tableoid::regclass::text FROM meter_values"
            )
        }


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        yield database
    finally:
        database.engine.dispose()


def test_the_migration_carries_every_reading_into_day_partitions_and_back(
    database_url: str, db: Database
) -> None:
    migrate.upgrade(database_url, "0017_charger_membership")
    with db.engine.begin() as conn:
        conn.execute(sa.insert(meter_values), ROWS)
    before = _stored(db)
    assert len(before) == len(ROWS)

    migrate.upgrade(database_url, "0018_meter_partitions")
    assert _stored(db) == before
    postgres = database_url.startswith("postgresql")
    if postgres:
        # Each reading sits in the partition of its UTC day (every day with readings got one).
        assert {key: name.strip('"') for key, name in _where(db).items()} == {
            (row["charger_id"], row["sample_time"]): partitions.partition_name(row["sample_time"].date())  # type: ignore[union-attr]
            for row in ROWS
        }

    migrate.downgrade(database_url, "0017_charger_membership")
    assert _stored(db) == before
    if postgres:
        with db.engine.connect() as conn:
            kind = conn.exec_driver_sql(
                "SELECT relkind FROM pg_class WHERE oid = 'meter_values'::regclass"
            ).scalar()
            assert kind == "r"  # one plain table again
            assert partitions.partition_days(conn) == []
    migrate.upgrade(database_url)
    assert _stored(db) == before


@pytest.fixture
def store(database_url: str, db: Database) -> Database:
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
            UnitOfWork(conn, now),
            "agg-1",
            [Charger(c, "st-1", "AC", 22_000, 0, False, False) for c in ("c0", "c1")],
        )
    return db


def _ingest(db: Database, readings: list[Reading]) -> telemetry.BatchResult:
    with db.engine.begin() as conn:
        return telemetry.ingest_batch(
            conn,
            charger_id=None,
            aggregator_id="agg-1",
            batch_id=uuid.uuid4().hex,
            readings=readings,
            aggregates=(),
            now=NOW,
            max_skew=timedelta(days=3650),
        )


def test_a_reading_of_a_day_without_a_partition_moves_into_the_partition_made_for_it(store: Database) -> None:
    if not store.url.startswith("postgresql"):
        pytest.skip("SQLite keeps one meter_values table")
    late = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert (_ingest(store, [Reading("c0", late, 1_000, None, Decimal("0.5"), CHARGING)]).stored_points) == 1
    assert _where(store)[("c0", late)] == partitions.DEFAULT_PARTITION

    with store.engine.begin() as conn:
        assert partitions.ensure_meter_partitions(conn, late.date(), behind=0, ahead=0) == [
            "meter_values_p20260302"
        ]
        assert partitions.ensure_meter_partitions(conn, late.date(), behind=0, ahead=0) == []  # once only
    assert _where(store)[("c0", late)] == "meter_values_p20260302"
    # The moved reading is still the stored one: the same again is a duplicate, other values a correction.
    again = _ingest(store, [Reading("c0", late, 1_000, None, Decimal("0.5"), CHARGING)])
    assert (again.stored_points, again.duplicate_points, again.corrected_points) == (0, 1, 0)
    corrected = _ingest(store, [Reading("c0", late, 2_000, None, Decimal("0.5"), CHARGING)])
    assert (corrected.stored_points, corrected.duplicate_points, corrected.corrected_points) == (0, 0, 1)
    assert [row[2] for row in _stored(store)] == [2_000]


async def test_retention_drops_whole_days_older_than_the_cut_and_keeps_every_younger_reading(
    store: Database,
) -> None:
    postgres = store.url.startswith("postgresql")
    retention = Retention(
        store, age=timedelta(days=7), interval_seconds=0, meter_value_age=timedelta(days=1), batch=2
    )
    # NOW minus a day is 2026-12-06 10:30: PostgreSQL cuts at the start of that UTC day, SQLite exactly.
    with store.engine.begin() as conn:
        conn.execute(sa.insert(meter_values), [*ROWS, _row("c1", datetime(2026, 12, 6, 9, 0, tzinfo=UTC), 6)])
    created = await retention.ensure_partitions(NOW)
    deleted = await retention.purge(NOW)
    kept = {(row[0], row[1]) for row in _stored(store)}
    young = {
        (row["charger_id"], row["sample_time"])
        for row in ROWS
        if row["sample_time"] >= datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    }  # type: ignore[operator]
    on_cut_day = {
        ("c0", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),
        ("c1", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),
        ("c1", datetime(2026, 12, 6, 9, 0, tzinfo=UTC)),
    }
    if postgres:
        assert kept == young | on_cut_day  # the cut day's partition stays whole
        with store.engine.connect() as conn:
            days = partitions.partition_days(conn)
        assert min(days) == date(2026, 12, 6)
        assert max(days) >= TODAY + timedelta(days=partitions.PARTITION_DAYS_AHEAD)
        assert deleted["meter_values_partitions"] >= 1  # 2026-12-05 (and the migration's older days)
        assert deleted["meter_values"] == 1  # 2020-01-01 was in no partition: deleted from the default one
    else:
        assert created == []
        assert kept == young
        assert deleted["meter_values"] == len(ROWS) + 1 - len(young)
    # Nothing older is left to purge.
    again = await retention.purge(NOW)
    assert again.get("meter_values") == 0 and "meter_values_partitions" not in again
