"""Finding 9: every accepted telemetry batch leaves its own audit record — principal, batch id,
point count and digest — before it is acknowledged, and the chain still verifies."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from registry.world import aggregator_client, charger, meter, now, onboard, station, topology
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

pytestmark = pytest.mark.timeout(120)

UPLOAD = "/vgi.aggregator.v1.AggregatorService/UploadTelemetry"
BATCHES = 15


async def test_each_accepted_telemetry_batch_is_audited(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    registry = aggregator_client(platform)
    await registry.upsert_stations([station("st-1", "ta1")])
    await registry.upsert_chargers([charger("charger-1", "st-1")])
    start = now() - timedelta(hours=2)
    batches = [
        agg_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            meter_values=[meter("charger-1", start + timedelta(minutes=3 * b + m), 7000) for m in range(3)],
        )
        for b in range(BATCHES)
    ]
    sent = [*batches, batches[0]]  # the first one re-sent: a duplicate
    stub = agg_grpc.AggregatorServiceStub(platform.channel_for("vgi://aggregator/agg-1"))
    acks = [
        ack async for ack in stub.UploadTelemetry(iter(agg_pb.UploadTelemetryRequest(batch=b) for b in sent))
    ]
    assert [a.batch_id for a in acks] == [b.batch_id for b in sent]

    operator = operator_grpc.OperatorServiceStub(platform.channel)
    listed = await operator.ListAuditRecords(
        operator_pb.ListAuditRecordsRequest(method=UPLOAD, page_size=100), timeout=30
    )
    records = [r for r in listed.audit_records if r.request_id]
    assert [(r.request_id, r.detail) for r in records] == [
        *((b.batch_id, "points=3/3") for b in batches),
        (batches[0].batch_id, "duplicate"),
    ]
    for record, batch in zip(records, sent, strict=True):
        assert record.principal == "vgi://aggregator/agg-1"
        assert record.code == "OK"
        assert (
            record.request_digest == hashlib.sha256(batch.SerializeToString(deterministic=True)).hexdigest()
        )
    verified = await operator.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=30)
    assert verified.intact, verified.problems
