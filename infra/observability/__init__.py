"""Observability: traces, metrics and JSON logs, set up once at server start.

``setup_observability`` is what the runtime calls before building the server;
then ``interceptors.tracing.tracing_server_interceptor()`` goes FIRST in the
chain and ``interceptors.metrics.metrics_server_interceptor()`` SECOND, and
``shutdown()`` flushes the exporters after the server has stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from infra.observability.logs import setup_logging
from infra.observability.metrics import METRICS, PrometheusEndpoint, setup_metrics
from infra.observability.tracing import DEFAULT_SAMPLE_RATIO, setup_tracing, use_tracer_provider


@dataclass(frozen=True)
class Observability:
    """What ``setup_observability`` built; each part is None when not configured."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    prometheus: PrometheusEndpoint | None

    def shutdown(self) -> None:
        """Export what is pending, stop the exporters and the scrape endpoint; the helpers go quiet."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        use_tracer_provider(None)
        METRICS.bind(None)


def setup_observability(
    service_name: str,
    *,
    sample_ratio: float = DEFAULT_SAMPLE_RATIO,
    log_level: int | str = logging.INFO,
    json_logs: bool = True,
    console: bool = False,
    prometheus_port: int | None = None,
    prometheus_host: str = "127.0.0.1",
    admin_metrics: bool = False,
    libraries_log_level: int | str = logging.INFO,
    access_log: bool = True,
) -> Observability:
    """Logging, then tracing and metrics as the OTEL_* environment asks; ``console`` adds console exporters.

    ``prometheus_port`` (0 picks a free port) opens a scrape endpoint on
    ``prometheus_host``; loopback by default, like every plaintext listener.
    ``admin_metrics`` collects for the admin listener's /metrics (``Observability.prometheus.registry``)
    even without that endpoint.
    """
    setup_logging(log_level, json=json_logs, libraries_level=libraries_log_level, access=access_log)
    prometheus = (
        PrometheusEndpoint(prometheus_host, prometheus_port)
        if prometheus_port is not None or admin_metrics
        else None
    )
    return Observability(
        tracer_provider=setup_tracing(service_name, sample_ratio, console=console),
        meter_provider=setup_metrics(service_name, console=console, prometheus=prometheus),
        prometheus=prometheus,
    )
