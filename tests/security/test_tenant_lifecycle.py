"""The aggregator lifecycle at the gRPC surface: only an onboarded aggregator's certificates may call, and a
SUSPENDED one may not add new dispatch inputs (docs/SECURITY.md, "Aggregator lifecycle").

* A certificate of an aggregator no operator created (``vgi pki issue ... vgi://aggregator/ghost``) is
  refused PERMISSION_DENIED ``AGGREGATOR_NOT_ONBOARDED`` on every call, unary or stream, its devices too,
  and nothing changes; once CreateAggregator committed, the same process admits it at once.
* The tenant gate reads the state once per ``tenant_state_max_age_seconds`` per process, not per call;
  another process sharing the database sees a change within that bound.
* SUSPENDED: capacity declarations (and bids: tests/application/test_lifecycle.py) are refused
  FAILED_PRECONDITION ``AGGREGATOR_SUSPENDED`` with a PreconditionFailure, nothing stored; reads go on;
  ACTIVE again restores them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from registry.world import aggregator_client, now, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import aggregator_pb2, capacity_pb2, telemetry_pb2
from vgi.device.v1 import device_service_pb2 as device_pb

from clients.errors import FailedPreconditionError
from store import capacity
from store.tables import AggregatorRow, table_of

from .rpcs import Outcome, call, contract_rpcs
from waiting import until

pytestmark = pytest.mark.timeout(60)

GHOST = "vgi://aggregator/ghost"


def _rpc(path: str) -> Any:
    return next(rpc for rpc in contract_rpcs() if rpc.path == path)


UPSERT_STATIONS = _rpc("/vgi.aggregator.v1.AggregatorService/BatchUpsertStations")
LIST_STATIONS = _rpc("/vgi.aggregator.v1.AggregatorService/ListStations")
DECLARE = _rpc("/vgi.aggregator.v1.AggregatorService/DeclareCapacity")
UPLOAD = _rpc("/vgi.aggregator.v1.AggregatorService/UploadTelemetry")
NOTIFICATIONS = _rpc("/vgi.aggregator.v1.AggregatorService/StreamNotifications")
CONNECT = _rpc("/vgi.device.v1.DeviceService/Connect")
METER = _rpc("/vgi.device.v1.DeviceService/UploadMeterValues")


def _not_onboarded(outcome: Outcome, aggregator_id: str = "ghost") -> None:
    assert outcome.code == grpc.StatusCode.PERMISSION_DENIED, outcome
    info = outcome.detail(error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "AGGREGATOR_NOT_ONBOARDED",
        "vgi",
        {"aggregator_id": aggregator_id},
    )
    assert "CreateAggregator" in outcome.message  # says what to do


def _upsert(station_id: str) -> agg_pb.BatchUpsertStationsRequest:
    return agg_pb.BatchUpsertStationsRequest(
        request_id=str(uuid.uuid4()), stations=[station(station_id, "ta1")]
    )


def _declaration(days: int = 2) -> capacity_pb2.CapacityDeclaration:
    day = (now() + timedelta(days=days)).replace(hour=16, minute=0, second=0, microsecond=0)
    return capacity_pb2.CapacityDeclaration(
        day_start_time=ts(day), decrease_w=[1_000] * 96, increase_w=[2_000] * 96
    )


def _declare() -> agg_pb.DeclareCapacityRequest:
    return agg_pb.DeclareCapacityRequest(request_id=str(uuid.uuid4()), declaration=_declaration())


async def _set_state(platform: Any, aggregator_id: str, state: Any) -> aggregator_pb2.Aggregator:
    """UpdateAggregator changing the state only (the mask names display_name, sent unchanged)."""
    current = await platform.operator.get_aggregator(f"aggregators/{aggregator_id}")
    return await platform.operator.update_aggregator(current, ["display_name"], state=state)


async def _stations(platform: Any) -> int:
    return await platform.db.read(
        lambda conn: conn.execute(sa.text("SELECT count(*) FROM stations")).scalar()
    )


async def test_a_never_onboarded_aggregator_is_refused_on_every_kind_of_call_until_created(
    platform: Any,
) -> None:
    await topology(platform)
    ghost = platform.channel_for(GHOST, onboard=False)
    device = platform.channel_for("vgi://device/ghost-charger", aggregator_id="ghost", onboard=False)
    stamp = Timestamp(seconds=1_700_000_000)

    _not_onboarded(await call(ghost, UPSERT_STATIONS, _upsert("st-ghost")))
    _not_onboarded(await call(ghost, LIST_STATIONS))
    # Streams are refused when they open: client-streaming, server-streaming, bidirectional.
    _not_onboarded(await call(ghost, UPLOAD, [agg_pb.UploadTelemetryRequest()]))
    _not_onboarded(await call(ghost, NOTIFICATIONS, agg_pb.StreamNotificationsRequest()))
    # A device acting for the ghost's charger is refused the same way.
    _not_onboarded(await call(device, CONNECT, [device_pb.ConnectRequest()]))
    meter = device_pb.UploadMeterValuesRequest(
        request_id=str(uuid.uuid4()),
        values=[telemetry_pb2.MeterValue(charger_id="ghost-charger", sample_time=stamp)],
    )
    _not_onboarded(await call(device, METER, meter))
    assert await _stations(platform) == 0  # nothing changed

    # The operator onboards it: this process admits it at once (its refusal was remembered, and forgotten).
    await platform.operator.create_aggregator("ghost", aggregator_pb2.Aggregator(display_name="Ghost Ltd"))
    admitted = await call(ghost, UPSERT_STATIONS, _upsert("st-ghost"))
    assert admitted.code == grpc.StatusCode.OK, admitted
    assert await _stations(platform) == 1


async def test_the_gate_reads_the_state_once_per_bound_not_per_call(
    database_url: str, platform_factory: Any
) -> None:
    """With a long bound the state read once keeps answering: a row removed behind the platform's back (no
    operator call, so no invalidation) goes unnoticed until the entry is forgotten — no query per call."""
    async with platform_factory(database_url, tenant_state_max_age_seconds=600) as running:
        client = aggregator_client(running, "agg-1")
        await client.list_stations()  # onboarded by the fixture, read once by the gate

        table = table_of(AggregatorRow)

        def remove(conn: Any) -> None:
            conn.execute(sa.update(table).where(table.c.aggregator_id == "agg-1").values(delete_time=now()))

        await running.db.write(remove)
        for _ in range(3):
            await client.list_stations()  # still admitted: the gate did not read the store again
        running.platform.tenants.forget("agg-1")
        _not_onboarded(await call(running.channel_for("vgi://aggregator/agg-1"), LIST_STATIONS), "agg-1")


async def test_a_suspended_aggregator_may_not_declare_capacity_and_reads_go_on(platform: Any) -> None:
    await topology(platform)
    client = aggregator_client(platform, "agg-1")
    await client.upsert_stations([station("st-1", "ta1")])
    suspended = await _set_state(platform, "agg-1", aggregator_pb2.AGGREGATOR_STATE_SUSPENDED)
    assert suspended.state == aggregator_pb2.AGGREGATOR_STATE_SUSPENDED

    channel = platform.channel_for("vgi://aggregator/agg-1")
    refused = await call(channel, DECLARE, _declare())
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION, refused
    info = refused.detail(error_details_pb2.ErrorInfo)
    assert (info.reason, dict(info.metadata)) == ("AGGREGATOR_SUSPENDED", {"aggregator_id": "agg-1"})
    failure = refused.detail(error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in failure.violations] == [("AGGREGATOR_STATE", "aggregators/agg-1")]
    day = _declaration().day_start_time.ToDatetime().replace(tzinfo=now().tzinfo)
    stored = await platform.db.read(lambda conn: capacity.declarations_for(conn, day, ["agg-1"]))
    assert stored == {}  # nothing changed
    # It keeps its data and its reads.
    assert [s.station_id for s in (await client.list_stations()).stations] == ["st-1"]

    await _set_state(platform, "agg-1", aggregator_pb2.AGGREGATOR_STATE_ACTIVE)
    assert await client.declare_capacity(_declaration()) == _declaration()


async def test_another_process_sees_a_suspension_within_the_bound(
    database_url: str, platform_factory: Any
) -> None:
    """Two servers on one database: A suspends, B (which had read ACTIVE) refuses within B's bound."""
    async with (
        platform_factory(database_url, tenant_state_max_age_seconds=0.5) as a,
        platform_factory(database_url, tenant_state_max_age_seconds=0.5) as b,
    ):
        await topology(a)
        on_b = aggregator_client(b, "agg-1")
        await on_b.upsert_stations([station("st-1", "ta1")])  # B reads agg-1 ACTIVE (onboarded through B)
        await _set_state(a, "agg-1", aggregator_pb2.AGGREGATOR_STATE_SUSPENDED)

        async def refused_on_b() -> bool:
            try:
                await on_b.declare_capacity(_declaration())
            except FailedPreconditionError as error:
                return error.reason == "AGGREGATOR_SUSPENDED"
            return False

        await until(refused_on_b, what="B refusing the suspended aggregator", limit_s=10)
