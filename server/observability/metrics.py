"""Metrics: the MeterProvider the OTEL_* environment asks for, and the platform's instruments.

Other code reports through the module-level ``METRICS`` object; until
``setup_metrics`` binds it to a provider every call returns at once.

Counters are tallied in process (a dict increment under a lock) and read by
the SDK through observable instruments when a reader collects: the SDK's own
synchronous ``Counter.add`` costs ~4.5 µs here, which on the per-call and
per-delivery paths is a visible share of a ~260 µs unary call. Histograms
have no observable form, so they go through the SDK (~4.7 µs a record).

Attributes are bounded by design: method names (the registered ones only),
status codes, surfaces, delivery kinds and rate-limit classes — never a
principal, charger or aggregator id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, start_http_server

from server.observability.tracing import exporter_names, otel_resource

METER_NAME = "vgi"

RPC_DURATION = "vgi.rpc.server.duration"
RPC_CALLS = "vgi.rpc.server.calls"
STREAMS_OPEN = "vgi.streams.open"
DELIVERIES = "vgi.deliveries"
DELIVERY_LATENCY = "vgi.delivery.latency"
TELEMETRY_POINTS = "vgi.telemetry.points"
RATELIMIT_REJECTIONS = "vgi.ratelimit.rejections"

# Unary calls take well under a millisecond to tens of milliseconds; the SDK's
# default buckets start at 5 ms and would lump them all together.
_RPC_BUCKETS_MS = (0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
# Brackets the delivery targets: p99 ≤ 200 ms to aggregators, ≤ 2 s to devices.
_DELIVERY_BUCKETS_MS = (1, 5, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)

RpcRecorder = Callable[[grpc.StatusCode, float], None]


def surface_of(full_method: str) -> str:
    """``/vgi.device.v1.DeviceService/Session`` → ``device``; another service → its package."""
    service = full_method.lstrip("/").partition("/")[0]
    package = service.rpartition(".")[0]
    parts = package.split(".")
    if len(parts) == 3 and parts[0] == "vgi":
        return parts[1]
    return package or service


class _Tally:
    """Cumulative values per attribute tuple, observed by the SDK at collection time."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._values: dict[tuple[AttributeValue, ...], int] = {}

    def add(self, values: tuple[AttributeValue, ...], amount: int = 1) -> None:
        # A lock, not the GIL: telemetry and store code may report from worker threads.
        with self._lock:
            self._values[values] = self._values.get(values, 0) + amount

    def attributes(self, values: tuple[AttributeValue, ...]) -> dict[str, AttributeValue]:
        return dict(zip(self._keys, values, strict=True))

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = list(self._values.items())
        return [Observation(value, self.attributes(values)) for values, value in snapshot]


class Metrics:
    """The platform's instruments; cheap no-ops until bound to a MeterProvider.

    Counts are cumulative over the object's life. Open streams are a level,
    not a count, so they are tracked even while unbound: a stream opened
    before ``bind`` and closed after must not leave the gauge at -1.
    """

    def __init__(self) -> None:
        self._calls = _Tally(("rpc.service", "rpc.method", "rpc.grpc.status_code"))
        self._streams = _Tally(("vgi.surface",))
        self._deliveries = _Tally(("vgi.delivery.kind",))
        self._points = _Tally(("vgi.surface",))
        self._rejections = _Tally(("vgi.ratelimit.class",))
        self._delivery_attributes: dict[str, Mapping[str, AttributeValue]] = {}
        self.bind(None)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def bind(self, provider: MeterProvider | None) -> None:
        """Report to ``provider`` from now on; None stops reporting."""
        self._enabled = provider is not None
        meter = (provider or metrics.NoOpMeterProvider()).get_meter(METER_NAME)
        self._duration = meter.create_histogram(
            RPC_DURATION,
            unit="ms",
            description="Server-side duration of RPCs, streams included, by method and status code.",
            explicit_bucket_boundaries_advisory=_RPC_BUCKETS_MS,
        )
        self._latency = meter.create_histogram(
            DELIVERY_LATENCY,
            unit="ms",
            description="From the causing call's commit to the notification or setpoint reaching a stream.",
            explicit_bucket_boundaries_advisory=_DELIVERY_BUCKETS_MS,
        )
        meter.create_observable_counter(
            RPC_CALLS,
            [self._calls.observe],
            unit="{call}",
            description="RPCs served, by method and status code.",
        )
        meter.create_observable_up_down_counter(
            STREAMS_OPEN,
            [self._streams.observe],
            unit="{stream}",
            description="Streaming RPCs open, by surface.",
        )
        meter.create_observable_counter(
            DELIVERIES,
            [self._deliveries.observe],
            unit="{message}",
            description="Notifications and setpoints written to subscriber streams.",
        )
        meter.create_observable_counter(
            TELEMETRY_POINTS,
            [self._points.observe],
            unit="{point}",
            description="Telemetry points ingested and committed, by surface.",
        )
        meter.create_observable_counter(
            RATELIMIT_REJECTIONS,
            [self._rejections.observe],
            unit="{call}",
            description="Calls refused by the rate limiter, by method class.",
        )

    def rpc_recorder(self, full_method: str) -> RpcRecorder:
        """A ``record(code, seconds)`` for one method, its attribute sets built once per code."""
        service, _, method = full_method.lstrip("/").rpartition("/")
        by_code: dict[grpc.StatusCode, tuple[tuple[AttributeValue, ...], Mapping[str, AttributeValue]]] = {}

        def record(code: grpc.StatusCode, seconds: float) -> None:
            if not self._enabled:
                return
            entry = by_code.get(code)
            if entry is None:
                values = (service, method, code.value[0])
                entry = by_code.setdefault(code, (values, self._calls.attributes(values)))
            self._calls.add(entry[0])
            self._duration.record(seconds * 1000.0, entry[1])

        return record

    def stream_opened(self, surface: str) -> None:
        self._streams.add((surface,), 1)

    def stream_closed(self, surface: str) -> None:
        self._streams.add((surface,), -1)

    def delivered(self, kind: str, latency_s: float) -> None:
        """One notification or setpoint (``kind``) written to a stream, ``latency_s`` after its cause committed."""
        if not self._enabled:
            return
        attributes = self._delivery_attributes.get(kind)
        if attributes is None:
            attributes = self._delivery_attributes.setdefault(kind, {"vgi.delivery.kind": kind})
        self._deliveries.add((kind,))
        self._latency.record(max(latency_s, 0.0) * 1000.0, attributes)

    def telemetry_points(self, surface: str, count: int) -> None:
        """``count`` telemetry points from ``surface`` (device, aggregator) committed."""
        if self._enabled:
            self._points.add((surface,), count)

    def ratelimit_rejected(self, method_class: str) -> None:
        """One call refused by the rate limiter; ``method_class`` is READ, WRITE, BULK or STREAM."""
        if self._enabled:
            self._rejections.add((method_class,))


METRICS = Metrics()


class PrometheusEndpoint(PrometheusMetricReader):
    """A Prometheus scrape endpoint (``GET /metrics`` on ``host:port``), stopped with its provider.

    Each endpoint has its own registry, so several providers (tests, embedded
    servers) never collide in prometheus_client's global one.
    """

    def __init__(self, host: str, port: int) -> None:
        registry = CollectorRegistry()
        super().__init__(registry=registry)
        self._server, _thread = start_http_server(port, addr=host, registry=registry)

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        return int(self._server.server_port)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        super().shutdown(timeout_millis, **kwargs)


def setup_metrics(
    service_name: str, *, console: bool = False, prometheus: PrometheusEndpoint | None = None
) -> MeterProvider | None:
    """Build the MeterProvider the environment asks for and bind ``METRICS`` to it; None when nothing reads.

    OTLP and console exporters push every ``OTEL_METRIC_EXPORT_INTERVAL`` ms
    (SDK default 60 s); ``prometheus`` adds a pull endpoint.
    """
    readers: list[MetricReader] = []
    for name in exporter_names("metrics", console=console):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        else:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    if prometheus is not None:
        readers.append(prometheus)
    if not readers:
        METRICS.bind(None)
        return None
    provider = MeterProvider(metric_readers=readers, resource=otel_resource(service_name))
    METRICS.bind(provider)
    return provider
