"""vgi.telemetry.points over the real platform: points counted once committed, re-sent batches count nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from registry.world import aggregator_client, charger, meter, now, onboard, station, topology
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb

from clients.registry import DeviceTelemetryClient
from infra.observability.metrics import METRICS, TELEMETRY_POINTS


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[memory])
    METRICS.bind(provider)
    yield memory
    provider.shutdown()


def _points(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        str(point.attributes["vgi.surface"]): int(point.value)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == TELEMETRY_POINTS
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint) and point.attributes is not None
    }


async def test_telemetry_points_count_what_was_committed_once(
    platform: Any, reader: InMemoryMetricReader
) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    aggregator = aggregator_client(platform)
    await aggregator.upsert_stations([station("st-a", "ta1")])
    await aggregator.upsert_chargers([charger("c001", "st-a"), charger("c002", "st-a")])
    t = now() - timedelta(hours=1)

    first = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()), meter_values=[meter("c001", t, 1_000), meter("c002", t, 2_000)]
    )
    second = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()), meter_values=[meter("c001", t + timedelta(minutes=1), 1)]
    )
    acks = [ack async for ack in aggregator.upload_telemetry([first, first, second])]
    assert [(a.stored_points, a.duplicate) for a in acks] == [(2, False), (2, True), (1, False)]

    device = DeviceTelemetryClient(platform.channel_for("vgi://device/c001", aggregator_id="agg-1"))
    values = [meter("c001", t + timedelta(minutes=10 + m), 500) for m in range(4)]
    batch_id = str(uuid.uuid4())
    assert (await device.upload_meter_values(values, batch_id=batch_id)).stored_points == 4
    # The retry is answered from the idempotency record: the same answer, nothing stored, nothing counted.
    assert (await device.upload_meter_values(values, batch_id=batch_id)).stored_points == 4

    assert _points(reader) == {"aggregator": 3, "device": 4}
