"""Notices recorded in a write reach the outbox in that write's transaction, encoded once, or not at all.

``store.db.notify`` records; the Database's publisher (``wire.notices.publish``)
encodes before the COMMIT. On both stores, alone and in SQLite's group commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from domain.monitoring import Alarm
from domain.notices import AlarmRaised, SetpointIssued, SetpointSchedule, StatementReady
from store import migrate, outbox
from store.db import Database, notify
from store.outbox import Channel
from wire import notices as wire_notices
from wire import outbox as wire_outbox

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=4, publisher=wire_notices.publish)
    try:
        yield database
    finally:
        await database.close()


def unacked(conn: Connection, channel: Channel, subscriber: str) -> list[outbox.OutboxItem]:
    return outbox.read_unacked(conn, channel, subscriber, 0, 100)


async def test_notices_become_notifications_and_setpoints_in_recorded_order(db: Database) -> None:
    alarm = Alarm("al-1", "DEVIATION", "ev-1", "agg-a", "behind", NOW)
    schedule = SetpointSchedule(NOW, 15, (3000, 2000))

    def write(conn: Connection) -> None:
        notify(conn, StatementReady("agg-a", "statements/1"), "carrier-1")
        notify(conn, SetpointIssued("sp-1", "ch-1", 3000, NOW + timedelta(minutes=30), "i/1", schedule))
        notify(conn, AlarmRaised(alarm), "carrier-1")

    await db.write(write)
    notes = await db.read(lambda conn: unacked(conn, Channel.NOTIFICATIONS, "agg-a"))
    assert [(n.sequence, n.carrier) for n in notes] == [(1, "carrier-1"), (2, "carrier-1")]
    first, second = (wire_outbox.notification_from(n) for n in notes)
    assert first.statement_ready.statement == "statements/1"
    assert (second.alarm.alarm_id, second.alarm.event, second.alarm.aggregator) == (
        "al-1",
        "events/ev-1",
        "aggregators/agg-a",
    )
    [item] = await db.read(lambda conn: unacked(conn, Channel.SETPOINTS, "ch-1"))
    setpoint = wire_outbox.setpoint_from(item)
    assert (item.item_id, setpoint.setpoint_id, setpoint.power_w) == ("sp-1", "sp-1", 3000)
    assert list(setpoint.schedule.values_w) == [3000, 2000]
    assert setpoint.valid_until.ToDatetime(tzinfo=UTC) == NOW + timedelta(minutes=30)


async def test_a_write_that_fails_after_recording_leaves_no_notice(db: Database) -> None:
    def failing(conn: Connection) -> None:
        notify(conn, StatementReady("agg-a", "statements/lost"))
        raise RuntimeError("the effect failed")

    def succeeding(conn: Connection) -> None:
        notify(conn, StatementReady("agg-a", "statements/kept"))

    # Queued together: on SQLite they share one group commit, each in its own savepoint.
    results = await asyncio.gather(db.write(failing), db.write(succeeding), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] is None
    notes = await db.read(lambda conn: unacked(conn, Channel.NOTIFICATIONS, "agg-a"))
    assert [wire_outbox.notification_from(n).statement_ready.statement for n in notes] == ["statements/kept"]


async def test_notices_on_a_database_without_publisher_fail_the_write(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    bare = Database(database_url, threads=2)
    try:
        with pytest.raises(RuntimeError, match="without a publisher"):
            await bare.write(lambda conn: notify(conn, StatementReady("agg-a", "statements/1")))
        cursor = await bare.read(lambda conn: outbox.cursor(conn, Channel.NOTIFICATIONS, "agg-a"))
        assert cursor.last_sequence == 0
    finally:
        await bare.close()
