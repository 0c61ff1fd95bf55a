"""The transactional outbox: notifications and setpoints committed before any delivery, cursors and acks.

Items are enqueued in THE PRODUCER'S OWN transaction, so an item exists
exactly when the effect that caused it does: a use case records notices
(``store.db.notify``), and the encoder the Database publishes them with
(``wire.notices``) appends them here, encoded, before the COMMIT. The store
keeps bytes; it does not know the wire form.

Delivery is driven from the store (``server/delivery.py``): a stream sends
what it reads here, after its cursor, so a process can deliver what another
process committed. After the commit, the listeners registered for the
engine (``add_commit_listener``) are told which subscribers got new items,
and the items themselves (``Committed``): the committing process's own
streams take them from there instead of reading them back; every other
reader, and every stream that is not exactly at the item before, reads the
store — the hand-off saves a read, it decides nothing.

Sequence allocation. Each subscriber has one row in ``outbox_cursors``; an
enqueue bumps its ``last_sequence`` with INSERT … ON CONFLICT DO UPDATE …
RETURNING and numbers the items from the value returned. Chosen over a
global identity column because the row lock taken by that update is held
until the enqueuing transaction ends: two writers for one subscriber, in any
process, commit its sequences in order and without gaps (a rollback undoes
its increment too). A reader that sees sequence n has therefore seen every
sequence below n, and delivery is a plain "sequence > cursor" read with no
in-flight holes to wait for. An identity value is drawn outside the
transaction: values commit out of order and rollbacks leave holes, so a
reader moving a cursor past them could skip an item still being committed.
The price — writers to ONE subscriber serialise — is the per-subscriber
order we want anyway; within a call, rows are locked in subscriber-id order
so two bulk enqueues cannot deadlock each other. (A transaction that
enqueues several times for overlapping subscribers in different orders can
deadlock on PostgreSQL; PostgreSQL then aborts one, and its retry by
request_id is safe. Prefer one bulk enqueue per transaction.)
"""

from __future__ import annotations

import functools
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from domain.errors import FieldViolation, InvalidArgument
from store import bulk
from store.db import after_commit
from store.outbox_tables import OutboxCursorRow, OutboxNotificationRow, OutboxSetpointRow
from store.tables import table_of

_notifications = table_of(OutboxNotificationRow)
_setpoints = table_of(OutboxSetpointRow)
_cursors = table_of(OutboxCursorRow)

ACK_BEYOND_STREAM = "ACK_BEYOND_STREAM"
CURSOR_BEYOND_STREAM = "CURSOR_BEYOND_STREAM"


class Channel(StrEnum):
    """A kind of stream; the subscriber is an aggregator id or a charger id."""

    NOTIFICATIONS = "notifications"
    SETPOINTS = "setpoints"


class Committed(frozenset[str]):
    """The subscribers of a channel a commit gave new items, with ``items``: those items exactly as
    committed (sequence, id, payload, carrier, create_time), in enqueue order.

    What commit listeners are told. A listener in the committing process may
    hand the items to its streams instead of reading them back
    (``server.delivery``); one that only needs the subscriber ids (a wake-up
    to other processes) uses the set.
    """

    items: tuple[OutboxItem, ...] = ()


CommitListener = Callable[[Channel, frozenset[str]], None]
"""Told, on a worker thread after a commit, which subscribers of a channel got new items (a ``Committed``)."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One committed item: ``item_id`` is the notification_id or setpoint_id receivers deduplicate by."""

    subscriber_id: str
    sequence: int
    item_id: str
    payload: bytes
    carrier: str | None
    create_time: datetime


class Window(NamedTuple):
    """The items of one subscriber with ``after < sequence <= up_to``.

    A named tuple: a delivery round builds one per open stream (10,000 at a
    fan-out), and a frozen dataclass costs several times more to construct.
    """

    subscriber_id: str
    after: int
    up_to: int


@dataclass(frozen=True, slots=True)
class Cursor:
    """A subscriber's position: the last sequence allocated and the last acknowledged (0: none)."""

    last_sequence: int
    acked_sequence: int


_listeners: weakref.WeakKeyDictionary[Engine, list[CommitListener]] = weakref.WeakKeyDictionary()


def add_commit_listener(engine: Engine, listener: CommitListener) -> None:
    """Call ``listener`` after each commit on ``engine`` that enqueued something."""
    _listeners.setdefault(engine, []).append(listener)


def remove_commit_listener(engine: Engine, listener: CommitListener) -> None:
    listeners = _listeners.get(engine, [])
    if listener in listeners:
        listeners.remove(listener)


@dataclass(frozen=True, slots=True)
class NotificationEntry:
    """One encoded notification for an aggregator: the payload's oneof case (``kind``) and its bytes."""

    aggregator_id: str
    kind: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SetpointEntry:
    """One encoded setpoint for a charger, identified by ``setpoint_id`` (its payload carries the same id)."""

    charger_id: str
    setpoint_id: str
    payload: bytes


def enqueue_notifications(
    conn: Connection, entries: Sequence[NotificationEntry], carrier: str | None = None
) -> list[int]:
    """Append encoded notifications, in order, in one statement; returns their sequences.

    Each gets a new notification_id, its sequence and create_time here.
    """
    if not entries:
        return []
    now = datetime.now(UTC)
    sequences = _allocate(conn, Channel.NOTIFICATIONS, [entry.aggregator_id for entry in entries])
    at = bulk.time_param(conn)(now)
    rows = [
        (entry.aggregator_id, sequence, str(uuid.uuid4()), entry.kind, entry.payload, carrier, at)
        for entry, sequence in zip(entries, sequences, strict=True)
    ]
    bulk.insert_rows(conn, _INSERT_NOTIFICATION, _NOTIFICATION_TYPES, rows)
    _announce(
        conn,
        Channel.NOTIFICATIONS,
        lambda: [
            OutboxItem(aggregator_id, sequence, notification_id, payload, carrier, now)
            for aggregator_id, sequence, notification_id, _, payload, carrier, _ in rows
        ],
    )
    return sequences


def enqueue_setpoints(
    conn: Connection, entries: Sequence[SetpointEntry], carrier: str | None = None
) -> list[int]:
    """Append encoded setpoints, in order, in one statement; returns their sequences."""
    if not entries:
        return []
    now = datetime.now(UTC)
    sequences = _allocate(conn, Channel.SETPOINTS, [entry.charger_id for entry in entries])
    at = bulk.time_param(conn)(now)
    rows = [
        (entry.charger_id, sequence, entry.setpoint_id, entry.payload, carrier, at)
        for entry, sequence in zip(entries, sequences, strict=True)
    ]
    bulk.insert_rows(conn, _INSERT_SETPOINT, _SETPOINT_TYPES, rows)
    _announce(
        conn,
        Channel.SETPOINTS,
        lambda: [
            OutboxItem(charger_id, sequence, setpoint_id, payload, carrier, now)
            for charger_id, sequence, setpoint_id, payload, carrier, _ in rows
        ],
    )
    return sequences


# The bulk paths run on the driver (store.bulk): 10,000 rows through SQLAlchemy's per-row
# parameter processing cost more than the statements themselves. A fan-out's 10,000 rows are one
# statement on PostgreSQL (arrays) and five on SQLite (2,000 rows each), not 10,000 executions
# (``bulk.insert_rows``).
_INSERT_NOTIFICATION = (
    f"INSERT INTO {_notifications.name} (aggregator_id, sequence, notification_id, kind, payload, carrier, "
    "create_time)"
)
_NOTIFICATION_TYPES = ("varchar", "bigint", "varchar", "varchar", "bytea", "varchar", "timestamptz")
_INSERT_SETPOINT = (
    f"INSERT INTO {_setpoints.name} (charger_id, sequence, setpoint_id, payload, carrier, create_time)"
)
_SETPOINT_TYPES = ("varchar", "bigint", "varchar", "bytea", "varchar", "timestamptz")
_ALLOCATE_ROWS = 2000  # cursor rows per upsert statement: 3 parameters each


def cursor(conn: Connection, channel: Channel, subscriber_id: str) -> Cursor:
    row = conn.execute(
        sa.select(_cursors.c.last_sequence, _cursors.c.acked_sequence).where(
            _cursors.c.channel == channel.value, _cursors.c.subscriber_id == subscriber_id
        )
    ).first()
    return Cursor(0, 0) if row is None else Cursor(row.last_sequence, row.acked_sequence)


def cursor_beyond_stream(after_sequence: int, last_sequence: int, field: str) -> InvalidArgument:
    """A stream resumed after a sequence never sent: the client's cursor is not of this stream (a store
    restored to an earlier point, another platform); resuming would skip the items up to it unseen."""
    return InvalidArgument(
        f"cannot resume after sequence {after_sequence}: the stream ends at {last_sequence}",
        reason=CURSOR_BEYOND_STREAM,
        violations=[FieldViolation(field, f"must not exceed the last sequence sent, {last_sequence}")],
        metadata={"last_sequence": str(last_sequence)},
    )


def last_sequences(conn: Connection, channel: Channel, subscriber_ids: Sequence[str]) -> dict[str, int]:
    """The last sequence committed for each of ``subscriber_ids`` that has a stream (others are absent).

    One primary-key probe per subscriber, in a few statements: the poll asks
    this of every open stream and reads windows only for those that moved.
    """
    return dict(
        bulk.rows_in(
            conn,
            f"SELECT subscriber_id, last_sequence FROM {_cursors.name} WHERE channel = ? AND subscriber_id IN",
            (channel.value,),
            subscriber_ids,
        )
    )


def read_unacked(
    conn: Connection, channel: Channel, subscriber_id: str, after_sequence: int, limit: int
) -> list[OutboxItem]:
    """Up to ``limit`` items after both ``after_sequence`` and the acknowledged cursor, in order."""
    after = max(after_sequence, cursor(conn, channel, subscriber_id).acked_sequence)
    return read_windows(conn, channel, [Window(subscriber_id, after, after + limit)])[0]


def read_windows(conn: Connection, channel: Channel, windows: Sequence[Window]) -> list[list[OutboxItem]]:
    """The items in each window, in sequence order — a few statements for thousands of windows.

    Sequences are dense per subscriber, so a window of n sequences holds at
    most n items; each window is one range probe of the primary key.
    """
    found: list[list[OutboxItem]] = [[] for _ in windows]
    mark = "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"
    as_time = bulk.time_result(conn)
    start = 0
    while start < len(windows):
        size = next((s for s in _READ_SIZES if s >= len(windows) - start), _READ_SIZES[-1])
        chunk = windows[start : start + size]
        params: list[Any] = []
        for i, (subscriber_id, after, up_to) in enumerate(chunk, start):
            params += (i, subscriber_id, after, up_to)
        # Short chunks are padded with empty windows: one statement text per size.
        params += _EMPTY_WINDOW * (size - len(chunk))
        rows = conn.exec_driver_sql(_window_sql(channel, size, mark), tuple(params)).fetchall()
        for k, subscriber_id, sequence, item_id, payload, carrier, create_time in rows:
            created = as_time(create_time)
            assert created is not None  # the column is NOT NULL
            found[k].append(OutboxItem(subscriber_id, sequence, item_id, bytes(payload), carrier, created))
        start += size
    return found


# Statement sizes (windows per read): a fan-out to 10,000 streams is five
# statements; 4 bound parameters each stays far below SQLite's 32,766 and
# PostgreSQL's 65,535 parameter limits.
_READ_SIZES = (8, 64, 512, 2000)
_EMPTY_WINDOW = (-1, "", 0, 0)  # k, subscriber, after, up_to: matches nothing


@functools.cache
def _window_sql(channel: Channel, size: int, mark: str) -> str:
    """The window read as driver SQL, built once per size (positional parameters, four a window).

    On the driver, because SQLAlchemy's per-parameter work for 8,000 bound
    values (and compiling a VALUES construct of 2,000 rows) costs more than
    the read. The casts sit on the VALUES side so the primary key stays usable.
    """
    table, subscriber_column, id_column = _channel_columns(channel)
    rows = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * size)
    subscriber, item_id = subscriber_column.name, id_column.name
    return (
        f"WITH wanted(k, subscriber_id, lo, hi) AS (VALUES {rows}) "
        f"SELECT wanted.k, t.{subscriber}, t.sequence, t.{item_id}, t.payload, t.carrier, t.create_time "
        f"FROM wanted JOIN {table.name} t ON t.{subscriber} = CAST(wanted.subscriber_id AS VARCHAR) "
        "AND t.sequence > CAST(wanted.lo AS BIGINT) AND t.sequence <= CAST(wanted.hi AS BIGINT) "
        "ORDER BY wanted.k, t.sequence"
    )


def ack_notifications(conn: Connection, aggregator_id: str, up_to_sequence: int, now: datetime) -> int:
    """Acknowledge an aggregator's notifications up to a sequence; returns the acknowledged cursor."""
    return _ack(conn, Channel.NOTIFICATIONS, aggregator_id, up_to_sequence, now).acked_sequence


def ack_setpoints(
    conn: Connection, charger_id: str, up_to_sequence: int, accepted: bool, reason: str, now: datetime
) -> int:
    """Acknowledge a charger's setpoints up to a sequence; returns the acknowledged cursor.

    Every newly covered setpoint gets ``ack_time``; the one named gets the
    device's verdict (``accepted``, ``reason``), the others stay unjudged
    (they were superseded before the device reported on them). Acking again
    up to an acknowledged sequence changes nothing.
    """
    before = cursor(conn, Channel.SETPOINTS, charger_id)
    # Named as on the device's Connect stream, whose setpoint_ack carries it.
    after = _ack(conn, Channel.SETPOINTS, charger_id, up_to_sequence, now, "setpoint_ack.up_to_sequence")
    if up_to_sequence > before.acked_sequence:
        named = _setpoints.c.sequence == up_to_sequence
        conn.execute(
            sa.update(_setpoints)
            .where(
                _setpoints.c.charger_id == charger_id,
                _setpoints.c.sequence > before.acked_sequence,
                _setpoints.c.sequence <= up_to_sequence,
            )
            .values(
                ack_time=now,
                accepted=sa.case((named, accepted), else_=sa.null()),
                ack_reason=sa.case((named, reason), else_=sa.null()),
            )
        )
    return after.acked_sequence


def _ack(
    conn: Connection,
    channel: Channel,
    subscriber_id: str,
    up_to_sequence: int,
    now: datetime,
    field: str = "up_to_sequence",
) -> Cursor:
    acked = _cursors.c.acked_sequence
    row = conn.execute(
        sa.update(_cursors)
        .where(
            _cursors.c.channel == channel.value,
            _cursors.c.subscriber_id == subscriber_id,
            _cursors.c.last_sequence >= up_to_sequence,
        )
        .values(
            acked_sequence=sa.case((acked < up_to_sequence, up_to_sequence), else_=acked),
            ack_time=sa.case((acked < up_to_sequence, now), else_=_cursors.c.ack_time),
        )
        .returning(_cursors.c.last_sequence, acked)
    ).first()
    if row is None:
        last = cursor(conn, channel, subscriber_id).last_sequence
        raise InvalidArgument(
            f"cannot acknowledge sequence {up_to_sequence}: the stream ends at {last}",
            reason=ACK_BEYOND_STREAM,
            violations=[FieldViolation(field, f"must not exceed the last sequence sent, {last}")],
            metadata={"last_sequence": str(last)},
        )
    return Cursor(row.last_sequence, row.acked_sequence)


def _allocate(conn: Connection, channel: Channel, subscriber_ids: Sequence[str]) -> list[int]:
    """Reserve one sequence per entry (in order) from the subscribers' counter rows."""
    counts = Counter(subscriber_ids)
    # Sorted: rows are locked in this order, the same in every transaction (chunks go in order too).
    ordered = sorted(counts.items())
    next_sequence: dict[str, int] = {}
    if conn.dialect.name == "postgresql":
        # One statement whatever the number of subscribers (arrays: see store.bulk.insert_rows), rows
        # taken in array order, so locked in this order.
        returned = conn.exec_driver_sql(
            _ALLOCATE_ARRAYS, (channel.value, [s for s, _ in ordered], [n for _, n in ordered])
        ).fetchall()
        for subscriber_id, last in returned:
            next_sequence[subscriber_id] = last - counts[subscriber_id] + 1
        ordered = []
    mark = "%s" if conn.dialect.paramstyle in ("format", "pyformat") else "?"
    for start in range(0, len(ordered), _ALLOCATE_ROWS):
        chunk = ordered[start : start + _ALLOCATE_ROWS]
        params: list[Any] = []
        for subscriber_id, count in chunk:
            params += (channel.value, subscriber_id, count)
        returned = conn.exec_driver_sql(_allocate_sql(len(chunk), mark), tuple(params)).fetchall()
        for subscriber_id, last in returned:
            next_sequence[subscriber_id] = last - counts[subscriber_id] + 1
    sequences = []
    for subscriber_id in subscriber_ids:
        sequences.append(next_sequence[subscriber_id])
        next_sequence[subscriber_id] += 1
    return sequences


_ALLOCATE_ARRAYS = (
    f"INSERT INTO {_cursors.name} (channel, subscriber_id, last_sequence, acked_sequence, ack_time) "
    "SELECT CAST(%s AS varchar), u.subscriber_id, u.n, 0, CAST(NULL AS timestamptz) "
    "FROM unnest(CAST(%s AS varchar[]), CAST(%s AS bigint[])) WITH ORDINALITY AS u(subscriber_id, n, k) "
    f"ORDER BY u.k ON CONFLICT (channel, subscriber_id) DO UPDATE SET last_sequence = {_cursors.name}.last_sequence "
    "+ excluded.last_sequence RETURNING subscriber_id, last_sequence"
)
"""PostgreSQL: ``_allocate_sql`` for any number of subscribers in one statement (channel, ids, counts)."""


@functools.cache
def _allocate_sql(rows: int, mark: str) -> str:
    """Bump ``rows`` subscribers' counters in one statement (both stores: INSERT … ON CONFLICT … RETURNING)."""
    values = ", ".join([f"({mark}, {mark}, {mark}, 0, NULL)"] * rows)
    table = _cursors.name
    return (
        f"INSERT INTO {table} (channel, subscriber_id, last_sequence, acked_sequence, ack_time) "
        f"VALUES {values} ON CONFLICT (channel, subscriber_id) "
        f"DO UPDATE SET last_sequence = {table}.last_sequence + excluded.last_sequence "
        "RETURNING subscriber_id, last_sequence"
    )


def _announce(conn: Connection, channel: Channel, items: Callable[[], list[OutboxItem]]) -> None:
    listeners = _listeners.get(conn.engine)
    if not listeners:
        return
    committed = items()
    touched = Committed(item.subscriber_id for item in committed)
    touched.items = tuple(committed)

    def wake() -> None:
        for listener in tuple(listeners):
            listener(channel, touched)

    after_commit(conn, wake)


def _channel_columns(channel: Channel) -> tuple[sa.Table, sa.Column[str], sa.Column[str]]:
    if channel is Channel.NOTIFICATIONS:
        return _notifications, _notifications.c.aggregator_id, _notifications.c.notification_id
    return _setpoints, _setpoints.c.charger_id, _setpoints.c.setpoint_id
