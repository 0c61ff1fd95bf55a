"""Export as the OTEL_* environment says: OTLP/gRPC to a real receiver, Prometheus scrape, or nothing."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest

from infra.observability import setup_observability
from infra.observability.grpc_client import client_interceptors
from infra.observability.metrics import METRICS, setup_metrics
from infra.observability.tracing import exporter_names, setup_tracing
from interceptors.metrics import metrics_server_interceptor
from interceptors.tracing import tracing_server_interceptor

from .echo_service import EchoService, path, serve, span
from .otlp_receiver import attributes, otlp_receiver


async def test_spans_and_metrics_reach_an_otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    with otlp_receiver() as (receiver, endpoint):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        observability = setup_observability("vgi-test", sample_ratio=1.0)
        try:
            assert observability.tracer_provider is not None and observability.meter_provider is not None
            async with (
                serve(EchoService(), [tracing_server_interceptor(), metrics_server_interceptor()]) as port,
                grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors()) as channel,
            ):
                await channel.unary_unary(path("Unary"))(b"x")
            METRICS.delivered("setpoint", 0.25)
            METRICS.telemetry_points("device", 42)
            # The exporters send from their own threads to the receiver's;
            # flushing off the event loop keeps this test's loop free.
            assert await asyncio.to_thread(observability.tracer_provider.force_flush)
            assert await asyncio.to_thread(observability.meter_provider.force_flush)
        finally:
            await asyncio.to_thread(observability.shutdown)

    spans = {(span.name, span.kind): (resource, span) for resource, span in receiver.spans()}
    resource, server = spans[(span("Unary"), 2)]  # SPAN_KIND_SERVER
    _, client = spans[(span("Unary"), 3)]  # SPAN_KIND_CLIENT
    assert resource["service.name"] == "vgi-test"
    assert server.trace_id == client.trace_id and server.parent_span_id == client.span_id
    assert attributes(server.attributes)["rpc.grpc.status_code"] == 0
    assert ("store.save_item", 1) in spans  # SPAN_KIND_INTERNAL

    metrics = {metric.name: metric for resource, metric in receiver.metrics()}
    [duration] = [
        point
        for point in metrics["vgi.rpc.server.duration"].histogram.data_points
        if attributes(point.attributes)["rpc.method"] == "Unary"
    ]
    assert duration.count == 1 and metrics["vgi.rpc.server.duration"].unit == "ms"
    [calls] = metrics["vgi.rpc.server.calls"].sum.data_points
    assert (attributes(calls.attributes)["rpc.grpc.status_code"], calls.as_int) == (0, 1)
    assert [p.as_int for p in metrics["vgi.deliveries"].sum.data_points] == [1]
    assert [p.count for p in metrics["vgi.delivery.latency"].histogram.data_points] == [1]
    assert [p.as_int for p in metrics["vgi.telemetry.points"].sum.data_points] == [42]


async def test_prometheus_scrape_endpoint() -> None:
    observability = setup_observability("vgi-test", prometheus_port=0)
    try:
        assert observability.prometheus is not None and observability.meter_provider is not None
        async with (
            serve(EchoService(), [metrics_server_interceptor()]) as port,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            await channel.unary_unary(path("Unary"))(b"x")
        url = f"http://127.0.0.1:{observability.prometheus.port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    finally:
        observability.shutdown()
    [count] = [
        line
        for line in body.splitlines()
        if line.startswith("vgi_rpc_server_duration_milliseconds_count") and 'rpc_method="Unary"' in line
    ]
    assert count.endswith(" 1.0")
    # Shut down with the provider: the port is free again.
    with pytest.raises(OSError):
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2))


def test_nothing_is_exported_when_nothing_is_configured() -> None:
    assert setup_tracing("vgi-test", 1.0) is None
    assert setup_metrics("vgi-test") is None
    assert not METRICS.enabled


@pytest.mark.parametrize(
    ("env", "console", "expected"),
    [
        ({}, False, []),
        ({}, True, ["console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, False, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, True, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, False, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, False, []),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_grpc,console"}, False, ["otlp", "console"]),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            False,
            ["otlp_http"],
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            False,
            ["otlp_http"],
        ),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, True, []),
    ],
)
def test_exporter_names(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], console: bool, expected: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert exporter_names("traces", console=console) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
    ],
)
def test_unsupported_exporters_fail_loudly(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        exporter_names("traces", console=False)
