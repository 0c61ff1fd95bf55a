"""Retention (issue 17 finding 12): aged idempotency keys and acknowledged outbox items are purged in
batches; what is young or unacknowledged stays. Runs on SQLite and PostgreSQL; time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from vgi.common.v1 import aggregator_pb2, market_pb2, notifications_pb2

from server.retention import Retention
from store import outbox
from store.outbox import Channel
from store.outbox_tables import OutboxNotificationRow, OutboxSetpointRow
from store.tables import IdempotencyKeyRow, table_of
from wire import outbox as wire_outbox

pytestmark = pytest.mark.timeout(120)

KEYS = table_of(IdempotencyKeyRow)
NOTIFICATIONS = table_of(OutboxNotificationRow)
SETPOINTS = table_of(OutboxSetpointRow)


async def _count(platform: Any, table: sa.Table) -> int:
    return int(
        await platform.db.read(
            lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        )
    )


async def test_purge_removes_only_aged_keys_and_acknowledged_items(platform: Any) -> None:
    for index in range(5):
        await platform.operator.create_aggregator(
            f"agg-{index}", aggregator_pb2.Aggregator(display_name=f"Aggregator {index}")
        )
    alarm = notifications_pb2.Notification(alarm=market_pb2.Alarm(message="deviation"))

    def fill(conn: Any) -> None:
        for _ in range(5):
            wire_outbox.enqueue_notification(conn, "agg-0", alarm)
            wire_outbox.enqueue_notification(conn, "agg-1", alarm)
            wire_outbox.enqueue_setpoint(
                conn, "charger-1", market_pb2.Setpoint(setpoint_id="s", power_w=1000)
            )
        now = datetime.now(UTC)
        outbox.ack_notifications(conn, "agg-0", 3, now)  # agg-1 acknowledged nothing
        outbox.ack_setpoints(conn, "charger-1", 5, True, "", now)

    await platform.db.write(fill)
    keys = await _count(platform, KEYS)
    assert keys >= 5

    retention = Retention(platform.db, age=timedelta(days=7), interval_seconds=0, batch=2)
    # Nothing is old enough yet.
    assert set((await retention.purge()).values()) == {0}

    later = datetime.now(UTC) + timedelta(days=8)
    deleted = await retention.purge(later)
    assert deleted == {"idempotency_keys": keys, "outbox_notifications": 3, "outbox_setpoints": 5}
    assert await _count(platform, KEYS) == 0
    remaining = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(NOTIFICATIONS.c.aggregator_id, NOTIFICATIONS.c.sequence).order_by(
                NOTIFICATIONS.c.aggregator_id, NOTIFICATIONS.c.sequence
            )
        ).all()
    )
    assert [tuple(row) for row in remaining] == [("agg-0", 4), ("agg-0", 5)] + [
        ("agg-1", n) for n in range(1, 6)
    ]
    assert await _count(platform, SETPOINTS) == 0

    # Delivery still resumes after the acknowledged cursor: the unacknowledged items are all there.
    pending = await platform.db.read(
        lambda conn: outbox.read_unacked(conn, Channel.NOTIFICATIONS, "agg-0", 0, 10)
    )
    assert [item.sequence for item in pending] == [4, 5]

    # A purged request_id is a new call again: the platform answers it, it does not fail.
    again = await platform.operator.create_aggregator("agg-9", aggregator_pb2.Aggregator(display_name="Nine"))
    assert again.aggregator_id == "agg-9"
