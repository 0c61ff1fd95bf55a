"""Fixtures for the observability tests; independent of the root conftest."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.observability.metrics import METRICS
from infra.observability.tracing import PlatformSampler, use_tracer_provider

MemoryTracing = tuple[TracerProvider, InMemorySpanExporter]
MakeTracing = Callable[[float], MemoryTracing]


@pytest.fixture(autouse=True)
def isolated_observability(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OTEL_* variable from the developer's shell; providers, METRICS and root logging restored after."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    use_tracer_provider(None)
    METRICS.bind(None)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def memory_tracing() -> Iterator[MakeTracing]:
    """Makes TracerProviders with the platform sampler at a ratio, exporting to memory."""
    providers: list[TracerProvider] = []

    def make(ratio: float) -> MemoryTracing:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=PlatformSampler(ratio))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
        return provider, exporter

    yield make
    for provider in providers:
        provider.shutdown()
