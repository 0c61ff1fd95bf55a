"""Metrics: the MeterProvider the OTEL_* environment asks for, and the platform's instruments.

Other code reports through the module-level ``METRICS`` object; until
``setup_metrics`` binds it to a provider every call returns at once.

Nothing on a hot path goes through the SDK's synchronous instruments: a
``Histogram.record`` measured ~13 µs per call inside a loaded server here
(attribute cleaning, hashing, a Measurement object, a lock), ~9% of a bare
unary call, and ``Counter.add`` is nearly as dear. Instead the platform
aggregates in process — a dict increment for counters, a bisect and a few
increments for histograms, under one lock — and the SDK only exports:
counters through observable instruments read at collection, histograms as
cumulative explicit-bucket points added to what the platform's readers
(``PlatformPeriodicReader``, ``PrometheusEndpoint``) collect. A call is one
value of the RPC duration histogram, and the RPC call counter reads that
histogram's counts: one update per call, into a cell its method's recorder
holds per status code.

Attributes are bounded by design: method names (the registered ones only),
status codes, surfaces, delivery kinds and rate-limit classes — never a
principal, charger or aggregator id.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, start_http_server

from infra.observability.tracing import exporter_names, otel_resource

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

Key = tuple[AttributeValue, ...]
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
        # A lock, not the GIL: telemetry and store code may report from worker threads.
        self._lock = threading.Lock()
        self._values: dict[Key, int] = {}

    def add(self, key: Key, amount: int = 1) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = list(self._values.items())
        return [Observation(value, dict(zip(self._keys, key, strict=True))) for key, value in snapshot]


class _Cell:
    __slots__ = ("buckets", "count", "max", "min", "sum")

    def __init__(self, buckets: int) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.buckets = [0] * buckets


class _HistogramTally:
    """A cumulative explicit-bucket histogram per attribute tuple, exported as an OpenTelemetry histogram."""

    def __init__(
        self, name: str, unit: str, description: str, keys: tuple[str, ...], bounds: Sequence[float]
    ):
        self._name, self._unit, self._description, self._keys = name, unit, description, keys
        self._bounds = tuple(float(bound) for bound in bounds)
        self._lock = threading.Lock()
        self._cells: dict[Key, _Cell] = {}

    def cell(self, key: Key) -> _Cell:
        """The cell of ``key``, made on first use: a caller that records often keeps it (``add``)."""
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = _Cell(len(self._bounds) + 1)
            return cell

    def record(self, key: Key, value: float) -> None:
        self.add(self.cell(key), value)

    def add(self, cell: _Cell, value: float) -> None:
        """One value into ``cell`` (from ``cell``): no key to hash, one lock."""
        # OpenTelemetry buckets are (previous bound, bound]: bisect_left puts a
        # value equal to a bound in that bound's bucket.
        bucket = bisect_left(self._bounds, value)
        with self._lock:
            cell.count += 1
            cell.sum += value
            if value < cell.min:
                cell.min = value
            if value > cell.max:
                cell.max = value
            cell.buckets[bucket] += 1

    def observe_counts(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Each cell's count as a cumulative counter (a companion counter of the same attributes)."""
        with self._lock:
            snapshot = [(key, cell.count) for key, cell in self._cells.items()]
        return [Observation(count, dict(zip(self._keys, key, strict=True))) for key, count in snapshot]

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        with self._lock:
            points = [
                HistogramDataPoint(
                    attributes=dict(zip(self._keys, key, strict=True)),
                    start_time_unix_nano=start_ns,
                    time_unix_nano=now_ns,
                    count=cell.count,
                    sum=cell.sum,
                    bucket_counts=list(cell.buckets),
                    explicit_bounds=self._bounds,
                    min=cell.min,
                    max=cell.max,
                )
                for key, cell in self._cells.items()
            ]
        if not points:
            return None
        return Metric(
            name=self._name,
            description=self._description,
            unit=self._unit,
            data=Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE),
        )


class Metrics:
    """The platform's instruments; cheap no-ops until bound to a MeterProvider.

    Counts and histograms are cumulative from ``bind``. Open streams are a
    level, not a count, so they are tracked even while unbound and kept across
    binds: a stream opened before ``bind`` and closed after must not leave the
    gauge at -1.
    """

    def __init__(self) -> None:
        self._streams = _Tally(("vgi.surface",))
        self.bind(None)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def bind(self, provider: MeterProvider | None) -> None:
        """Report to ``provider`` from now on; None stops reporting.

        The provider's readers must add ``histograms_into`` to what they
        collect (``PlatformPeriodicReader`` and ``PrometheusEndpoint`` do).
        """
        self._enabled = provider is not None
        # A provider's cumulative series start when it is bound.
        self._start_ns = time.time_ns()
        self._deliveries = _Tally(("vgi.delivery.kind",))
        self._points = _Tally(("vgi.surface",))
        self._rejections = _Tally(("vgi.ratelimit.class",))
        self._duration = _HistogramTally(
            RPC_DURATION,
            "ms",
            "Server-side duration of RPCs, streams included, by method and status code.",
            ("rpc.service", "rpc.method", "rpc.grpc.status_code"),
            _RPC_BUCKETS_MS,
        )
        self._latency = _HistogramTally(
            DELIVERY_LATENCY,
            "ms",
            "From the causing call's commit to the notification or setpoint reaching a stream.",
            ("vgi.delivery.kind",),
            _DELIVERY_BUCKETS_MS,
        )
        if provider is None:
            return
        meter = provider.get_meter(METER_NAME)
        meter.create_observable_counter(
            RPC_CALLS,
            # Every call is one value of the duration histogram: its counts are the calls.
            [self._duration.observe_counts],
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

    def histograms_into(self, data: MetricsData) -> MetricsData:
        """``data`` (one collection by a reader) with the platform's histograms added to the ``vgi`` scope.

        Whenever a histogram has a point, its companion counter
        (calls, deliveries) has one too, so the scope is there to add to.
        """
        now_ns = time.time_ns()
        extra = [
            metric
            for metric in (
                self._duration.metric(self._start_ns, now_ns),
                self._latency.metric(self._start_ns, now_ns),
            )
            if metric is not None
        ]
        if not extra:
            return data
        return MetricsData(
            resource_metrics=[
                dataclasses.replace(
                    resource_metrics,
                    scope_metrics=[
                        dataclasses.replace(scope_metrics, metrics=[*scope_metrics.metrics, *extra])
                        if scope_metrics.scope.name == METER_NAME
                        else scope_metrics
                        for scope_metrics in resource_metrics.scope_metrics
                    ],
                )
                for resource_metrics in data.resource_metrics
            ]
        )

    def rpc_recorder(self, full_method: str) -> RpcRecorder:
        """A ``record(code, seconds)`` for one method: per code, the histogram cell is looked up once
        (again after a ``bind``) and then updated directly; the call counter is read from it."""
        service, _, method = full_method.lstrip("/").rpartition("/")
        bound: dict[grpc.StatusCode, tuple[_HistogramTally, _Cell]] = {}

        def record(code: grpc.StatusCode, seconds: float) -> None:
            if not self._enabled:
                return
            duration = self._duration
            cell = bound.get(code)
            if cell is None or cell[0] is not duration:
                cell = bound[code] = (duration, duration.cell((service, method, code.value[0])))
            duration.add(cell[1], seconds * 1000.0)

        return record

    def stream_opened(self, surface: str) -> None:
        self._streams.add((surface,), 1)

    def stream_closed(self, surface: str) -> None:
        self._streams.add((surface,), -1)

    def delivered(self, kind: str, latency_s: float) -> None:
        """One notification or setpoint (``kind``) written to a stream, ``latency_s`` after its cause committed."""
        if self._enabled:
            self._deliveries.add((kind,))
            self._latency.record((kind,), max(latency_s, 0.0) * 1000.0)

    def telemetry_points(self, surface: str, count: int) -> None:
        """``count`` telemetry points from ``surface`` (device, aggregator) committed."""
        if self._enabled:
            self._points.add((surface,), count)

    def ratelimit_rejected(self, method_class: str) -> None:
        """One call refused by the rate limiter; ``method_class`` is READ, WRITE, BULK or STREAM."""
        if self._enabled:
            self._rejections.add((method_class,))


METRICS = Metrics()


class PlatformPeriodicReader(PeriodicExportingMetricReader):
    """Pushes to ``exporter`` every ``OTEL_METRIC_EXPORT_INTERVAL`` ms, the platform's histograms included."""

    def __init__(self, exporter: MetricExporter, platform: Metrics = METRICS) -> None:
        super().__init__(exporter)
        self._platform = platform

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(self._platform.histograms_into(metrics_data), timeout_millis, **kwargs)


class PrometheusEndpoint(PrometheusMetricReader):
    """A Prometheus scrape endpoint (``GET /metrics`` on ``host:port``), stopped with its provider.

    Each endpoint has its own registry, so several providers (tests, embedded
    servers) never collide in prometheus_client's global one.
    """

    def __init__(self, host: str, port: int | None, platform: Metrics = METRICS) -> None:
        """``port`` None: no server of its own — the admin listener serves ``registry`` at /metrics."""
        self.registry = CollectorRegistry()
        super().__init__(registry=self.registry)
        self._platform = platform
        self._server = (
            start_http_server(port, addr=host, registry=self.registry)[0] if port is not None else None
        )

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for); 0 without a server of its own."""
        return int(self._server.server_port) if self._server is not None else 0

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        super()._receive_metrics(self._platform.histograms_into(metrics_data), timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        super().shutdown(timeout_millis, **kwargs)


def setup_metrics(
    service_name: str, *, console: bool = False, prometheus: PrometheusEndpoint | None = None
) -> MeterProvider | None:
    """Build the MeterProvider the environment asks for and bind ``METRICS`` to it; None when nothing reads.

    OTLP and console exporters push every ``OTEL_METRIC_EXPORT_INTERVAL`` ms
    (SDK default 60 s); ``prometheus`` adds a pull endpoint. Histograms are
    cumulative whatever temporality the exporter prefers.
    """
    readers: list[MetricReader] = []
    for name in exporter_names("metrics", console=console):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            readers.append(PlatformPeriodicReader(OTLPMetricExporter()))
        elif name == "otlp_http":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter as HttpMetricExporter,
            )

            readers.append(PlatformPeriodicReader(HttpMetricExporter()))
        else:
            readers.append(PlatformPeriodicReader(ConsoleMetricExporter()))
    if prometheus is not None:
        readers.append(prometheus)
    if not readers:
        METRICS.bind(None)
        return None
    provider = MeterProvider(metric_readers=readers, resource=otel_resource(service_name))
    METRICS.bind(provider)
    return provider
