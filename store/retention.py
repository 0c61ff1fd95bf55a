"""Retention (SPEC 7): what only grows is purged once it is older than the configured age.

* idempotency keys (AIP-155): a retry older than the retention age is a new
  call again — the age is the promise ``request_id`` makes;
* outbox items a subscriber has acknowledged: delivery never reads at or below
  the acknowledged cursor again (``store.outbox.pending``), so they are kept
  only for inspection until they age out.

* meter values (when a ``meter_value_retention_days`` is set): on PostgreSQL whole day partitions
  are dropped (``store.partitions``), and only readings older than the cut that sit in the default
  partition are deleted; on SQLite rows are deleted in batches.

The audit log is append-only and never purged. Each function deletes at most
``limit`` rows in the caller's transaction, so a purge is many short
transactions that never hold the writer long (``server.retention`` loops).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import partitions
from store.outbox import Channel
from store.outbox_tables import OutboxCursorRow, OutboxNotificationRow, OutboxSetpointRow
from store.tables import IdempotencyKeyRow, table_of
from store.telemetry_tables import MeterValueRow

_keys = table_of(IdempotencyKeyRow)
_notifications = table_of(OutboxNotificationRow)
_setpoints = table_of(OutboxSetpointRow)
_cursors = table_of(OutboxCursorRow)
_meter_values = table_of(MeterValueRow)


def purge_idempotency_keys(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` idempotency keys created before ``before``; the number deleted."""
    old = sa.select(_keys.c.id).where(_keys.c.create_time < before).order_by(_keys.c.create_time).limit(limit)
    return int(conn.execute(sa.delete(_keys).where(_keys.c.id.in_(old.scalar_subquery()))).rowcount)


def purge_acknowledged_notifications(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` notifications created before ``before`` that their aggregator acknowledged."""
    return _purge_acknowledged(
        conn, _notifications, _notifications.c.aggregator_id, Channel.NOTIFICATIONS, before, limit
    )


def purge_acknowledged_setpoints(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` setpoints created before ``before`` that their charger acknowledged."""
    return _purge_acknowledged(conn, _setpoints, _setpoints.c.charger_id, Channel.SETPOINTS, before, limit)


def _purge_acknowledged(
    conn: Connection,
    table: sa.Table,
    subscriber: sa.Column[str],
    channel: Channel,
    before: datetime,
    limit: int,
) -> int:
    acknowledged = (
        sa.select(subscriber, table.c.sequence)
        .join(
            _cursors,
            sa.and_(_cursors.c.channel == channel.value, _cursors.c.subscriber_id == subscriber),
        )
        .where(table.c.sequence <= _cursors.c.acked_sequence, table.c.create_time < before)
        .limit(limit)
    )
    statement = sa.delete(table).where(sa.tuple_(subscriber, table.c.sequence).in_(acknowledged))
    return int(conn.execute(statement).rowcount)


def meter_value_cut(conn: Connection, before: datetime) -> datetime:
    """Where meter-value retention cuts: ``before``, on PostgreSQL rounded down to its UTC day so whole
    partitions go and no partition is thinned by DELETE."""
    if partitions.partitioned(conn):
        return partitions.day_start(before.astimezone(UTC).date())
    return before


def drop_meter_value_partitions(conn: Connection, before: datetime) -> list[str]:
    """PostgreSQL: drop the day partitions wholly before ``meter_value_cut(before)``; their names."""
    return partitions.drop_meter_partitions(conn, meter_value_cut(conn, before))


def purge_meter_values(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` readings sampled before ``meter_value_cut(before)``; the number deleted. On
    PostgreSQL, after ``drop_meter_value_partitions``, only the default partition can hold such rows."""
    cut = meter_value_cut(conn, before)
    m = _meter_values.c
    old = sa.select(m.charger_id, m.sample_time).where(m.sample_time < cut).limit(limit)
    statement = sa.delete(_meter_values).where(sa.tuple_(m.charger_id, m.sample_time).in_(old))
    return int(conn.execute(statement).rowcount)
