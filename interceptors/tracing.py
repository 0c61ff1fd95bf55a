"""Tracing: the server interceptor that goes FIRST in the chain, and the client interceptors for the SDK.

Server side is our own code, not the upstream ``aio_server_interceptor()``:
in grpcio 1.85 the upstream one breaks response-streaming handlers written
in the read/write style (a coroutine using ``context.write``: "'async for'
requires an object with __aiter__ method, got coroutine") and reports OK for
them; and it does its per-call work (metadata copies, W3C extraction, span
attributes, a context proxy, the SDK's sampler) before knowing whether the
call is sampled. Here:

* no ``traceparent`` (a root call): the head-sampling decision is drawn first
  (one ``random()``); an unsampled root call runs with no span, no context
  and no SDK call at all;
* a ``traceparent`` whose parent is not sampled: its context is attached so
  calls made from the handler propagate the same "not sampled" decision, but
  no span is made;
* otherwise a SERVER span (rpc.system/service/method, rpc.grpc.status_code,
  ERROR status for server-fault codes) is current for the whole inner chain.

Client side (``infra.observability.grpc_client.client_interceptors``, which the SDK uses) wraps the
upstream ``aio_client_interceptors()``, which handles
all four RPC kinds and injects W3C context into the call metadata.

Span names on both sides follow the OpenTelemetry RPC conventions,
``$package.$service/$method`` (e.g. ``vgi.dispatch.v1.DispatchService/
SubmitDispatchInstruction``) — the gRPC path without its leading "/", which the
upstream client interceptors would otherwise keep (``span_name``).
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import AsyncIterator, Mapping
from contextvars import Token
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from infra.observability.tracing import (
    PlatformSampler,
    decided_sampled_context,
    installed_tracer_provider,
    span_name,
)
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.context import invocation_metadata
from interceptors.methods import MethodInfo

# The codes that are the server's fault (OpenTelemetry gRPC conventions for
# server spans); the others describe the request and leave the span unset.
SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_Started = tuple[trace.Span | None, Token[otel_context.Context]]


#: A cancellation that reaches the handler this close to the call's deadline is the client's
#: deadline expiring. The server's deadline is the client's timeout counted from when the call
#: ARRIVED, so it ends a little after the client's: the client gives up first and its cancel
#: (RST_STREAM, the same frame as an explicit cancel) usually reaches the server while the
#: server's own deadline is still a few milliseconds away. Without this slack a deadline was
#: recorded as CANCELLED whenever that cancel won the race.
DEADLINE_SLACK_S = 0.25


def ended_by_client(error: BaseException | None) -> bool:
    """The call was cancelled from outside — the client's own deadline passed or it went away — which
    is not the server's fault (a DEADLINE_EXCEEDED the server answers itself comes as an abort)."""
    return isinstance(error, asyncio.CancelledError | GeneratorExit)


def call_status(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status a call ended with, as seen from outside the error-mapping interceptor.

    Inside it every failure has become ``context.abort`` (the code is on the
    context); what else can arrive is cancellation — the deadline passed (or
    is within ``DEADLINE_SLACK_S``: the client's side of it) or the client went
    away — or, without that interceptor, a raw exception that grpc answers
    with UNKNOWN.
    """
    if error is None or isinstance(error, grpc.aio.AbortError):
        code = context.code()
        if code is None:
            return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN
        return code
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= DEADLINE_SLACK_S:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class TracingInterceptor(Interceptor):
    """Server spans for the calls the head sampler keeps; see the module docstring."""

    def __init__(self, provider: TracerProvider) -> None:
        super().__init__()
        self._tracer = provider.get_tracer("vgi.grpc")
        sampler = provider.sampler
        # Drawing the root decision here is only equivalent when the provider
        # samples roots at a known ratio; with another sampler the SDK decides.
        self._root_ratio = sampler.ratio if isinstance(sampler, PlatformSampler) else None

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._trace_unary(method, behavior)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._trace_unary(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._trace_stream(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._trace_stream(method, behavior)

    def _begin(
        self, name: str, attributes: Mapping[str, AttributeValue], context: Context
    ) -> _Started | None:
        """Start tracing one call: None when it is not traced at all, else (its span or None, a context token)."""
        metadata = invocation_metadata(context)
        parent: otel_context.Context | None = None
        for key, _value in metadata:
            if key == "traceparent":
                parent = propagate.extract(dict(metadata))
                break
        if parent is not None:
            span_context = trace.get_current_span(parent).get_span_context()
            if not span_context.is_valid:
                parent = None  # a malformed header: treat the call as a root
            elif not span_context.trace_flags.sampled:
                return None, otel_context.attach(parent)
        if parent is None and self._root_ratio is not None:
            if random.random() >= self._root_ratio:
                return None
            parent = decided_sampled_context()
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        # The decided-sampled marker is for the root's sampler only; children
        # get a plain context.
        carried = parent if parent is not decided_sampled_context() else None
        return span, otel_context.attach(trace.set_span_in_context(span, carried))

    def _trace_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        name, attributes, begin = span_name(method.full_name), _span_attributes(method), self._begin

        async def traced(request: Any, context: Context) -> Any:
            started = begin(name, attributes, context)
            if started is None:
                return await behavior(request, context)
            try:
                response = await behavior(request, context)
            except BaseException as error:
                _end(started, call_status(context, error), error)
                raise
            _end(started, call_status(context, None), None)
            return response

        return traced

    def _trace_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        if not inspect.isasyncgenfunction(behavior):
            return self._trace_unary(method, behavior)
        name, attributes, begin = span_name(method.full_name), _span_attributes(method), self._begin

        async def traced_gen(request: Any, context: Context) -> AsyncIterator[Any]:
            started = begin(name, attributes, context)
            if started is None:
                async for response in behavior(request, context):
                    yield response
                return
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                _end(started, call_status(context, error), error)
                raise
            _end(started, call_status(context, None), None)

        return traced_gen


def _span_attributes(method: MethodInfo) -> Mapping[str, AttributeValue]:
    return {"rpc.system": "grpc", "rpc.service": method.service, "rpc.method": method.name}


def _end(started: _Started, code: grpc.StatusCode, error: BaseException | None) -> None:
    span, token = started
    if span is not None:
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in SERVER_ERRORS and not ended_by_client(error):
            span.set_status(Status(StatusCode.ERROR, code.name))
        if error is not None and not isinstance(
            error, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit
        ):
            span.record_exception(error)
        span.end()
    otel_context.detach(token)


def tracing_server_interceptor(tracer_provider: TracerProvider | None = None) -> Interceptor:
    """The tracing interceptor, FIRST in the server chain; ``tracer_provider`` defaults to ``setup_tracing``'s.

    With no provider (nothing exported) it wraps nothing and costs one dict
    lookup per call.
    """
    provider = tracer_provider if tracer_provider is not None else installed_tracer_provider()
    if provider is None:
        return Interceptor()
    return TracingInterceptor(provider)
