"""Outbox tables (SPEC F6/F7 delivery, section 7): items committed before any delivery, cursors and acks.

``outbox_notifications`` holds each aggregator's notification stream and
``outbox_setpoints`` each charger's setpoint stream, keyed by (subscriber,
sequence): the primary key is the index every delivery read walks. Sequences
are dense per subscriber, allocated from ``outbox_cursors`` (see
``store/outbox.py`` for why), which also holds what each subscriber has
acknowledged. ``carrier`` is the W3C ``traceparent`` of the call that caused
the item, NULL when that call was not sampled.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


def _sequence_key() -> sa.Column[int]:
    return sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False)


class OutboxNotificationRow(SQLModel, table=True):
    """One item of an aggregator's notification stream.

    ``payload`` is the serialized vgi.common.v1.Notification with its oneof
    payload set and notification_id, sequence and create_time cleared (they
    are columns here and put back on delivery); ``kind`` names the oneof case.
    """

    __tablename__: ClassVar[str] = "outbox_notifications"  # type: ignore[misc]

    aggregator_id: str = Field(primary_key=True, max_length=40)
    sequence: int = Field(sa_column=_sequence_key())
    notification_id: str = Field(max_length=36)
    kind: str = Field(max_length=32)
    payload: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    carrier: str | None = Field(default=None, max_length=64)
    create_time: datetime = Field(sa_column=utc_column())


class OutboxSetpointRow(SQLModel, table=True):
    """One setpoint of a charger's stream, with the device's acknowledgement once it comes.

    ``payload`` is the serialized vgi.common.v1.Setpoint. ``ack_time`` is set
    on every setpoint a SetpointAck covers; ``accepted``/``ack_reason`` on the
    one it names (the device reports on the last setpoint it applied).
    """

    __tablename__: ClassVar[str] = "outbox_setpoints"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    sequence: int = Field(sa_column=_sequence_key())
    setpoint_id: str = Field(max_length=64)
    payload: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    carrier: str | None = Field(default=None, max_length=64)
    create_time: datetime = Field(sa_column=utc_column())
    ack_time: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    accepted: bool | None = Field(default=None)
    ack_reason: str | None = Field(default=None, max_length=500)


class OutboxCursorRow(SQLModel, table=True):
    """A subscriber's stream position: the last sequence allocated and the last one acknowledged.

    ``channel`` is ``notifications`` (subscriber = aggregator id) or
    ``setpoints`` (subscriber = charger id).
    """

    __tablename__: ClassVar[str] = "outbox_cursors"  # type: ignore[misc]

    channel: str = Field(primary_key=True, max_length=16)
    subscriber_id: str = Field(primary_key=True, max_length=64)
    last_sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    acked_sequence: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    ack_time: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
