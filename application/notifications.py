"""Notification use cases (aggregator surface): acknowledge the stream up to a sequence."""

from __future__ import annotations

from application.uow import UnitOfWork
from store import outbox


def ack(uow: UnitOfWork, aggregator_id: str, up_to_sequence: int) -> int:
    """The aggregator's notifications acknowledged up to ``up_to_sequence``; returns the acknowledged cursor."""
    return outbox.ack_notifications(uow.conn, aggregator_id, up_to_sequence, uow.now)
