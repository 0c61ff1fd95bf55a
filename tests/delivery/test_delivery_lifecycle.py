"""Deliveries traced back to the causing call, and streams ended on graceful shutdown (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as pb_grpc

from infra.observability.tracing import PlatformSampler, link_from_current, use_tracer_provider
from wire import outbox as wire_outbox

from .helpers import note, read_n
from waiting import until


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=PlatformSampler(1.0))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    use_tracer_provider(provider)
    try:
        yield exported
    finally:
        use_tracer_provider(None)
        provider.shutdown()


async def test_every_delivery_is_a_span_linked_to_the_causing_call(
    platform: Any, exporter: InMemorySpanExporter
) -> None:
    streams = [
        pb_grpc.AggregatorServiceStub(platform.channel_for(f"vgi://aggregator/{a}")).StreamNotifications(
            pb.StreamNotificationsRequest()
        )
        for a in ("agg-1", "agg-2")
    ]
    with (
        TracerProvider(sampler=PlatformSampler(1.0))
        .get_tracer("grid")
        .start_as_current_span("grid call") as cause
    ):
        carrier = link_from_current()
    assert carrier is not None
    await platform.db.write(
        lambda conn: wire_outbox.enqueue_notifications_for(
            conn, ["agg-1", "agg-2"], note("invitation"), carrier
        )
    )
    for stream in streams:
        await read_n(stream, 1)
        stream.cancel()

    await until(lambda: len(exporter.get_finished_spans()) >= 2)
    deliveries = [s for s in exporter.get_finished_spans() if s.name == "deliver notification"]
    assert len(deliveries) == 2
    for span in deliveries:
        assert span.parent is None
        assert span.context.trace_id != cause.get_span_context().trace_id
        assert [link.context.span_id for link in span.links] == [cause.get_span_context().span_id]
        assert span.attributes == {"vgi.delivery.kind": "notification", "vgi.delivery.sequence": 1}


async def test_open_streams_end_with_unavailable_on_graceful_shutdown(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url) as running:
        stream = pb_grpc.AggregatorServiceStub(
            running.channel_for("vgi://aggregator/agg-1")
        ).StreamNotifications(pb.StreamNotificationsRequest())
        await running.db.write(lambda conn: wire_outbox.enqueue_notification(conn, "agg-1", note("before")))
        await read_n(stream, 1)
        await running.platform.stop(grace=30)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await read_n(stream, 1)
    assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(ended.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "SHUTTING_DOWN"
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details[1:]), "UNAVAILABLE carries RetryInfo"
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.0
