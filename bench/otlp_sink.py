"""Where the benchmarked platform exports its traces and metrics: a real OTLP/gRPC receiver that counts.

SPEC section 5 measures the unary chain "with tracing at the default
sampling". The platform adds its tracing stage only when a tracer provider
exports somewhere (``infra.observability.tracing``: an unconfigured server
exports nothing and pays nothing), so every ``bench.platform`` process is
started as an operator would run it with a collector:
``OTEL_EXPORTER_OTLP_ENDPOINT`` names this receiver, and the SDK's batch
span processor and periodic metric reader export to it over gRPC. The
receiver runs in the benchmark process on a thread pool (the exporters send
from their own threads) and keeps only counts, so the load generator barely
notices it; the table names the spans it received as proof that tracing ran.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class OtlpSink(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    """Counts the spans and metric exports it is sent; ``start()`` listens on 127.0.0.1:0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans = 0
        self.metric_exports = 0
        self._server: grpc.Server | None = None
        self.port = 0

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        # Both services have a method named Export; the request type tells them apart.
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            count = sum(
                len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
            )
            with self._lock:
                self.spans += count
            return trace_service_pb2.ExportTraceServiceResponse()
        with self._lock:
            self.metric_exports += 1
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def environment(self) -> dict[str, str]:
        """What a platform process needs in its environment to export here (traces and metrics)."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
