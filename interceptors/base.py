"""A grpc.aio server-interceptor base that wraps each method's handler ONCE.

grpc.aio asks every interceptor for the handler of every call. This base
answers from a per-method cache after the first call, so the per-call cost
of an interceptor is one dict lookup plus whatever its wrapper does; the
descriptor lookups (``MethodInfo``) happen at wrap time only.

Subclasses override the ``wrap_*`` hook for each RPC kind they care about
(the default leaves the handler untouched) and may narrow ``applies``. A
wrapper sees the request (or request iterator) and the ServicerContext.

Shapes a wrapper receives, after normalisation here:

* unary_unary / stream_unary: ``async def (request | request_iterator, context) -> response``;
* unary_stream / stream_stream: either an async generator function
  (``async def ...: yield response``) or a coroutine function that writes
  with ``context.write`` and returns None — check with
  ``inspect.isasyncgenfunction`` at wrap time and keep the same shape.

Synchronous behaviours only come from the generated ``*Servicer`` base
classes, whose stubs raise NotImplementedError at once; they are turned into
coroutine functions that call them inline (servicers themselves are async).

Caching means an interceptor inside one of these must itself return a
handler that depends only on the method (true of every interceptor built
on this base); per-call decisions belong in the wrappers.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from interceptors.methods import MethodInfo, method_info

Context = grpc.aio.ServicerContext
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]
StreamBehavior = Callable[[Any, Context], Any]  # async generator function or coroutine function
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


class Interceptor(grpc.aio.ServerInterceptor):
    """Base of the platform's server interceptors: one concern each, handler wrapped once per method."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        # grpc's type stubs omit it, but None is how an unknown method comes back.
        inner: grpc.RpcMethodHandler | None = await continuation(handler_call_details)
        if inner is None:
            # Unknown method: grpc answers UNIMPLEMENTED; nothing is cached so
            # arbitrary client-chosen names cannot grow the cache.
            return inner  # type: ignore[return-value]
        # setdefault: two first calls racing across the await wrap the same
        # handler twice; both wrappers are equivalent, keep one.
        return self._handlers.setdefault(method, self._wrap(method_info(method), inner))

    def applies(self, method: MethodInfo) -> bool:
        """Whether to wrap ``method`` at all; a method left alone costs nothing per call."""
        return True

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return behavior

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return behavior

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return behavior

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return behavior

    def _wrap(self, method: MethodInfo, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if not self.applies(method):
            return handler
        if handler.unary_unary is not None:
            original = _as_async(handler.unary_unary)
            wrapped = self.wrap_unary_unary(method, original)
            factory: Callable[..., grpc.RpcMethodHandler] = grpc.unary_unary_rpc_method_handler
        elif handler.unary_stream is not None:
            original = _as_async(handler.unary_stream)
            wrapped = self.wrap_unary_stream(method, original)
            factory = grpc.unary_stream_rpc_method_handler
        elif handler.stream_unary is not None:
            original = _as_async(handler.stream_unary)
            wrapped = self.wrap_stream_unary(method, original)
            factory = grpc.stream_unary_rpc_method_handler
        elif handler.stream_stream is not None:
            original = _as_async(handler.stream_stream)
            wrapped = self.wrap_stream_stream(method, original)
            factory = grpc.stream_stream_rpc_method_handler
        else:
            return handler
        if wrapped is original:
            return handler
        return factory(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _as_async(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior):
        return behavior

    async def call_inline(request: Any, context: Context) -> Any:
        return behavior(request, context)

    return call_inline


class Guard(Interceptor):
    """Runs ``await check(method, context)`` before the servicer of every call it applies to.

    The shape for identity, token auth, authorization and rate limiting: raise
    a ``domain.errors`` exception to refuse the call (the error interceptor,
    further out, turns it into a status); set contextvars to pass facts on.
    """

    async def check(self, method: MethodInfo, context: Context) -> None:
        raise NotImplementedError

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._guard_unary(method, behavior)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._guard_unary(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._guard_stream(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._guard_stream(method, behavior)

    def _guard_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        check = self.check

        async def guarded(request: Any, context: Context) -> Any:
            await check(method, context)
            return await behavior(request, context)

        return guarded

    def _guard_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        check = self.check
        if inspect.isasyncgenfunction(behavior):

            async def guarded_gen(request: Any, context: Context) -> AsyncIterator[Any]:
                await check(method, context)
                async for response in behavior(request, context):
                    yield response

            return guarded_gen

        async def guarded(request: Any, context: Context) -> Any:
            await check(method, context)
            return await behavior(request, context)

        return guarded
