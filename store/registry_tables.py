"""Registry tables (SPEC F1): grid nodes, stations, chargers, EV sessions; plus capacity declarations and prices.

Enum-like columns hold the proto enum's short name (``TRANSFORMER_AREA``,
``V2G``, ``ACTIVE``). SOC values are integers in parts per billion (see
domain.telemetry.PPB). A charger row also carries its latest state (status,
heartbeat, last meter value), so capacity and statistics read one row per
charger instead of searching the time series.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import UTCDateTime, utc_column


def _big(*, nullable: bool = False) -> Any:
    return sa.Column(sa.BigInteger(), nullable=nullable)


class GridNodeRow(SQLModel, table=True):
    """A grid topology node (vgi.common.v1.GridNode), owned by the grid side."""

    __tablename__: ClassVar[str] = "grid_nodes"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_grid_nodes_parent", "parent_id"),)

    node_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=24)
    parent_id: str | None = Field(default=None, max_length=64)
    display_name: str = Field(default="", max_length=200)
    capacity_limit_w: int = Field(sa_column=_big())
    base_load_w: int = Field(sa_column=_big())
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())
    delete_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class StationRow(SQLModel, table=True):
    """A charging site of an aggregator (vgi.common.v1.Station)."""

    __tablename__: ClassVar[str] = "stations"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_stations_grid_node", "grid_node_id"),)

    aggregator_id: str = Field(primary_key=True, max_length=40)
    station_id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=200)
    grid_node_id: str = Field(max_length=64)
    import_limit_w: int = Field(sa_column=_big())
    export_limit_w: int = Field(sa_column=_big())
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())
    delete_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChargerRow(SQLModel, table=True):
    """A charger (vgi.common.v1.Charger) with its latest reported state."""

    __tablename__: ClassVar[str] = "chargers"  # type: ignore[misc]
    __table_args__ = (
        sa.Index("ix_chargers_aggregator", "aggregator_id", "charger_id"),
        sa.Index("ix_chargers_station", "aggregator_id", "station_id"),
    )

    charger_id: str = Field(primary_key=True, max_length=64)
    aggregator_id: str = Field(max_length=40)
    station_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    rated_charge_w: int = Field(sa_column=_big())
    rated_discharge_w: int = Field(sa_column=_big())
    bidirectional: bool
    platform_managed: bool
    status: str = Field(max_length=16)
    status_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_heartbeat_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_power_w: int | None = Field(default=None, sa_column=_big(nullable=True))
    last_energy_register_wh: int | None = Field(default=None, sa_column=_big(nullable=True))
    last_meter_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())
    delete_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class EvSessionRow(SQLModel, table=True):
    """A vehicle plugged into a charger with its charging needs (vgi.common.v1.EvSession)."""

    __tablename__: ClassVar[str] = "ev_sessions"  # type: ignore[misc]
    __table_args__ = (
        # Capacity reads only the active sessions, a small part of the history.
        sa.Index("ix_ev_sessions_state", "state", "charger_id"),
        sa.Index("ix_ev_sessions_charger", "charger_id"),
    )

    aggregator_id: str = Field(primary_key=True, max_length=40)
    session_id: str = Field(primary_key=True, max_length=64)
    charger_id: str = Field(max_length=64)
    plug_in_time: datetime = Field(sa_column=utc_column())
    expected_departure_time: datetime = Field(sa_column=utc_column())
    battery_wh: int = Field(sa_column=_big())
    soc_ppb: int = Field(sa_column=_big())
    target_soc_ppb: int = Field(sa_column=_big())
    v2g_floor_soc_ppb: int = Field(sa_column=_big())
    max_charge_w: int = Field(sa_column=_big())
    max_discharge_w: int = Field(sa_column=_big())
    bidirectional: bool
    state: str = Field(max_length=16)
    end_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    create_time: datetime = Field(sa_column=utc_column())
    update_time: datetime = Field(sa_column=utc_column())


class CapacityDeclarationRow(SQLModel, table=True):
    """An aggregator's declared 96-point capacity for one local day; a later declaration replaces it."""

    __tablename__: ClassVar[str] = "capacity_declarations"  # type: ignore[misc]

    aggregator_id: str = Field(primary_key=True, max_length=40)
    day_start_time: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    decrease_w: list[int] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    increase_w: list[int] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    decrease_price: str = Field(default="", max_length=40)
    increase_price: str = Field(default="", max_length=40)
    update_time: datetime = Field(sa_column=utc_column())


class CapacitySampleRow(SQLModel, table=True):
    """Observed real-time capacity of a scope per 15-minute slot: the history of day-ahead forecasts."""

    __tablename__: ClassVar[str] = "capacity_samples"  # type: ignore[misc]

    scope: str = Field(primary_key=True, max_length=120)
    slot_start: datetime = Field(sa_column=sa.Column(UTCDateTime(), primary_key=True))
    decrease_w: int = Field(sa_column=_big())
    increase_w: int = Field(sa_column=_big())


class PriceCurveRow(SQLModel, table=True):
    """One published price curve; republishing an id adds a version, so history is kept (SPEC F11)."""

    __tablename__: ClassVar[str] = "price_curves"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_price_curves_published", "publish_time", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    price_curve_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    grid_node_id: str = Field(default="", max_length=64)
    start_time: datetime = Field(sa_column=utc_column())
    step_minutes: int
    prices: list[str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    currency: str = Field(max_length=3)
    publish_time: datetime = Field(sa_column=utc_column())


class StationMembershipRow(SQLModel, table=True):
    """A station's grid node over a time interval [valid_from, valid_to) (NULL = unbounded).

    A node's history counts each station's readings for the node it belonged
    to when they were taken (SPEC F2), so moving or deleting a station closes
    an interval instead of rewriting the past.
    """

    __tablename__: ClassVar[str] = "station_memberships"  # type: ignore[misc]
    __table_args__ = (sa.Index("ix_station_memberships_node", "grid_node_id"),)

    aggregator_id: str = Field(primary_key=True, max_length=40)
    station_id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=False))
    grid_node_id: str = Field(max_length=64)
    valid_from: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    valid_to: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChargerMembershipRow(SQLModel, table=True):
    """A charger's station over a time interval [valid_from, valid_to) (NULL = unbounded).

    A station's (and so a node's) history counts each reading for the station
    its charger was at when it was taken (SPEC F2): moving a charger closes an
    interval instead of moving its past. The charger's aggregator never changes.
    """

    __tablename__: ClassVar[str] = "charger_memberships"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    seq: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True, autoincrement=False))
    station_id: str = Field(max_length=64)
    valid_from: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    valid_to: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class CapacitySessionRow(SQLModel, table=True):
    """What SPEC F3 needs of one active session, denormalised (store.capacity_rows keeps it).

    One row per active session whose charger and station are live, with the
    charger's limits already applied (Pc, Pd), the station's grid node, the
    departure in µs since the epoch and the charger's latest meter value: a
    node's capacity reads one narrow table instead of joining sessions,
    chargers and stations. Written in the same transactions as the rows it
    derives from; the time-dependent decisions (meter freshness, the
    departure horizon) stay at query time.
    """

    __tablename__: ClassVar[str] = "capacity_sessions"  # type: ignore[misc]
    __table_args__ = (
        sa.Index("ix_capacity_sessions_node", "grid_node_id"),
        sa.Index("ix_capacity_sessions_charger", "charger_id"),
    )

    aggregator_id: str = Field(primary_key=True, max_length=40)
    session_id: str = Field(primary_key=True, max_length=64)
    charger_id: str = Field(max_length=64)
    grid_node_id: str = Field(max_length=64)
    battery_wh: int = Field(sa_column=_big())
    need_ppb: int = Field(sa_column=_big())
    above_floor_ppb: int = Field(sa_column=_big())
    departure_us: int = Field(sa_column=_big())
    charge_w: int = Field(sa_column=_big())
    discharge_w: int | None = Field(default=None, sa_column=_big(nullable=True))
    plug_in_time: datetime = Field(sa_column=utc_column())
    meter_power_w: int | None = Field(default=None, sa_column=_big(nullable=True))
    meter_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
