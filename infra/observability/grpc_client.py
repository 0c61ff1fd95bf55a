"""Client-side tracing for ``grpc.aio`` channels (the SDK's and the tests'): CLIENT spans and W3C context in
the call metadata, span names as the server side's (``span_name``: the gRPC path without its leading "/").

Apart from ``infra.observability.tracing`` so that the store, which uses that module's spans, imports no grpc.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import TracerProvider

from infra.observability.tracing import installed_tracer_provider, span_name


class _ConventionalTracer(trace.Tracer):
    """A tracer whose spans are named by ``span_name``: the upstream client interceptors name them by the path."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer.start_span(span_name(name), *args, **kwargs)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._tracer.start_as_current_span(span_name(name), *args, **kwargs)


class _ConventionalTracerProvider(trace.TracerProvider):
    """Hands the upstream client interceptors ``_ConventionalTracer``s of the real provider."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ConventionalTracer(self._provider.get_tracer(*args, **kwargs))


def client_interceptors(tracer_provider: TracerProvider | None = None) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for a client ``grpc.aio`` channel: CLIENT spans and W3C context in the metadata.

    Empty when there is no provider: nothing is traced, nothing to propagate.
    """
    provider = tracer_provider if tracer_provider is not None else installed_tracer_provider()
    if provider is None:
        return []
    return list(aio_client_interceptors(tracer_provider=_ConventionalTracerProvider(provider)))
