"""Tracing: the TracerProvider the OTEL_* environment asks for, and helpers to trace platform work.

Export follows the standard variables, with one deliberate difference: the
OpenTelemetry default for ``OTEL_TRACES_EXPORTER`` is ``otlp``, but here an
OTLP exporter is made only when ``OTEL_TRACES_EXPORTER`` names it or an OTLP
endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, so an unconfigured server exports nothing and pays nothing. Endpoint,
headers, TLS, compression and batching come from the usual
``OTEL_EXPORTER_OTLP_*`` / ``OTEL_BSP_*`` variables read by the SDK itself.

Sampling is head-based with the ratio from the platform configuration:
``ParentBased(TraceIdRatioBased(ratio))`` (see ``PlatformSampler``). A call
that is not sampled creates no span anywhere in this process.

Work that runs after a call has returned (notification and setpoint
deliveries) is not a child of that call: the call stores ``link_from_current()``
with the item, and whoever delivers it later, in this process or another,
opens ``start_linked_span(name, carrier)`` — a new trace with a span Link back
to the causing call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue

from domain.errors import DomainError

DEFAULT_SAMPLE_RATIO = 0.01
"""Default head-sampling ratio: at 100% tracing costs ~29% of unary throughput on the reference machine."""

TRACER_NAME = "vgi"

Signal = Literal["traces", "metrics"]

# Root spans started under a context holding this key are sampled: the platform
# code that starts them has already drawn the head-sampling decision at the
# configured ratio (the server interceptor, before doing any per-call work) or
# inherits it (a delivery linked to a sampled call).
_DECIDED_SAMPLED = otel_context.create_key("vgi-decided-sampled")
_DECIDED_CONTEXT = otel_context.set_value(_DECIDED_SAMPLED, True, otel_context.Context())

_W3C = TraceContextTextMapPropagator()
_NOT_RECORDING: AbstractContextManager[trace.Span] = nullcontext(trace.INVALID_SPAN)


class PlatformSampler(Sampler):
    """``ParentBased(TraceIdRatioBased(ratio))``, plus roots whose decision the platform already took.

    Children follow their parent's sampled flag (remote parents included, so a
    whole mesh call tree is kept or dropped together); roots are sampled at
    ``ratio``, except a root started under ``decided_sampled_context()``, which
    is sampled — its decision was drawn at the same ratio before the span
    existed, which is what lets an unsampled call skip the SDK entirely.
    """

    def __init__(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sample ratio must be within [0, 1], got {ratio}")
        self.ratio = ratio
        self._parent_based = ParentBased(root=TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if (
            parent_context is not None
            and otel_context.get_value(_DECIDED_SAMPLED, parent_context) is True
            and not trace.get_current_span(parent_context).get_span_context().is_valid
        ):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._parent_based.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"PlatformSampler{{{self._parent_based.get_description()}}}"


def decided_sampled_context() -> otel_context.Context:
    """An empty context under which a root span is sampled by ``PlatformSampler``."""
    return _DECIDED_CONTEXT


def exporter_names(signal: Signal, *, console: bool) -> list[str]:
    """The exporters (``otlp``, ``console``) the environment asks for, for ``signal``.

    ``OTEL_<SIGNAL>_EXPORTER`` wins when set (``none`` means none); otherwise
    OTLP is chosen when an OTLP endpoint is configured. ``console=True`` (the
    development flag) adds the console exporter. ``OTEL_SDK_DISABLED=true``
    turns everything off.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    configured = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower()
    if configured:
        names = (
            [] if configured == "none" else [name.strip() for name in configured.split(",") if name.strip()]
        )
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    ):
        names = ["otlp"]
    else:
        names = []
    resolved: list[str] = []
    for name in names:
        if name in ("otlp", "otlp_proto_grpc", "otlp_proto_http"):
            resolved.append(_otlp_transport(signal, name))
        elif name == "console":
            resolved.append("console")
        else:
            raise ValueError(
                f"OTEL_{signal.upper()}_EXPORTER: unsupported exporter {name!r} (otlp, console, none)"
            )
    if console:
        resolved.append("console")
    return list(dict.fromkeys(resolved))


def _otlp_transport(signal: Signal, name: str) -> str:
    """``otlp`` (OTLP/gRPC) or ``otlp_http`` (OTLP/HTTP protobuf), as the exporter name or
    ``OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL`` says; anything else fails loudly rather than sending one
    protocol to a collector port that speaks the other."""
    if name == "otlp_proto_http":
        return "otlp_http"
    if name == "otlp_proto_grpc":
        return "otlp"
    variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
    if variable not in os.environ:
        variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
    protocol = os.environ.get(variable, "grpc").strip()
    if protocol == "grpc":
        return "otlp"
    if protocol == "http/protobuf":
        return "otlp_http"
    raise ValueError(f"{variable}: {protocol!r} is not supported; use grpc or http/protobuf")


def otel_resource(service_name: str) -> Resource:
    """The process's resource; ``OTEL_SERVICE_NAME`` overrides the name the server was given."""
    return Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})


class _Installed:
    """The provider the platform's helpers and interceptor factories use (not the global one).

    Kept apart from ``trace.set_tracer_provider``, which may be set only once
    per process, so tests and embedded servers can swap providers.
    """

    provider: TracerProvider | None = None
    tracer: trace.Tracer = trace.NoOpTracer()


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Make ``provider`` the one ``store_span``/``start_linked_span`` and the interceptors use."""
    _Installed.provider = provider
    _Installed.tracer = provider.get_tracer(TRACER_NAME) if provider is not None else trace.NoOpTracer()


def installed_tracer_provider() -> TracerProvider | None:
    return _Installed.provider


def setup_tracing(service_name: str, sample_ratio: float, *, console: bool = False) -> TracerProvider | None:
    """Build and install the TracerProvider the environment asks for; None when nothing is exported.

    With no exporter there is no provider at all: spans would go nowhere, and
    without one the interceptors and helpers do no per-call work.
    """
    sampler = PlatformSampler(sample_ratio)
    exporters: list[SpanExporter] = []
    for name in exporter_names("traces", console=console):
        if name == "otlp":
            # Imported only when used: it pulls in the OTLP protos and a gRPC channel.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "otlp_http":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpSpanExporter,
            )

            exporters.append(HttpSpanExporter())
        else:
            exporters.append(ConsoleSpanExporter())
    if not exporters:
        use_tracer_provider(None)
        return None
    provider = TracerProvider(sampler=sampler, resource=otel_resource(service_name))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    use_tracer_provider(provider)
    # Third-party instrumentation reads the global provider, which can be set
    # once per process; the platform's own code uses the installed one above.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def store_span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    function: Callable[..., Any] | None = None,
) -> AbstractContextManager[trace.Span]:
    """A child span around store work, or a shared no-op when the current call is not being recorded.

    Store work only shows up inside a sampled trace: with no recording span
    current this costs one context lookup (~0.3 µs). ``store.db.Database``
    already opens one around every transaction, in the worker thread, which
    runs in a copy of the caller's context; use it inside a transaction for a
    finer span. A thread started without ``contextvars.copy_context`` does
    not see the current span.
    """
    if not trace.get_current_span().is_recording():
        return _NOT_RECORDING
    return _store_span(name, attributes, function)


@contextmanager
def _store_span(
    name: str, attributes: Mapping[str, AttributeValue] | None, function: Callable[..., Any] | None
) -> Iterator[trace.Span]:
    with _Installed.tracer.start_as_current_span(
        name,
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if function is not None:
            # Which store function ran: a call's several transactions are told apart by it.
            target = getattr(function, "func", function)
            span.set_attribute("code.function", getattr(target, "__qualname__", repr(target)))
        try:
            yield span
        except DomainError:
            raise  # an answer (NOT_FOUND, FAILED_PRECONDITION, …), not a failure of the store
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def link_from_current() -> str | None:
    """The W3C ``traceparent`` of the current span, to persist with an item it causes; None if not sampled.

    Unsampled calls store nothing, so their later deliveries cost nothing either.
    """
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not span_context.trace_flags.sampled:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier["traceparent"]


def start_linked_span(
    name: str,
    carrier: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> AbstractContextManager[trace.Span]:
    """A new root span (made current) linked to the call whose ``link_from_current()`` is ``carrier``.

    The delivery inherits the causing call's sampling decision (under
    ``PlatformSampler``): a sampled cause gives a sampled delivery trace whose
    span Link points at the call's span; no carrier (an unsampled cause) gives
    a shared no-op, so unsampled fan-out costs nothing.
    """
    if carrier is None:
        return _NOT_RECORDING
    linked = trace.get_current_span(_W3C.extract({"traceparent": carrier})).get_span_context()
    if not linked.is_valid or not linked.trace_flags.sampled:
        return _NOT_RECORDING
    return _Installed.tracer.start_as_current_span(
        name,
        context=_DECIDED_CONTEXT,
        kind=kind,
        attributes=attributes,
        links=[Link(linked)],
    )


def span_name(full_method: str) -> str:
    """The span name of a call to ``full_method`` ("/pkg.Service/Method"): "pkg.Service/Method"."""
    return full_method.removeprefix("/")
