"""Call accounting over a real server: duration and code per call, open streams, the platform counters."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from infra.observability.metrics import (
    DELIVERIES,
    DELIVERY_LATENCY,
    RATELIMIT_REJECTIONS,
    RPC_CALLS,
    RPC_DURATION,
    STREAMS_OPEN,
    TELEMETRY_POINTS,
    Metrics,
    surface_of,
)
from interceptors.metrics import metrics_server_interceptor

from .echo_service import EchoService, call_every_kind, path, serve
from waiting import WAIT_S, eventually, until, within


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def _by_method(points: list[Any]) -> dict[tuple[str, int], Any]:
    return {(p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]): p for p in points}


class PlatformInMemoryReader(InMemoryMetricReader):
    """What the platform's readers do (add its histograms to each collection), kept in memory."""

    def __init__(self, platform: Metrics) -> None:
        super().__init__()
        self._platform = platform

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(self._platform.histograms_into(metrics_data), timeout_millis, **kwargs)


@pytest.fixture
def metered() -> tuple[Metrics, InMemoryMetricReader]:
    metrics = Metrics()
    reader = PlatformInMemoryReader(metrics)
    metrics.bind(MeterProvider(metric_readers=[reader]))
    return metrics, reader


async def test_duration_and_count_by_method_and_code(metered: tuple[Metrics, InMemoryMetricReader]) -> None:
    metrics, reader = metered
    async with (
        serve(EchoService(), [metrics_server_interceptor(metrics)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        await call_every_kind(channel)
        await channel.unary_unary(path("Unary"))(b"again")
        for method in ("NotFound", "Fail"):
            with pytest.raises(grpc.aio.AioRpcError):
                await channel.unary_unary(path(method))(b"x")

    durations = _by_method(_points(reader, RPC_DURATION))
    calls = _by_method(_points(reader, RPC_CALLS))
    expected = {
        ("Unary", 0): 2,
        ("ServerStream", 0): 1,
        ("ServerStreamWrite", 0): 1,
        ("ClientStream", 0): 1,
        ("Bidi", 0): 1,
        ("NotFound", grpc.StatusCode.NOT_FOUND.value[0]): 1,
        ("Fail", grpc.StatusCode.UNKNOWN.value[0]): 1,
    }
    assert {key: point.count for key, point in durations.items()} == expected
    assert {key: point.value for key, point in calls.items()} == expected
    unary = durations[("Unary", 0)]
    assert 0 < unary.min <= unary.max < 1000  # milliseconds, not seconds
    assert unary.attributes["rpc.service"] == "test.Echo"


async def test_deadline_exceeded_is_counted_as_such(metered: tuple[Metrics, InMemoryMetricReader]) -> None:
    metrics, reader = metered
    async with (
        serve(EchoService(), [metrics_server_interceptor(metrics)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(path("Slow"))(b"x", timeout=1.0)
        assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        # The server's deadline runs from when the call arrived, a little after the client's, and
        # the client's cancel often arrives first: either way the call's deadline passed.
        await until(lambda: bool(_points(reader, RPC_CALLS)), what="the server to record the call")
    assert set(_by_method(_points(reader, RPC_CALLS))) == {
        ("Slow", grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    }


async def test_a_client_cancel_well_before_the_deadline_is_counted_as_cancelled(
    metered: tuple[Metrics, InMemoryMetricReader],
) -> None:
    metrics, reader = metered
    service = EchoService()
    async with (
        serve(service, [metrics_server_interceptor(metrics)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        pending = channel.unary_unary(path("Slow"))(b"x", timeout=WAIT_S * 2)
        await within(service.slow_started.wait(), what="the handler to start")
        pending.cancel()
        await until(lambda: bool(_points(reader, RPC_CALLS)), what="the server to record the call")
    assert set(_by_method(_points(reader, RPC_CALLS))) == {("Slow", grpc.StatusCode.CANCELLED.value[0])}


async def test_open_streams_by_surface(metered: tuple[Metrics, InMemoryMetricReader]) -> None:
    metrics, reader = metered
    async with (
        serve(EchoService(), [metrics_server_interceptor(metrics)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        streams = [channel.stream_stream(path("Bidi"))() for _ in range(2)]
        for stream in streams:
            await stream.write(b"ping")
            assert await stream.read() == b"ping"
        [open_now] = _points(reader, STREAMS_OPEN)
        assert (open_now.attributes["vgi.surface"], open_now.value) == ("test", 2)
        for stream in streams:
            await stream.done_writing()
            assert await stream.read() is grpc.aio.EOF
        # The server side finishes just after the client has seen EOF.
        await eventually(lambda: [p.value for p in _points(reader, STREAMS_OPEN)], [0])


def test_platform_counters(metered: tuple[Metrics, InMemoryMetricReader]) -> None:
    metrics, reader = metered
    metrics.delivered("setpoint", 0.120)
    metrics.delivered("setpoint", 0.030)
    metrics.delivered("notification", 0.010)
    metrics.telemetry_points("device", 500)
    metrics.telemetry_points("device", 250)
    metrics.ratelimit_rejected("WRITE")

    assert {p.attributes["vgi.delivery.kind"]: p.value for p in _points(reader, DELIVERIES)} == {
        "setpoint": 2,
        "notification": 1,
    }
    latency = {p.attributes["vgi.delivery.kind"]: p for p in _points(reader, DELIVERY_LATENCY)}
    assert (latency["setpoint"].count, latency["setpoint"].sum) == (2, pytest.approx(150.0))
    assert [(p.attributes, p.value) for p in _points(reader, TELEMETRY_POINTS)] == [
        ({"vgi.surface": "device"}, 750)
    ]
    assert [(p.attributes, p.value) for p in _points(reader, RATELIMIT_REJECTIONS)] == [
        ({"vgi.ratelimit.class": "WRITE"}, 1)
    ]


def test_unbound_metrics_record_nothing() -> None:
    metrics = Metrics()
    metrics.delivered("setpoint", 0.1)
    metrics.rpc_recorder(path("Unary"))(grpc.StatusCode.OK, 0.001)
    reader = PlatformInMemoryReader(metrics)
    metrics.bind(MeterProvider(metric_readers=[reader]))
    for name in (DELIVERIES, DELIVERY_LATENCY, RPC_CALLS, RPC_DURATION):
        assert _points(reader, name) == [], name


def test_histogram_buckets_are_upper_inclusive(metered: tuple[Metrics, InMemoryMetricReader]) -> None:
    metrics, reader = metered
    record = metrics.rpc_recorder(path("Unary"))
    for milliseconds in (0.1, 0.25, 0.26, 7.0, 20_000.0):
        record(grpc.StatusCode.OK, milliseconds / 1000.0)
    [point] = _points(reader, RPC_DURATION)
    bounds = list(point.explicit_bounds)
    assert bounds[:3] == [0.25, 0.5, 1.0] and bounds[-1] == 10_000.0
    expected = [0] * (len(bounds) + 1)
    expected[0] = 2  # 0.1 and 0.25: (-inf, 0.25]
    expected[1] = 1  # 0.26: (0.25, 0.5]
    expected[bounds.index(10.0)] = 1  # 7.0: (5, 10]
    expected[-1] = 1  # 20 s: (10000, +inf)
    assert list(point.bucket_counts) == expected
    assert (point.count, point.min, point.max) == (5, pytest.approx(0.1), pytest.approx(20_000.0))
    assert point.sum == pytest.approx(0.1 + 0.25 + 0.26 + 7.0 + 20_000.0)


@pytest.mark.parametrize(
    ("method", "surface"),
    [
        ("/vgi.device.v1.DeviceService/Session", "device"),
        ("/vgi.aggregator.v1.AggregatorService/Notifications", "aggregator"),
        ("/grpc.health.v1.Health/Watch", "grpc.health.v1"),
    ],
)
def test_surface_of(method: str, surface: str) -> None:
    assert surface_of(method) == surface
