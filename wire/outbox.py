"""Outbox items ⇄ vgi.common.v1 Notification and Setpoint messages: the wire form of what streams deliver.

The store keeps encoded bytes (``store.outbox``); this is where a message
becomes those bytes and an item becomes a message again, for the streams
(``server.servicers.aggregator_notifications``, ``device_stream``, the OCPP
gateway) and for the notice encoder (``wire.notices``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2, notifications_pb2

from store import outbox
from store.outbox import NotificationEntry, OutboxItem, SetpointEntry
from wire.timestamps import timestamp, to_datetime


def enqueue_notification(
    conn: Connection,
    aggregator_id: str,
    payload_message: notifications_pb2.Notification,
    carrier: str | None = None,
) -> int:
    """Append one notification to an aggregator's stream; returns its sequence."""
    return enqueue_notifications(conn, [(aggregator_id, payload_message)], carrier)[0]


def enqueue_notifications_for(
    conn: Connection,
    aggregator_ids: Iterable[str],
    payload_message: notifications_pb2.Notification,
    carrier: str | None = None,
) -> dict[str, int]:
    """The same notification (each copy with its own id) to every aggregator; returns the sequences."""
    targets = list(dict.fromkeys(aggregator_ids))
    sequences = enqueue_notifications(conn, [(a, payload_message) for a in targets], carrier)
    return dict(zip(targets, sequences, strict=True))


def enqueue_notifications(
    conn: Connection,
    items: Sequence[tuple[str, notifications_pb2.Notification]],
    carrier: str | None = None,
) -> list[int]:
    """Append (aggregator_id, notification) pairs, in order, in one statement; returns their sequences.

    Each notification must have its ``payload`` oneof set; its notification_id,
    sequence and create_time are assigned by the store.
    """
    encoded: dict[int, tuple[str, bytes]] = {}
    entries = []
    for aggregator_id, message in items:
        # The same message object is often sent to many aggregators: encode it once.
        entry = encoded.get(id(message))
        if entry is None:
            entry = encoded[id(message)] = _encode_notification(message)
        entries.append(NotificationEntry(aggregator_id, entry[0], entry[1]))
    return outbox.enqueue_notifications(conn, entries, carrier)


def enqueue_setpoint(
    conn: Connection, charger_id: str, setpoint: market_pb2.Setpoint, carrier: str | None = None
) -> int:
    """Append one setpoint to a charger's stream; returns its sequence."""
    addressed = market_pb2.Setpoint()
    addressed.CopyFrom(setpoint)
    addressed.charger_id = charger_id
    return enqueue_setpoints(conn, [addressed], carrier)[0]


def enqueue_setpoints(
    conn: Connection, setpoints: Sequence[market_pb2.Setpoint], carrier: str | None = None
) -> list[int]:
    """Append setpoints (each addressed by its ``charger_id``), in order, in one statement; returns their sequences.

    A setpoint without ``setpoint_id`` gets a new UUID (the caller's message
    is not modified).
    """
    if not all(setpoint.charger_id for setpoint in setpoints):
        raise ValueError("every setpoint must name the charger it is for")
    entries = []
    for setpoint in setpoints:
        setpoint_id = setpoint.setpoint_id
        if setpoint_id:
            payload = setpoint.SerializeToString()
        else:
            setpoint_id = str(uuid.uuid4())
            identified = market_pb2.Setpoint()
            identified.CopyFrom(setpoint)
            identified.setpoint_id = setpoint_id
            payload = identified.SerializeToString()
        entries.append(SetpointEntry(setpoint.charger_id, setpoint_id, payload))
    return outbox.enqueue_setpoints(conn, entries, carrier)


def notification_from(item: OutboxItem) -> notifications_pb2.Notification:
    """The vgi.common.v1.Notification an item stands for, sequence and id included."""
    notification = notifications_pb2.Notification.FromString(item.payload)
    notification.notification_id = item.item_id
    notification.sequence = item.sequence
    notification.create_time.CopyFrom(timestamp(item.create_time))
    return notification


def setpoint_from(item: OutboxItem) -> market_pb2.Setpoint:
    """The vgi.common.v1.Setpoint an item stands for."""
    return market_pb2.Setpoint.FromString(item.payload)


def setpoint_in_force(payload: bytes | None, now: datetime) -> market_pb2.Setpoint | None:
    """An encoded setpoint (``store.ocpp.last_accepted_setpoint``) while it is still valid at ``now``."""
    if payload is None:
        return None
    setpoint = market_pb2.Setpoint.FromString(payload)
    if to_datetime(setpoint.valid_until) <= now:
        return None
    return setpoint


def _encode_notification(message: notifications_pb2.Notification) -> tuple[str, bytes]:
    kind = message.WhichOneof("payload")
    if kind is None:
        raise ValueError("a notification needs its payload set")
    bare = notifications_pb2.Notification()
    bare.CopyFrom(message)
    bare.ClearField("notification_id")
    bare.ClearField("sequence")
    bare.ClearField("create_time")
    return kind, bare.SerializeToString()
