"""A tiny raw-bytes service with every RPC kind, served over a real grpc.aio server on 127.0.0.1:0.

The unary method does what a mutating platform call does observably: store
work in a ``store_span``, an item persisted with ``link_from_current()`` for a
later delivery, and a log line (which includes the caller's metadata, so the
redaction of tokens is tested on what a careless handler would really log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
from opentelemetry import trace

from infra.observability.tracing import link_from_current, store_span

SERVICE = "test.Echo"
log = logging.getLogger("tests.echo")


@dataclass
class EchoService:
    outbox: list[str | None] = field(default_factory=list)
    seen_trace_ids: list[int] = field(default_factory=list)
    slow_started: asyncio.Event = field(default_factory=asyncio.Event)

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.seen_trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        log.info("saving %r for caller with metadata %s", request, context.invocation_metadata())
        cause = link_from_current()
        with store_span("store.save_item", {"db.operation": "insert"}):
            await asyncio.sleep(0)
            self.outbox.append(cause)
        return request

    async def fail(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            raise ValueError(f"could not parse {request.decode()}")
        except ValueError:
            log.exception("fail handler failed")
            raise

    async def not_found(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort returned")

    async def slow(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """Never answers by itself: it ends when the call's deadline passes or the client cancels."""
        self.slow_started.set()
        await asyncio.Event().wait()
        return request

    async def server_stream(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for _ in range(3):
            yield request

    async def server_stream_write(self, request: bytes, context: grpc.aio.ServicerContext) -> None:
        for _ in range(3):
            await context.write(request)

    async def client_stream(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        return b"".join([r async for r in requests])

    async def bidi(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                return
            await context.write(message)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
                "NotFound": grpc.unary_unary_rpc_method_handler(self.not_found),
                "Slow": grpc.unary_unary_rpc_method_handler(self.slow),
                "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
                "ServerStreamWrite": grpc.unary_stream_rpc_method_handler(self.server_stream_write),
                "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
                "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            },
        )


def path(method: str) -> str:
    return f"/{SERVICE}/{method}"


def span(method: str) -> str:
    """The span name of a call to ``method`` (OpenTelemetry RPC conventions: no leading "/")."""
    return f"{SERVICE}/{method}"


@asynccontextmanager
async def serve(
    service: EchoService, interceptors: Sequence[grpc.aio.ServerInterceptor]
) -> AsyncIterator[int]:
    """The service behind ``interceptors`` on 127.0.0.1; yields the port."""
    server = grpc.aio.server(interceptors=list(interceptors))
    server.add_generic_rpc_handlers([service.handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def call_every_kind(channel: grpc.aio.Channel) -> dict[str, object]:
    """One call of each kind; what came back, by method."""

    async def three() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            yield part

    bidi = channel.stream_stream(path("Bidi"))()
    for part in (b"x", b"y"):
        await bidi.write(part)
    await bidi.done_writing()
    return {
        "Unary": await channel.unary_unary(path("Unary"))(b"u"),
        "ServerStream": [r async for r in channel.unary_stream(path("ServerStream"))(b"s")],
        "ServerStreamWrite": [r async for r in channel.unary_stream(path("ServerStreamWrite"))(b"w")],
        "ClientStream": await channel.stream_unary(path("ClientStream"))(three()),
        "Bidi": [r async for r in bidi],
    }


EXPECTED_REPLIES: dict[str, object] = {
    "Unary": b"u",
    "ServerStream": [b"s"] * 3,
    "ServerStreamWrite": [b"w"] * 3,
    "ClientStream": b"abc",
    "Bidi": [b"x", b"y"],
}
