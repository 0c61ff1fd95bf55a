"""OTLP over HTTP (protobuf) as well as gRPC (issue 17 finding 11): spans reach an HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from infra.observability.tracing import setup_tracing, store_span, use_tracer_provider


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[trace_service_pb2.ExportTraceServiceRequest]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf":
            self.received.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def http_receiver() -> Iterator[tuple[int, list[trace_service_pb2.ExportTraceServiceRequest]]]:
    received: list[trace_service_pb2.ExportTraceServiceRequest] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, received
    server.shutdown()
    server.server_close()


def test_spans_reach_an_otlp_http_receiver(
    monkeypatch: pytest.MonkeyPatch, http_receiver: tuple[int, list[Any]]
) -> None:
    port, received = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    provider = setup_tracing("vgi-http-test", 1.0)
    assert provider is not None
    try:
        with provider.get_tracer("test").start_as_current_span("outer"), store_span("vgi.store.read"):
            pass
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()
        use_tracer_provider(None)
    names = {
        span.name
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert {"outer", "vgi.store.read"} <= names
