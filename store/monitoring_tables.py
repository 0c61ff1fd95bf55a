"""Execution monitoring tables (SPEC F7): per-minute progress, baselines used, alarms.

``monitoring_minutes`` has one row per (event, minute): it is the claim a
monitor process inserts first (ON CONFLICT DO NOTHING), so exactly one
process computes and corrects each minute, and the row every progress stream
replays from. Per-aggregator and per-node figures of the minute and its
alarms hang off the same key. Deviations are exact fractions kept as
``"n/d"`` strings (NULL when nothing was instructed). ``monitoring_baselines``
caches, per event and scope (``aggregators/{id}`` or ``gridNodes/{id}``), the
baseline computed once at the event's first monitored minute. Events,
aggregators and nodes are referenced by id without foreign keys, like the
market's tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


def _watts() -> sa.Column[int]:
    return sa.Column(sa.BigInteger(), nullable=False)


def _minute_key() -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), primary_key=True)


class MonitoringMinuteRow(SQLModel, table=True):
    """One monitored minute of an event: the claim, the event's state then and the event totals."""

    __tablename__: ClassVar[str] = "monitoring_minutes"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    minute_start: datetime = Field(sa_column=_minute_key())
    event_state: str = Field(max_length=16)
    target_w: int = Field(sa_column=_watts())
    actual_w: int = Field(sa_column=_watts())
    baseline_w: int = Field(sa_column=_watts())
    create_time: datetime = Field(sa_column=utc_column())


class MonitoringAggregatorMinuteRow(SQLModel, table=True):
    """One aggregator in one minute; ``node_targets`` is the JSON {node: W} of its targets per node.

    ``lag_reset`` marks a minute after which its lag count restarts (its
    instruction was revised, or a deviation alarm raised).
    """

    __tablename__: ClassVar[str] = "monitoring_aggregator_minutes"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    minute_start: datetime = Field(sa_column=_minute_key())
    aggregator_id: str = Field(primary_key=True, max_length=40)
    target_w: int = Field(sa_column=_watts())
    actual_w: int = Field(sa_column=_watts())
    baseline_w: int = Field(sa_column=_watts())
    response_w: int = Field(sa_column=_watts())
    deviation: str | None = Field(default=None, max_length=64)
    unmeasured: bool
    node_targets: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    lag_reset: bool


class MonitoringNodeMinuteRow(SQLModel, table=True):
    """One grid node of an event in one minute, from the node's own metering and baseline."""

    __tablename__: ClassVar[str] = "monitoring_node_minutes"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    minute_start: datetime = Field(sa_column=_minute_key())
    grid_node: str = Field(primary_key=True, max_length=64)
    target_w: int = Field(sa_column=_watts())
    actual_w: int = Field(sa_column=_watts())
    baseline_w: int = Field(sa_column=_watts())
    response_w: int = Field(sa_column=_watts())
    deviation: str | None = Field(default=None, max_length=64)
    unmeasured: bool


class MonitoringBaselineRow(SQLModel, table=True):
    """The baseline of one scope for an event: whole watts per slot of the window (JSON list).

    ``method`` is the F8 method used ("" when no method had the data: the
    scope's response is then unmeasured); ``requested_method`` the event's.
    """

    __tablename__: ClassVar[str] = "monitoring_baselines"  # type: ignore[misc]

    event_id: str = Field(primary_key=True, max_length=64)
    scope: str = Field(primary_key=True, max_length=80)
    method: str = Field(max_length=16)
    requested_method: str = Field(max_length=16)
    slot_values: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    create_time: datetime = Field(sa_column=utc_column())


class MonitoringAlarmRow(SQLModel, table=True):
    """An alarm raised by monitoring in one minute of an event (vgi.common.v1.Alarm)."""

    __tablename__: ClassVar[str] = "monitoring_alarms"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_monitoring_alarms_minute", "event_id", "minute_start"),)

    alarm_id: str = Field(primary_key=True, max_length=36)
    event_id: str = Field(max_length=64)
    minute_start: datetime = Field(sa_column=utc_column())
    kind: str = Field(max_length=16)
    aggregator_id: str = Field(max_length=40)
    message: str = Field(max_length=500)
    raise_time: datetime = Field(sa_column=utc_column())
