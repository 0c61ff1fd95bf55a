"""Head sampling: parent-based, the ratio from configuration, no spans at all for unsampled calls."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from infra.observability.grpc_client import client_interceptors
from infra.observability.tracing import use_tracer_provider
from interceptors.tracing import tracing_server_interceptor

from .conftest import MakeTracing
from .echo_service import EXPECTED_REPLIES, EchoService, call_every_kind, path, serve

_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


async def test_ratio_zero_exports_nothing_and_calls_still_work(memory_tracing: MakeTracing) -> None:
    provider, exporter = memory_tracing(0.0)
    use_tracer_provider(provider)
    service = EchoService()
    async with (
        serve(service, [tracing_server_interceptor()]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors()) as bare_or_traced,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as bare,
    ):
        assert await call_every_kind(bare_or_traced) == EXPECTED_REPLIES
        assert await call_every_kind(bare) == EXPECTED_REPLIES
    assert exporter.get_finished_spans() == ()
    # Nothing sampled, so nothing to link a later delivery to.
    assert service.outbox == [None, None]


async def test_root_calls_are_sampled_at_the_configured_ratio(memory_tracing: MakeTracing) -> None:
    # 400 root calls at 0.25: 100 expected, σ ≈ 8.7. Sampling twice (once in
    # the interceptor, once in the SDK) would give ~25; never sampling, 0.
    provider, exporter = memory_tracing(0.25)
    async with (
        serve(EchoService(), [tracing_server_interceptor(provider)]) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        for _ in range(400):
            await channel.unary_unary(path("Unary"))(b"x")
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert 60 <= len(servers) <= 140
    assert all(s.parent is None for s in servers)


async def test_sampled_parent_wins_over_a_zero_ratio(memory_tracing: MakeTracing) -> None:
    client_provider, client_exporter = memory_tracing(1.0)
    server_provider, server_exporter = memory_tracing(0.0)
    async with (
        serve(EchoService(), [tracing_server_interceptor(server_provider)]) as port,
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=client_interceptors(client_provider)
        ) as channel,
    ):
        await channel.unary_unary(path("Unary"))(b"x")
    [client] = client_exporter.get_finished_spans()
    [server] = server_exporter.get_finished_spans()
    assert server.parent is not None and server.parent.span_id == client.context.span_id


async def test_unsampled_parent_is_propagated_without_a_span(memory_tracing: MakeTracing) -> None:
    client_provider, client_exporter = memory_tracing(0.0)
    server_provider, server_exporter = memory_tracing(1.0)
    service = EchoService()
    caller = trace.NonRecordingSpan(
        trace.SpanContext(_TRACE_ID, 0x1122334455667788, is_remote=False, trace_flags=trace.TraceFlags(0))
    )
    async with (
        serve(service, [tracing_server_interceptor(server_provider)]) as port,
        grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=client_interceptors(client_provider)
        ) as channel,
    ):
        with trace.use_span(caller):
            await channel.unary_unary(path("Unary"))(b"x")
    assert client_exporter.get_finished_spans() == ()
    assert server_exporter.get_finished_spans() == ()
    # The handler ran inside the caller's unsampled trace, so whatever it
    # calls carries the same "not sampled" decision on.
    assert service.seen_trace_ids == [_TRACE_ID]


async def test_without_a_provider_nothing_is_wrapped() -> None:
    handler = grpc.unary_unary_rpc_method_handler(EchoService().unary)

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return handler

    details = SimpleNamespace(method=path("Unary"), invocation_metadata=())
    assert await tracing_server_interceptor().intercept_service(continuation, details) is handler
    assert client_interceptors() == []
