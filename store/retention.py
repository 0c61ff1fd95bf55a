"""Retention (SPEC 7): what only grows is purged once it is older than the configured age.

* idempotency keys (AIP-155): a retry older than the retention age is a new
  call again — the age is the promise ``request_id`` makes;
* outbox items a subscriber has acknowledged: delivery never reads at or below
  the acknowledged cursor again (``store.outbox.pending``), so they are kept
  only for inspection until they age out.

The audit log is append-only and never purged. Each function deletes at most
``limit`` rows in the caller's transaction, so a purge is many short
transactions that never hold the writer long (``server.retention`` loops).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.outbox import Channel
from store.outbox_tables import OutboxCursorRow, OutboxNotificationRow, OutboxSetpointRow
from store.tables import IdempotencyKeyRow, table_of

_keys = table_of(IdempotencyKeyRow)
_notifications = table_of(OutboxNotificationRow)
_setpoints = table_of(OutboxSetpointRow)
_cursors = table_of(OutboxCursorRow)


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
