"""Builders for registry and telemetry tests: a small topology, resources and readings as protos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from vgi.common.v1 import aggregator_pb2, resources_pb2, telemetry_pb2

from clients.registry import AggregatorRegistryClient, GridRegistryClient


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def node(
    node_id: str, kind: int, parent: str = "", limit_w: int = 0, base_load_w: int = 0
) -> resources_pb2.GridNode:
    return resources_pb2.GridNode(
        node_id=node_id,
        kind=kind,  # type: ignore[arg-type]
        parent=f"gridNodes/{parent}" if parent else "",
        display_name=f"Node {node_id}",
        capacity_limit_w=limit_w,
        base_load_w=base_load_w,
    )


def station(station_id: str, grid_node: str) -> resources_pb2.Station:
    return resources_pb2.Station(
        station_id=station_id,
        display_name=f"Site {station_id}",
        grid_node=f"gridNodes/{grid_node}",
        import_limit_w=500_000,
    )


def charger(
    charger_id: str, station_id: str, *, v2g: bool = False, rated_w: int = 7_000, **fields: Any
) -> resources_pb2.Charger:
    return resources_pb2.Charger(
        charger_id=charger_id,
        station_id=station_id,
        kind=resources_pb2.CHARGER_KIND_V2G if v2g else resources_pb2.CHARGER_KIND_AC,
        rated_charge_w=rated_w,
        rated_discharge_w=6_000 if v2g else 0,
        bidirectional=v2g,
        **fields,
    )


def session(
    session_id: str,
    charger_id: str,
    now: datetime,
    *,
    hours_left: float = 5,
    soc: float = 0.5,
    target_soc: float = 0.8,
    floor_soc: float = 0.3,
    battery_wh: int = 60_000,
    max_charge_w: int = 7_000,
    max_discharge_w: int = 7_000,
    v2g: bool = False,
) -> resources_pb2.EvSession:
    return resources_pb2.EvSession(
        session_id=session_id,
        charger_id=charger_id,
        plug_in_time=ts(now - timedelta(minutes=30)),
        expected_departure_time=ts(now + timedelta(hours=hours_left)),
        battery_wh=battery_wh,
        soc=soc,
        target_soc=target_soc,
        v2g_floor_soc=floor_soc,
        max_charge_w=max_charge_w,
        max_discharge_w=max_discharge_w,
        bidirectional=v2g,
    )


def meter(
    charger_id: str, at: datetime, power_w: int, register_wh: int | None = None
) -> telemetry_pb2.MeterValue:
    """A charging reading; the import register only when given (field presence: 0 is a reading)."""
    value = telemetry_pb2.MeterValue(
        charger_id=charger_id,
        sample_time=ts(at),
        power_w=power_w,
        status=resources_pb2.CHARGER_STATUS_CHARGING,
    )
    if register_wh is not None:
        value.energy_register_wh = register_wh
    return value


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def onboard(platform: Any, *aggregator_ids: str) -> None:
    for aggregator_id in aggregator_ids:
        await platform.operator.create_aggregator(
            aggregator_id, aggregator_pb2.Aggregator(display_name=f"Aggregator {aggregator_id}")
        )


async def topology(platform: Any, *, area_limit_w: int = 0, area_base_load_w: int = 0) -> GridRegistryClient:
    """region r1 → substation s1 → feeder f1 → transformer areas ta1 (limited) and ta2."""
    grid = GridRegistryClient(platform.grid)
    await grid.upsert_grid_nodes(
        [
            node("r1", resources_pb2.GRID_NODE_KIND_REGION),
            node("s1", resources_pb2.GRID_NODE_KIND_SUBSTATION, "r1"),
            node("f1", resources_pb2.GRID_NODE_KIND_FEEDER, "s1"),
            node("ta1", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, "f1", area_limit_w, area_base_load_w),
            node("ta2", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, "f1"),
        ]
    )
    return grid


def aggregator_client(platform: Any, aggregator_id: str = "agg-1") -> AggregatorRegistryClient:
    return AggregatorRegistryClient(platform.channel_for(f"vgi://aggregator/{aggregator_id}"), deadline=60)
