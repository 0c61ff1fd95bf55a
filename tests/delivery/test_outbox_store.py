"""store/outbox.py on both databases: enqueue in the caller's transaction, dense ordered sequences, reads, acks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from vgi.common.v1 import market_pb2, notifications_pb2

from domain.errors import InvalidArgument
from store import migrate, outbox
from store.db import Database
from store.outbox import Channel, Window
from store.outbox_tables import OutboxSetpointRow
from store.tables import table_of
from wire import notices as wire_notices
from wire import outbox as wire_outbox

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def alarm(text: str) -> notifications_pb2.Notification:
    return notifications_pb2.Notification(statement_ready=notifications_pb2.StatementReady(statement=text))


def setpoint(charger_id: str, power_w: int) -> market_pb2.Setpoint:
    return market_pb2.Setpoint(charger_id=charger_id, power_w=power_w, instruction="instructions/i-1")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=4, publisher=wire_notices.publish)
    try:
        yield database
    finally:
        await database.close()


async def test_sequences_are_dense_per_subscriber_in_enqueue_order(db: Database) -> None:
    first = await db.write(
        lambda conn: wire_outbox.enqueue_notifications(
            conn, [("agg-a", alarm("a1")), ("agg-b", alarm("b1")), ("agg-a", alarm("a2"))], carrier=None
        )
    )
    assert first == [1, 1, 2]
    again = await db.write(
        lambda conn: wire_outbox.enqueue_notifications_for(conn, ["agg-b", "agg-a"], alarm("x"))
    )
    assert again == {"agg-b": 2, "agg-a": 3}

    items = await db.read(lambda conn: outbox.read_unacked(conn, Channel.NOTIFICATIONS, "agg-a", 0, 100))
    assert [(i.sequence, wire_outbox.notification_from(i).statement_ready.statement) for i in items] == [
        (1, "a1"),
        (2, "a2"),
        (3, "x"),
    ]
    delivered = wire_outbox.notification_from(items[0])
    assert delivered.sequence == 1
    assert delivered.notification_id == items[0].item_id
    assert len({i.item_id for i in items}) == 3


async def test_a_rolled_back_enqueue_leaves_no_item_and_no_gap(db: Database) -> None:
    def enqueue_then_fail(conn: sa.Connection) -> None:
        wire_outbox.enqueue_setpoint(conn, "ch-1", setpoint("", 1000))
        raise RuntimeError("the caller's effect failed")

    with pytest.raises(RuntimeError):
        await db.write(enqueue_then_fail)
    assert await db.write(lambda conn: wire_outbox.enqueue_setpoint(conn, "ch-1", setpoint("", 2000))) == 1
    items = await db.read(lambda conn: outbox.read_unacked(conn, Channel.SETPOINTS, "ch-1", 0, 10))
    assert [(i.sequence, wire_outbox.setpoint_from(i).power_w) for i in items] == [(1, 2000)]


async def test_concurrent_writers_to_one_subscriber_get_distinct_sequences(db: Database) -> None:
    def enqueue(n: int) -> Callable[[sa.Connection], int]:
        return lambda conn: wire_outbox.enqueue_notification(conn, "agg-a", alarm(str(n)))

    results = await asyncio.gather(*(db.write(enqueue(n)) for n in range(20)))
    assert sorted(results) == list(range(1, 21))


async def test_bulk_setpoints_and_windows(db: Database) -> None:
    chargers = [f"ch-{n:05d}" for n in range(3000)]
    sequences = await db.write(
        lambda conn: wire_outbox.enqueue_setpoints(
            conn, [setpoint(c, 7) for c in chargers] + [setpoint("ch-00001", 9)]
        )
    )
    assert sequences == [1] * 3000 + [2]
    windows = [Window(c, 0, 5) for c in chargers] + [Window("ch-00001", 1, 2), Window("nobody", 0, 9)]
    found = await db.read(lambda conn: outbox.read_windows(conn, Channel.SETPOINTS, windows))
    assert [len(f) for f in found[:3]] == [1, 2, 1]
    assert all(len(f) == 1 for f in found[2:3000])
    assert [(i.subscriber_id, i.sequence) for i in found[3000]] == [("ch-00001", 2)]
    assert found[3001] == []
    assert wire_outbox.setpoint_from(found[1][1]).power_w == 9
    assert found[0][0].item_id == wire_outbox.setpoint_from(found[0][0]).setpoint_id != ""


async def test_last_sequences_name_each_subscriber_with_a_stream(db: Database) -> None:
    chargers = [f"ch-{n:05d}" for n in range(6000)]  # more than one IN chunk and one upsert statement
    before = datetime.now(UTC)
    await db.write(lambda conn: wire_outbox.enqueue_setpoints(conn, [setpoint(c, 1) for c in chargers]))
    await db.write(
        lambda conn: wire_outbox.enqueue_setpoints(conn, [setpoint("ch-00007", 2), setpoint("ch-00007", 3)])
    )
    await db.write(lambda conn: wire_outbox.enqueue_notification(conn, "ch-00009", alarm("other channel")))
    asked = ["nobody", *chargers]
    last = await db.read(lambda conn: outbox.last_sequences(conn, Channel.SETPOINTS, asked))
    assert last == {c: 3 if c == "ch-00007" else 1 for c in chargers}
    # Read back through the driver: an aware UTC time, as stored.
    (item,) = await db.read(lambda conn: outbox.read_unacked(conn, Channel.SETPOINTS, "ch-00007", 2, 10))
    assert (item.sequence, wire_outbox.setpoint_from(item).power_w) == (3, 3)
    assert item.create_time.tzinfo is not None and before <= item.create_time <= datetime.now(UTC)


async def test_acks_move_the_cursor_forward_only_and_not_past_the_stream(db: Database) -> None:
    await db.write(
        lambda conn: wire_outbox.enqueue_notifications(conn, [("agg-a", alarm(str(n))) for n in range(5)])
    )
    assert await db.write(lambda conn: outbox.ack_notifications(conn, "agg-a", 3, NOW)) == 3
    assert await db.write(lambda conn: outbox.ack_notifications(conn, "agg-a", 2, NOW)) == 3
    items = await db.read(lambda conn: outbox.read_unacked(conn, Channel.NOTIFICATIONS, "agg-a", 0, 100))
    assert [i.sequence for i in items] == [4, 5]
    with pytest.raises(InvalidArgument) as refused:
        await db.write(lambda conn: outbox.ack_notifications(conn, "agg-a", 6, NOW))
    assert refused.value.reason == "ACK_BEYOND_STREAM"
    assert [v.field for v in refused.value.violations] == ["up_to_sequence"]
    with pytest.raises(InvalidArgument):
        await db.write(lambda conn: outbox.ack_notifications(conn, "agg-unknown", 1, NOW))
    assert await db.read(lambda conn: outbox.cursor(conn, Channel.NOTIFICATIONS, "agg-a")) == outbox.Cursor(
        5, 3
    )


async def test_setpoint_acks_are_recorded_per_setpoint(db: Database) -> None:
    await db.write(lambda conn: wire_outbox.enqueue_setpoints(conn, [setpoint("ch-1", p) for p in (1, 2, 3)]))
    await db.write(lambda conn: outbox.ack_setpoints(conn, "ch-1", 2, False, "over the site limit", NOW))
    table = table_of(OutboxSetpointRow)
    rows = await db.read(
        lambda conn: conn.execute(
            sa.select(table.c.sequence, table.c.ack_time, table.c.accepted, table.c.ack_reason).order_by(
                table.c.sequence
            )
        ).all()
    )
    assert [tuple(r) for r in rows] == [
        (1, NOW, None, None),
        (2, NOW, False, "over the site limit"),
        (3, None, None, None),
    ]
