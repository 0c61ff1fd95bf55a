"""Telemetry tables (SPEC F2): the meter-value time series, interval aggregates, batch ids.

``meter_values`` is keyed by (charger, sample time): the primary key is the
index every (resource, time) query uses, and a reading that arrives twice
(e.g. in two different batches) is stored once; one with other values is a
correction: it replaces the row and is recorded in ``meter_value_corrections``
(an uploaded 15-minute aggregate with another value: ``interval_aggregate_corrections``).
``status`` is the vgi.common.v1.ChargerStatus number, kept small on the hottest
table. Power and registers are NULL when the reading did not carry them (field
presence). ``meter_data_quality`` records readings F2 cannot meter as they stand.
On PostgreSQL ``meter_values`` is partitioned by ``sample_time``, one partition
per UTC day (``store.partitions``); the key holds the partition key, so it stays
the key.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


class MeterValueRow(SQLModel, table=True):
    """One reading of a charger."""

    __tablename__: ClassVar[str] = "meter_values"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    sample_time: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    power_w: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    # The import register; a bidirectional charger also reports the export register (SPEC F2).
    energy_register_wh: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    export_register_wh: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    soc_ppb: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    status: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    # When the platform first stored it (NULL: before this was kept): a reading of an evaluated window
    # received after the evaluation marks it stale, like a correction (SPEC F2).
    receive_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class IntervalAggregateRow(SQLModel, table=True):
    """A 15-minute mean power reported by an aggregator for itself (station_id "") or one station."""

    __tablename__: ClassVar[str] = "interval_aggregates"  # type: ignore[misc]

    aggregator_id: str = Field(primary_key=True, max_length=40)
    station_id: str = Field(primary_key=True, max_length=64)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    mean_power_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    update_time: datetime = Field(sa_column=utc_column())


class TelemetryBatchRow(SQLModel, table=True):
    """A committed telemetry batch: a re-sent batch id from the same source stores nothing."""

    __tablename__: ClassVar[str] = "telemetry_batches"  # type: ignore[misc]

    source: str = Field(primary_key=True, max_length=120)
    batch_id: str = Field(primary_key=True, max_length=64)
    stored_points: int
    # The first answer's counts: a re-sent batch id is answered with them on every path.
    duplicate_points: int = Field(
        default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0")
    )
    corrected_points: int = Field(
        default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0")
    )
    # domain.telemetry.batch_digest of the content: the same id with other content is refused
    # (NULL for batches stored before it was kept: their re-sends are answered as before).
    content_digest: str | None = Field(default=None, max_length=64)
    create_time: datetime = Field(sa_column=utc_column())


class MeterDataQualityRow(SQLModel, table=True):
    """A reading that cannot be metered as it stands, with the reason (e.g. a register that went backwards)."""

    __tablename__: ClassVar[str] = "meter_data_quality"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    sample_time: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    reason: str = Field(primary_key=True, max_length=40)
    detail: str = Field(max_length=300)


class MeterValueCorrectionRow(SQLModel, table=True):
    """A stored reading replaced by a later arrival with other values: who, when, old and new (SPEC F2)."""

    __tablename__: ClassVar[str] = "meter_value_corrections"  # type: ignore[misc]
    __table_args__ = (
        sa.Index("ix_meter_value_corrections_charger_time", "charger_id", "sample_time"),
        sa.Index("ix_meter_value_corrections_correct_time", "correct_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    charger_id: str = Field(max_length=64)
    sample_time: datetime = Field(sa_column=utc_column())
    source: str = Field(max_length=120)
    batch_id: str = Field(max_length=64)
    correct_time: datetime = Field(sa_column=utc_column())
    old_power_w: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    old_energy_register_wh: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    old_export_register_wh: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    old_soc_ppb: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    old_status: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    new_power_w: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    new_energy_register_wh: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    new_export_register_wh: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True)
    )
    new_soc_ppb: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger(), nullable=True))
    new_status: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))


class IntervalAggregateCorrectionRow(SQLModel, table=True):
    """A stored 15-minute aggregate replaced by a later upload with another value: who, when, old and new."""

    __tablename__: ClassVar[str] = "interval_aggregate_corrections"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_interval_aggregate_corrections_slot", "aggregator_id", "slot_start"),)

    id: int | None = Field(default=None, primary_key=True)
    aggregator_id: str = Field(max_length=40)
    # "" for the aggregator's own value, else the station's.
    station_id: str = Field(max_length=64)
    slot_start: datetime = Field(sa_column=utc_column())
    source: str = Field(max_length=120)
    batch_id: str = Field(max_length=64)
    correct_time: datetime = Field(sa_column=utc_column())
    old_mean_power_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    new_mean_power_w: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
