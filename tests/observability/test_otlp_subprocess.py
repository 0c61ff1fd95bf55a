"""``vgi serve`` configured only by OTEL_* variables exports its spans and metrics to a real OTLP receiver.

The server is a subprocess (mutual TLS, the whole chain, the real store on
SQLite and PostgreSQL). The test is the grid, agg-a and agg-a's charger: the
charger uploads meter values on its session, the grid instructs the node
through a traced channel and reads instructions until its READ bucket is
empty. While the streams are open the periodic metric export shows them;
after SIGTERM the receiver holds the server's spans (the grid call as the
remote child of the test's client span, its store work under it, both
deliveries linked to it) and the final cumulative metrics.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import grpc
import pytest
from conftest import GRID, DevCredentials
from dr import world
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.trace import SpanKind
from vgi.common.v1 import notifications_pb2, types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.streams import DeviceSession, NotificationSubscriber
from infra.observability.grpc_client import client_interceptors

from .conftest import MakeTracing
from .otlp_receiver import OtlpReceiver, attributes, otlp_receiver
from .vgi_process import AGGREGATOR, CHARGER, DEVICE, channel, meter_values, seed, vgi_serve
from waiting import WAIT_S, until

pytestmark = pytest.mark.timeout(180)

SERVICE = "vgi.dispatch.v1.DispatchService"
SUBMIT = f"{SERVICE}/SubmitDispatchInstruction"
SERVER, CLIENT, PRODUCER = (
    trace_pb2.Span.SPAN_KIND_SERVER,
    trace_pb2.Span.SPAN_KIND_CLIENT,
    trace_pb2.Span.SPAN_KIND_PRODUCER,
)


def _latest(receiver: OtlpReceiver) -> dict[str, metrics_pb2.Metric]:
    """Each metric as last exported (the points are cumulative)."""
    return {metric.name: metric for _resource, metric in receiver.metrics()}


def _sums(metric: metrics_pb2.Metric) -> dict[tuple[Any, ...], int]:
    return {tuple(attributes(p.attributes).values()): p.as_int for p in metric.sum.data_points}


def _streams_open(receiver: OtlpReceiver) -> dict[tuple[Any, ...], int]:
    metric = _latest(receiver).get("vgi.streams.open")
    return _sums(metric) if metric is not None else {}


async def _instruct(grid: grpc.aio.Channel) -> dispatch_pb.SubmitDispatchInstructionResponse:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    request = dispatch_pb.SubmitDispatchInstructionRequest(
        request_id=str(uuid.uuid4()),
        scope=f"gridNodes/{world.NODE}",
        direction=types_pb2.DIRECTION_LOAD_DECREASE,
        target=types_pb2.PowerCurve(start_time=world.ts(start), step_minutes=15, values_w=[5_000]),
        validity=types_pb2.TimeWindow(
            start_time=world.ts(start), end_time=world.ts(start + timedelta(minutes=15))
        ),
    )
    response: dispatch_pb.SubmitDispatchInstructionResponse = await dispatch_grpc.DispatchServiceStub(
        grid
    ).SubmitDispatchInstruction(request, timeout=10)
    return response


async def test_vgi_serve_exports_spans_and_metrics_over_otlp(
    database_url: str, dev_credentials: DevCredentials, memory_tracing: MakeTracing
) -> None:
    provider, exporter = memory_tracing(1.0)
    with otlp_receiver() as (receiver, endpoint):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "vgi-otlp-test",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "VGI_TRACE_SAMPLE_RATIO": "1.0",
            # One READ call per principal, then RESOURCE_EXHAUSTED for a long while.
            "VGI_RATE_LIMITS": "read=0.001/1,write=100/200,bulk=10/20,stream=20/40",
        }
        async with vgi_serve(database_url, dev_credentials, env) as served:
            await seed(served, dev_credentials, database_url)
            grid = channel(served, dev_credentials, GRID.uri, interceptors=client_interceptors(provider))
            aggregator = channel(served, dev_credentials, AGGREGATOR)
            device = channel(served, dev_credentials, DEVICE, aggregator_id="agg-a")
            subscriber = NotificationSubscriber(aggregator)
            notifications = cast(AsyncGenerator[notifications_pb2.Notification], aiter(subscriber))
            async with DeviceSession(device, CHARGER) as session:
                ack = await session.send_meter_values(meter_values(3))
                assert ack.stored_points == 3
                response = await _instruct(grid)
                async with asyncio.timeout(WAIT_S):
                    sequenced = await anext(aiter(session.setpoints()))
                    while not (notification := await anext(notifications)).HasField("instruction"):
                        pass
                await until(lambda: _streams_open(receiver) == {("device",): 1, ("aggregator",): 1})
                stub = dispatch_grpc.DispatchServiceStub(grid)
                await stub.ListInstructions(dispatch_pb.ListInstructionsRequest(), timeout=10)
                with pytest.raises(grpc.aio.AioRpcError) as throttled:
                    await stub.ListInstructions(dispatch_pb.ListInstructionsRequest(), timeout=10)
            # The server must see the device's cancel before shutdown ends the
            # stream for it (UNAVAILABLE); the next metric export shows it did.
            await until(lambda: _streams_open(receiver).get(("device",)) == 0)
            subscriber.disconnect()
            await notifications.aclose()
            for open_channel in (grid, aggregator, device):
                await open_channel.close(None)
            assert await served.stop() == 0

    # The calls did what they say.
    [instruction] = response.instructions
    assert notification.instruction.instruction_id == instruction.instruction_id
    assert (sequenced.setpoint.instruction, sequenced.setpoint.power_w) == (instruction.name, 2_000)
    assert throttled.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(cast(grpc.Call, throttled.value))
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details) and info.reason == "RATE_LIMITED"

    # Spans: the server's SubmitDispatchInstruction is the remote child of the test's client span.
    [client] = [s for s in exporter.get_finished_spans() if s.name == SUBMIT and s.kind is SpanKind.CLIENT]
    received = receiver.spans()
    assert {resource["service.name"] for resource, _ in received} == {"vgi-otlp-test"}
    spans = [span for _, span in received]
    [server] = [s for s in spans if s.name == SUBMIT and s.kind == SERVER]
    assert server.trace_id == client.context.trace_id.to_bytes(16, "big")
    assert server.parent_span_id == client.context.span_id.to_bytes(8, "big")
    assert attributes(server.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "SubmitDispatchInstruction",
        "rpc.grpc.status_code": 0,
    }
    stores = [s for s in spans if s.parent_span_id == server.span_id]
    assert stores and {s.name for s in stores} <= {"vgi.store.write", "vgi.store.read"}
    assert "vgi.store.write" in {s.name for s in stores}
    assert {s.trace_id for s in stores} == {server.trace_id}
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert all(attributes(s.attributes)["db.system"] == dialect for s in stores)
    # Each store span names the store function it ran (issue 17: a call's writes told apart).
    assert all(attributes(s.attributes)["code.function"] for s in stores)
    # The deliveries: their own traces, linked to the grid call's server span.
    for name, sequence in (
        ("deliver notification", notification.sequence),
        ("deliver setpoint", sequenced.sequence),
    ):
        [delivery] = [
            s
            for s in spans
            if s.name == name and attributes(s.attributes)["vgi.delivery.sequence"] == sequence
        ]
        assert delivery.kind == PRODUCER and delivery.parent_span_id == b""
        assert delivery.trace_id != server.trace_id
        assert [(link.trace_id, link.span_id) for link in delivery.links] == [
            (server.trace_id, server.span_id)
        ]
    assert not [s for s in spans if s.kind == CLIENT]  # the server makes no calls of its own

    # Metrics: the final (cumulative) export at shutdown.
    metrics = _latest(receiver)
    duration = metrics["vgi.rpc.server.duration"]
    assert duration.unit == "ms"
    by_call = {
        (a["rpc.service"], a["rpc.method"], a["rpc.grpc.status_code"]): p
        for p in duration.histogram.data_points
        for a in [attributes(p.attributes)]
    }
    assert by_call[(SERVICE, "SubmitDispatchInstruction", 0)].count == 1
    assert by_call[(SERVICE, "ListInstructions", 0)].count == 1
    assert by_call[(SERVICE, "ListInstructions", 8)].count == 1  # RESOURCE_EXHAUSTED
    # The device ends its session by cancelling; the server records CANCELLED,
    # or OK when its handler saw the request stream end before the cancel.
    [connect] = [p for (service, method, code), p in by_call.items() if method == "Connect"]
    assert connect.count == 1
    assert {code for (_, method, code) in by_call if method == "Connect"} <= {0, 1}
    calls = _sums(metrics["vgi.rpc.server.calls"])
    assert calls[(SERVICE, "SubmitDispatchInstruction", 0)] == 1
    assert calls[(SERVICE, "ListInstructions", 8)] == 1
    deliveries = _sums(metrics["vgi.deliveries"])
    assert deliveries[("setpoint",)] == 1 and deliveries[("notification",)] >= 1
    latency = {
        attributes(p.attributes)["vgi.delivery.kind"]: p
        for p in metrics["vgi.delivery.latency"].histogram.data_points
    }
    assert latency["setpoint"].count == 1 and latency["notification"].count == deliveries[("notification",)]
    assert 0 <= latency["setpoint"].sum < WAIT_S * 1000
    assert _sums(metrics["vgi.telemetry.points"]) == {("device",): 3}
    assert _sums(metrics["vgi.ratelimit.rejections"]) == {("READ",): 1}
    assert _sums(metrics["vgi.streams.open"]) == {("device",): 0, ("aggregator",): 0}
