"""Traces over a real grpc.aio server: client → server → store, and deliveries linked back to the call."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from infra.observability.grpc_client import client_interceptors
from infra.observability.metrics import Metrics
from infra.observability.tracing import start_linked_span, use_tracer_provider
from interceptors.metrics import metrics_server_interceptor
from interceptors.tracing import tracing_server_interceptor

from .conftest import MakeTracing
from .echo_service import EXPECTED_REPLIES, EchoService, call_every_kind, path, serve, span
from waiting import until


def _one(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    matching = [s for s in spans if s.name == name and s.kind is kind]
    assert len(matching) == 1, [(s.name, s.kind) for s in spans]
    return matching[0]


async def test_client_server_store_and_linked_delivery(memory_tracing: MakeTracing) -> None:
    provider, exporter = memory_tracing(1.0)
    use_tracer_provider(provider)
    service = EchoService()
    async with (
        serve(service, [tracing_server_interceptor(), metrics_server_interceptor(Metrics())]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors()) as channel,
    ):
        assert await channel.unary_unary(path("Unary"))(b"hello") == b"hello"

    # Later, after the call has returned — the notification fan-out:
    [carrier] = service.outbox
    assert carrier is not None
    with start_linked_span("deliver notification", carrier):
        pass

    spans = exporter.get_finished_spans()
    client = _one(spans, span("Unary"), SpanKind.CLIENT)
    server = _one(spans, span("Unary"), SpanKind.SERVER)
    store = _one(spans, "store.save_item", SpanKind.INTERNAL)
    delivery = _one(spans, "deliver notification", SpanKind.INTERNAL)

    # Client → server across the wire: one trace, the server span's remote parent is the client span.
    assert server.context.trace_id == client.context.trace_id
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == client.context.span_id
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["rpc.service"] == "test.Echo" and server.attributes["rpc.method"] == "Unary"
    # Store work is a child of the server span.
    assert store.parent is not None and store.parent.span_id == server.context.span_id
    assert store.context.trace_id == server.context.trace_id
    assert store.attributes["db.operation"] == "insert"
    # The delivery is its own trace, linked to the call that caused it.
    assert delivery.parent is None
    assert delivery.context.trace_id != server.context.trace_id
    [link] = delivery.links
    assert (link.context.trace_id, link.context.span_id) == (server.context.trace_id, server.context.span_id)


async def test_every_rpc_kind_is_traced_and_still_works(memory_tracing: MakeTracing) -> None:
    provider, exporter = memory_tracing(1.0)
    async with (
        serve(EchoService(), [tracing_server_interceptor(provider)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors(provider)) as channel,
    ):
        assert await call_every_kind(channel) == EXPECTED_REPLIES

    spans = exporter.get_finished_spans()
    for method in EXPECTED_REPLIES:
        client = _one(spans, span(method), SpanKind.CLIENT)
        server = _one(spans, span(method), SpanKind.SERVER)
        assert server.parent is not None and server.parent.span_id == client.context.span_id, method
        assert server.attributes["rpc.grpc.status_code"] == 0, method
        assert server.status.status_code is StatusCode.UNSET, method


@pytest.mark.parametrize(
    ("method", "code", "status", "exception_recorded"),
    [
        ("NotFound", grpc.StatusCode.NOT_FOUND, StatusCode.UNSET, False),
        ("Fail", grpc.StatusCode.UNKNOWN, StatusCode.ERROR, True),
    ],
)
async def test_failed_calls_carry_their_code(
    memory_tracing: MakeTracing,
    method: str,
    code: grpc.StatusCode,
    status: StatusCode,
    exception_recorded: bool,
) -> None:
    provider, exporter = memory_tracing(1.0)
    async with (
        serve(EchoService(), [tracing_server_interceptor(provider)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(path(method))(b"x")
    assert raised.value.code() is code

    server = _one(exporter.get_finished_spans(), span(method), SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == code.value[0]
    assert server.status.status_code is status
    assert any(event.name == "exception" for event in server.events) is exception_recorded


async def test_deadline_is_recorded_as_deadline_exceeded(memory_tracing: MakeTracing) -> None:
    provider, exporter = memory_tracing(1.0)
    async with (
        serve(EchoService(), [tracing_server_interceptor(provider)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary(path("Slow"))(b"x", timeout=1.0)
        assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        # The server's deadline runs from when the call arrived, a little after
        # the client's: wait for the span there rather than cancel the call by stopping.
        await until(lambda: bool(exporter.get_finished_spans()), what="the server span to end")
    server = _one(exporter.get_finished_spans(), span("Slow"), SpanKind.SERVER)
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    # The client's own deadline ended the call: not the server's fault, so not an ERROR span.
    assert server.status.status_code is StatusCode.UNSET


def test_no_carrier_or_unsampled_carrier_gives_no_delivery_span(memory_tracing: MakeTracing) -> None:
    provider, exporter = memory_tracing(1.0)
    use_tracer_provider(provider)
    with start_linked_span("deliver", None) as span:
        assert not span.is_recording()
    with start_linked_span("deliver", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00") as span:
        assert not span.is_recording()
    with start_linked_span("deliver", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") as span:
        assert span.is_recording()
    [delivery] = exporter.get_finished_spans()
    assert delivery.links[0].context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
