"""Input limits beyond message size: streams per principal, idle client streams, batch sizes.

* At most ``max_streams`` streaming calls (any RPC with a stream either way)
  open per principal at once; one more gets RESOURCE_EXHAUSTED, reason
  TOO_MANY_STREAMS, with a QuotaFailure.
* A client stream (device session, telemetry upload) that sends no message
  for ``idle_timeout_s`` is ended with DEADLINE_EXCEEDED, reason
  STREAM_IDLE_TIMEOUT. Server-only streams (subscriptions) wait for the
  server, so silence is normal there; HTTP/2 keepalive finds dead peers.
* Each repeated field of a BULK request (every message of a client stream
  too) holds at most ``max_batch_items`` items, else INVALID_ARGUMENT,
  reason BATCH_TOO_LARGE, with a BadRequest naming the field.

The largest message is a server option (``grpc.max_receive_message_length``):
gRPC itself answers RESOURCE_EXHAUSTED before any handler runs.
Health and reflection are exempt.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf.message import Message
from vgi.common.v1 import options_pb2

from domain.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    QuotaViolation,
    ResourceExhausted,
    Unauthenticated,
)
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.context import current_principal
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo

TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
STREAM_IDLE_TIMEOUT = "STREAM_IDLE_TIMEOUT"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"

Check = Callable[[Message], None]


class DeadlineExceeded(DomainError):
    code_name = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_EXCEEDED"


class LimitsInterceptor(Interceptor):
    def __init__(self, *, max_streams: int, idle_timeout_s: float, max_batch_items: int) -> None:
        super().__init__()
        self._max_streams = max_streams
        self._idle = idle_timeout_s
        self._max_items = max_batch_items
        self._open: dict[str, int] = {}

    def applies(self, method: MethodInfo) -> bool:
        if is_exempt(method) or method.descriptor is None:
            return False
        return (
            method.descriptor.client_streaming
            or method.descriptor.server_streaming
            or self._batch_check(method) is not None
        )

    def _batch_check(self, method: MethodInfo) -> Check | None:
        """The per-message item count check of a BULK method, None if it has no repeated field."""
        descriptor = method.input_descriptor
        if method.method_class != options_pb2.METHOD_CLASS_BULK or descriptor is None:
            return None
        fields = [f.name for f in descriptor.fields if f.is_repeated]
        if not fields:
            return None
        limit = self._max_items

        def check(request: Message) -> None:
            for name in fields:
                count = len(getattr(request, name))
                if count > limit:
                    raise InvalidArgument(
                        f"{name} holds {count} items; at most {limit} per message",
                        reason=BATCH_TOO_LARGE,
                        violations=[FieldViolation(name, f"at most {limit} items per message")],
                        metadata={"field": name, "limit": str(limit)},
                    )

        return check

    def _enter(self) -> str:
        principal = current_principal()
        if principal is None:
            raise Unauthenticated("the call is not authenticated", reason="UNAUTHENTICATED")
        uri = principal.uri
        count = self._open.get(uri, 0)
        if count >= self._max_streams:
            raise ResourceExhausted(
                f"{uri} already holds {count} open streams; close one first",
                reason=TOO_MANY_STREAMS,
                violations=[
                    QuotaViolation(subject=uri, description=f"at most {self._max_streams} open streams")
                ],
                metadata={"limit": str(self._max_streams)},
            )
        self._open[uri] = count + 1
        return uri

    def _leave(self, uri: str) -> None:
        count = self._open[uri] - 1
        if count:
            self._open[uri] = count
        else:
            del self._open[uri]

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        check = self._batch_check(method)
        if check is None:
            return behavior

        async def limited(request: Any, context: Context) -> Any:
            check(request)
            return await behavior(request, context)

        return limited

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._stream(behavior, self._batch_check(method), client_streaming=False)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._stream(behavior, self._batch_check(method), client_streaming=True)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._stream(behavior, self._batch_check(method), client_streaming=True)

    def _stream(self, behavior: Any, check: Check | None, *, client_streaming: bool) -> Any:
        enter, leave, idle = self._enter, self._leave, self._idle

        def requests_of(request: Any) -> Any:
            if client_streaming:
                return _guarded(request, idle, check)
            if check is not None:
                check(request)
            return request

        if inspect.isasyncgenfunction(behavior):

            async def limited_gen(request: Any, context: Context) -> AsyncIterator[Any]:
                uri = enter()
                try:
                    async for response in behavior(requests_of(request), context):
                        yield response
                finally:
                    leave(uri)

            return limited_gen

        async def limited(request: Any, context: Context) -> Any:
            uri = enter()
            try:
                return await behavior(requests_of(request), context)
            finally:
                leave(uri)

        return limited


async def _guarded(requests: AsyncIterator[Any], idle_s: float, check: Check | None) -> AsyncIterator[Any]:
    """The request stream, ended with DEADLINE_EXCEEDED when the client is silent for ``idle_s``."""
    iterator = aiter(requests)
    while True:
        try:
            async with asyncio.timeout(idle_s):
                request = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise DeadlineExceeded(
                f"the client sent nothing for {idle_s:g}s; stream closed",
                reason=STREAM_IDLE_TIMEOUT,
                metadata={"idle_timeout_s": f"{idle_s:g}"},
            ) from None
        if check is not None:
            check(request)
        yield request
