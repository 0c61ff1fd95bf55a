"""UploadTelemetry answers each batch with its own result and the stream goes on past a bad batch."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from dr import world
from google.rpc import code_pb2, error_details_pb2
from registry import world as registry_world
from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import resources_pb2, telemetry_pb2

from clients.registry import AggregatorRegistryClient

pytestmark = pytest.mark.timeout(60)


def _batch(charger_id: str, *, minutes_ago: int = 1, power_w: int = 3_000) -> pb.TelemetryBatch:
    return pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            telemetry_pb2.MeterValue(
                charger_id=charger_id,
                sample_time=world.ts(registry_world.now() - timedelta(minutes=minutes_ago)),
                power_w=power_w,
                energy_register_wh=1_000,
                status=resources_pb2.CHARGER_STATUS_CHARGING,
            )
        ],
    )


def _details(status: Any) -> tuple[str, list[str]]:
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status.details:
        if not detail.Unpack(info):
            detail.Unpack(bad)
    return info.reason, [v.field for v in bad.field_violations]


async def test_each_batch_gets_its_result_and_a_bad_one_does_not_end_the_stream(platform: Any) -> None:
    await world.build(platform, managed_sessions={"agg-a": [("s-1", 2.0)]})
    channel = platform.channel_for("vgi://aggregator/agg-a")
    good, again = _batch("ch-s-1"), _batch("ch-s-1", minutes_ago=2)
    out_of_range = _batch("ch-s-1", power_w=5_000_000)  # breaks the contract: |power_w| ≤ 2 MW
    unknown = _batch("not-a-charger")  # passes the contract, refused by the store
    batches = [good, out_of_range, unknown, again, good]

    call = agg_grpc.AggregatorServiceStub(channel).UploadTelemetry(
        iter(pb.UploadTelemetryRequest(batch=b) for b in batches)
    )
    acks = [ack async for ack in call]

    assert [(a.batch_id, a.result) for a in acks] == [
        (good.batch_id, pb.TELEMETRY_BATCH_RESULT_ACCEPTED),
        (out_of_range.batch_id, pb.TELEMETRY_BATCH_RESULT_REJECTED),
        (unknown.batch_id, pb.TELEMETRY_BATCH_RESULT_REJECTED),
        (again.batch_id, pb.TELEMETRY_BATCH_RESULT_ACCEPTED),
        (good.batch_id, pb.TELEMETRY_BATCH_RESULT_DUPLICATE),
    ]
    # A re-sent batch id is answered with its first answer (SPEC F2), flagged DUPLICATE: nothing more stored.
    assert [a.stored_points for a in acks] == [1, 0, 0, 1, 1]
    assert acks[1].error.code == code_pb2.INVALID_ARGUMENT
    assert _details(acks[1].error) == ("VALIDATION_FAILED", ["batch.meter_values[0].power_w"])
    assert acks[2].error.code in (code_pb2.INVALID_ARGUMENT, code_pb2.NOT_FOUND)
    assert _details(acks[2].error)[0]
    assert not acks[0].HasField("error") and not acks[3].HasField("error")

    # The SDK raises the typed error of a rejected batch unless asked to hand it over.
    registry = AggregatorRegistryClient(channel)
    results = [
        a.result
        async for a in registry.upload_telemetry(
            [unknown, _batch("ch-s-1", minutes_ago=3)], raise_rejected=False
        )
    ]
    assert results == [pb.TELEMETRY_BATCH_RESULT_REJECTED, pb.TELEMETRY_BATCH_RESULT_ACCEPTED]
