"""Tenant isolation (SPEC section 6): an aggregator sees and changes only its own rows; others' answer NOT_FOUND."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
from dr import world
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from registry import world as registry_world
from settlement import scenario
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1.aggregator_service_pb2_grpc import AggregatorServiceStub
from vgi.common.v1 import aggregator_pb2, settlement_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.device.v1.device_service_pb2_grpc import DeviceServiceStub
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from clients.market import AggregatorMarketClient, GridMarketClient

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- market: events, bids, instructions


async def test_market_rows_are_confined_to_their_aggregator(platform: Any) -> None:
    await world.build(platform)
    await platform.operator.create_aggregator("agg-d", aggregator_pb2.Aggregator(display_name="Not at ta-1"))
    start = world.tomorrow_at(18)
    grid = GridMarketClient(platform.grid)
    await grid.publish_event(world.day_ahead_event("dr-t", start, [100_000]))
    a, b, d = (
        AggregatorMarketClient(platform.channel_for(f"vgi://aggregator/{x}"))
        for x in ("agg-a", "agg-b", "agg-d")
    )
    await a.submit_bid("events/dr-t", world.slots(start, [(50_000, "0.50")]))

    # agg-d serves no node of the event: it is not invited, so the event does not exist for it.
    assert list((await d.list_events()).events) == []
    with pytest.raises(NotFoundError) as uninvited:
        await d.submit_bid("events/dr-t", world.slots(start, [(1_000, "0.50")]))
    assert uninvited.value.reason == "EVENT_NOT_FOUND"

    # agg-b is invited but cannot read or withdraw agg-a's bid.
    for call in (b.get_bid, b.withdraw_bid):
        with pytest.raises(NotFoundError) as foreign:
            await call("events/dr-t/bids/agg-a")
        assert foreign.value.reason == "BID_NOT_FOUND"
        assert foreign.value.metadata == {"bid": "events/dr-t/bids/agg-a"}
    assert (await a.get_bid("events/dr-t/bids/agg-a")).slots[0].capacity_w == 50_000

    await platform.platform.scheduler.tick(start - timedelta(hours=2))
    [instruction] = (await grid.clear_event("events/dr-t")).instructions
    assert instruction.aggregator == "aggregators/agg-a"
    assert [i.instruction_id for i in (await a.list_instructions()).instructions] == [
        instruction.instruction_id
    ]
    assert list((await b.list_instructions(event="events/dr-t")).instructions) == []
    assert list((await d.list_instructions()).instructions) == []


async def test_an_aggregator_cannot_use_the_grid_market_rpcs(platform: Any) -> None:
    await world.build(platform)
    stub = dispatch_grpc.DispatchServiceStub(platform.channel_for("vgi://aggregator/agg-a"))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.ListInstructions(dispatch_pb.ListInstructionsRequest(), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- settlement: evaluations and statements


async def test_evaluations_and_statements_are_confined_to_their_aggregator(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = scenario.World(platform)
        await w.build()
        await w.day_ahead(
            "dr-s", [100_000, 60_000], {"agg-a": [(60_000, "0.50")] * 2, "agg-b": [(50_000, "0.40")] * 2}
        )
        await w.upload_event_day("agg-a", {}, scenario.BASE_A)
        await w.upload_event_day("agg-b", {}, scenario.BASE_B)
        await w.run_window()
        await w.settlement.evaluate_event("events/dr-s")
        a, b, c = (w.statements[x] for x in ("agg-a", "agg-b", "agg-c"))

        with pytest.raises(NotFoundError) as foreign_evaluation:
            await b.get_evaluation("events/dr-s/evaluations/agg-a")
        assert foreign_evaluation.value.reason == "EVALUATION_NOT_FOUND"
        assert foreign_evaluation.value.metadata == {"evaluation": "events/dr-s/evaluations/agg-a"}
        with pytest.raises(NotFoundError) as never_instructed:
            await c.get_evaluation("events/dr-s/evaluations/agg-c")
        assert never_instructed.value.reason == "EVALUATION_NOT_FOUND"

        for call in (b.confirm_statement, lambda name: b.dispute_statement(name, "not mine")):
            with pytest.raises(NotFoundError) as foreign_statement:
                await call("events/dr-s/statements/agg-a")
            assert foreign_statement.value.reason == "STATEMENT_NOT_FOUND"
            assert foreign_statement.value.metadata == {"statement": "events/dr-s/statements/agg-a"}
        assert [s.name for s in (await b.list_statements()).statements] == ["events/dr-s/statements/agg-b"]
        assert [s.name for s in (await a.list_statements(event="events/dr-s")).statements] == [
            "events/dr-s/statements/agg-a"
        ]
        assert list((await c.list_statements()).statements) == []
        [untouched] = [
            s
            for s in (await w.settlement.list_statements("events/dr-s")).statements
            if s.aggregator == "aggregators/agg-a"
        ]
        assert untouched.state == settlement_pb2.STATEMENT_STATE_DRAFT

        # The grid's settlement RPCs are not an aggregator's.
        stub = dispatch_grpc.DispatchServiceStub(platform.channel_for("vgi://aggregator/agg-a"))
        for rpc, request in (
            (stub.GetGridStatement, dispatch_pb.GetGridStatementRequest(event="events/dr-s")),
            (stub.ListEvaluations, dispatch_pb.ListEvaluationsRequest(event="events/dr-s")),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await rpc(request, timeout=10)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- registry: stations, chargers, sessions, telemetry


async def test_registry_rows_are_confined_to_their_aggregator(platform: Any) -> None:
    await registry_world.onboard(platform, "agg-1", "agg-2")
    await registry_world.topology(platform)
    owner = registry_world.aggregator_client(platform, "agg-1")
    other = registry_world.aggregator_client(platform, "agg-2")
    await owner.upsert_stations([registry_world.station("st-a", "ta1")])
    await owner.upsert_chargers([registry_world.charger("c1", "st-a")])
    await owner.upsert_sessions([registry_world.session("s1", "c1", registry_world.now())])
    await other.upsert_stations([registry_world.station("st-a", "ta2")])  # ids are per tenant

    for name in (
        "aggregators/agg-1/stations/st-a/chargers/c1",
        "aggregators/agg-2/stations/st-a/chargers/c1",
    ):
        for call in (other.get_charger, other.delete_charger):
            with pytest.raises(NotFoundError) as hidden:
                await call(name)
            assert hidden.value.reason == "CHARGER_NOT_FOUND"
            assert hidden.value.metadata == {"charger_id": "c1"}
    with pytest.raises(NotFoundError) as hidden:
        await other.delete_station("aggregators/agg-1/stations/st-a")
    assert hidden.value.reason == "STATION_NOT_FOUND"
    assert list((await other.list_chargers()).chargers) == []
    assert list((await other.list_sessions()).sessions) == []
    assert [s.grid_node for s in (await other.list_stations()).stations] == ["gridNodes/ta2"]

    # Charger ids are platform-wide (they are device identities): another tenant cannot take one over.
    with pytest.raises(AlreadyExistsError) as taken:
        await other.upsert_chargers([registry_world.charger("c1", "st-a")])
    assert taken.value.reason == "CHARGER_ID_TAKEN"
    assert taken.value.metadata == {"charger_id": "c1", "taken_count": "1"}
    assert "agg-1" not in str(taken.value) and "another aggregator" not in str(taken.value)
    with pytest.raises(InvalidArgumentError) as foreign:
        await other.upsert_sessions([registry_world.session("s9", "c1", registry_world.now())])
    assert foreign.value.reason == "INVALID_SESSION"
    assert [v.field for v in foreign.value.field_violations] == ["sessions[0].charger_id"]
    with pytest.raises(InvalidArgumentError) as not_yours:
        [
            ack
            async for ack in other.upload_telemetry(
                [
                    agg_pb.TelemetryBatch(
                        batch_id=str(uuid.uuid4()),
                        meter_values=[registry_world.meter("c1", registry_world.now(), 1)],
                    )
                ]
            )
        ]
    assert not_yours.value.reason == "CHARGER_NOT_ALLOWED"

    assert (await owner.get_charger("aggregators/agg-1/stations/st-a/chargers/c1")).station_id == "st-a"
    assert (await other.get_adjustable_capacity()).capacity.active_sessions == 0
    assert (await owner.get_adjustable_capacity()).capacity.active_sessions == 1


# ---------------------------------------------------------------- devices: only their own charger


async def test_a_device_acts_only_on_its_own_charger(platform: Any) -> None:
    await registry_world.onboard(platform, "agg-1", "agg-2")
    await registry_world.topology(platform)
    owner = registry_world.aggregator_client(platform, "agg-1")
    other = registry_world.aggregator_client(platform, "agg-2")
    await owner.upsert_stations([registry_world.station("st-a", "ta1")])
    await owner.upsert_chargers([registry_world.charger("c1", "st-a")])
    await other.upsert_stations([registry_world.station("st-b", "ta2")])
    await other.upsert_chargers([registry_world.charger("c2", "st-b")])
    device = DeviceServiceStub(platform.channel_for("vgi://device/c1", aggregator_id="agg-1"))

    def upload(charger_id: str) -> Any:
        return device.UploadMeterValues(
            device_pb.UploadMeterValuesRequest(
                request_id=str(uuid.uuid4()),
                values=[registry_world.meter(charger_id, registry_world.now(), 1)],
            ),
            timeout=10,
        )

    assert (await upload("c1")).stored_points == 1
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await upload("c2")  # another tenant's charger
    assert foreign.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(foreign.value)  # type: ignore[arg-type]
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        if detail.Is(bad.DESCRIPTOR):
            detail.Unpack(bad)
    assert info.reason == "CHARGER_NOT_ALLOWED"
    assert [v.field for v in bad.field_violations] == ["values[0].charger_id"]

    # A device certificate names one charger; the aggregator surface is closed to it.
    registry = AggregatorServiceStub(platform.channel_for("vgi://device/c1", aggregator_id="agg-1"))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await registry.ListChargers(agg_pb.ListChargersRequest(), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A device whose charger nobody registered has nothing to act on.
    stranger = DeviceServiceStub(platform.channel_for("vgi://device/c9", aggregator_id="agg-1"))
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stranger.UploadMeterValues(
            device_pb.UploadMeterValuesRequest(
                request_id=str(uuid.uuid4()), values=[registry_world.meter("c9", registry_world.now(), 1)]
            ),
            timeout=10,
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
