"""The platform's interceptor stages, and the ONE grpc.aio server interceptor that runs them.

grpc.aio awaits ``intercept_service`` of every interceptor it is given, then
runs the handler each returned, nested. The platform therefore hands grpc a
single ``Chain``: on a method's first call it wraps the method's handler with
every stage that applies to it, innermost last, and caches the result, so a
later call costs one dict lookup before its handler runs and no descriptor
lookup at all (``MethodInfo`` is resolved at wrap time). Adjacent guards
(identity, token, authz, rate limit) are fused into one wrapper that calls
their checks in turn, so they cost one frame together rather than one each.

Each concern is still an ``Interceptor`` (one module each): a stage of a
``Chain``, and usable on its own as a grpc.aio server interceptor (with its
own per-method cache) where a test or an embedding wants just that concern.

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

Caching means a stage must return a handler that depends only on the method
(true of every stage built on this base); per-call decisions belong in the
wrappers.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from interceptors.methods import MethodInfo, method_info

Context = grpc.aio.ServicerContext
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]
StreamBehavior = Callable[[Any, Context], Any]  # async generator function or coroutine function
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


class Interceptor(grpc.aio.ServerInterceptor):
    """Base of the platform's stages: one concern each, handler wrapped once per method."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        return await _wrap_first_call(
            self._handlers, self.wrap_handler, continuation, handler_call_details, self.unknown_method
        )

    def unknown_method(self, method: str) -> None:
        """A call of a method the server does not serve (grpc answers UNIMPLEMENTED; no handler runs)."""

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

    def wrap_handler(self, method: MethodInfo, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` with this stage's wrapper around its behaviour (``handler`` itself if none applies)."""
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


async def _wrap_first_call(
    cache: dict[str, grpc.RpcMethodHandler],
    wrap: Callable[[MethodInfo, grpc.RpcMethodHandler], grpc.RpcMethodHandler],
    continuation: Continuation,
    handler_call_details: grpc.HandlerCallDetails,
    unknown: Callable[[str], None],
) -> grpc.RpcMethodHandler:
    """A method's first call: its handler wrapped by ``wrap`` and kept in ``cache``; ``unknown(method)``
    for a method the server does not serve."""
    method = handler_call_details.method
    # grpc's type stubs omit it, but None is how an unknown method comes back.
    inner: grpc.RpcMethodHandler | None = await continuation(handler_call_details)
    if inner is None:
        # Unknown method: grpc answers UNIMPLEMENTED; nothing is cached so
        # arbitrary client-chosen names cannot grow the cache.
        unknown(method)
        return inner  # type: ignore[return-value]
    # setdefault: two first calls racing across the await wrap the same
    # handler twice; both wrappers are equivalent, keep one.
    return cache.setdefault(method, wrap(method_info(method), inner))


def _as_async(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior):
        return behavior

    async def call_inline(request: Any, context: Context) -> Any:
        return behavior(request, context)

    return call_inline


class Guard(Interceptor):
    """Runs ``check(method, context)`` before the servicer of every call it applies to.

    The shape for identity, token auth, authorization and rate limiting: raise
    a ``domain.errors`` exception to refuse the call (the error stage, further
    out, turns it into a status); set contextvars to pass facts on. ``check``
    is a plain function (the platform's guards all are: no frame, no await)
    or, where a check must wait for something, a coroutine function. A plain
    check that must wait only sometimes (the tenant gate, on a cache miss)
    returns an awaitable then and None otherwise: the call awaits it only when
    there is one.
    """

    def check(self, method: MethodInfo, context: Context) -> Any:
        raise NotImplementedError

    def checks(self, method: MethodInfo) -> list[Callable[[MethodInfo, Context], Any]]:
        """The checks to run for ``method``, in order (a fused run of guards has several)."""
        return [self.check]

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._guard_unary(method, behavior)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._guard_unary(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._guard_stream(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._guard_stream(method, behavior)

    def _guard_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        checks = tuple(self.checks(method))
        if any(inspect.iscoroutinefunction(check) for check in checks):

            async def guarded_async(request: Any, context: Context) -> Any:
                await _run_checks(checks, method, context)
                return await behavior(request, context)

            return guarded_async

        async def guarded(request: Any, context: Context) -> Any:
            for check in checks:
                if (pending := check(method, context)) is not None:
                    await pending
            return await behavior(request, context)

        return guarded

    def _guard_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        checks = tuple(self.checks(method))
        if inspect.isasyncgenfunction(behavior):

            async def guarded_gen(request: Any, context: Context) -> AsyncIterator[Any]:
                await _run_checks(checks, method, context)
                async for response in behavior(request, context):
                    yield response

            return guarded_gen

        async def guarded(request: Any, context: Context) -> Any:
            await _run_checks(checks, method, context)
            return await behavior(request, context)

        return guarded


async def _run_checks(
    checks: Sequence[Callable[[MethodInfo, Context], Any]], method: MethodInfo, context: Context
) -> None:
    for check in checks:
        outcome = check(method, context)
        if inspect.isawaitable(outcome):
            await outcome


class _FusedGuards(Guard):
    """Adjacent guards of a ``Chain`` as one stage: their checks run in order inside one wrapper."""

    def __init__(self, guards: Sequence[Guard]) -> None:
        super().__init__()
        self._guards = tuple(guards)

    def applies(self, method: MethodInfo) -> bool:
        return any(guard.applies(method) for guard in self._guards)

    def checks(self, method: MethodInfo) -> list[Callable[[MethodInfo, Context], Any]]:
        # ``applies`` is asked once per guard and method, as it would be unfused.
        return [check for guard in self._guards if guard.applies(method) for check in guard.checks(method)]


class Chain(grpc.aio.ServerInterceptor):
    """The ONE server interceptor of the platform: ``stages`` (outermost first) wrapped once per method.

    Per call: one dict lookup, then the cached handler — every applying
    stage's wrapper around the servicer, adjacent guards fused into one.
    """

    def __init__(self, stages: Sequence[Interceptor]) -> None:
        self.stages = tuple(stages)
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        return await _wrap_first_call(
            self._handlers, self.wrap_handler, continuation, handler_call_details, self.unknown_method
        )

    def unknown_method(self, method: str) -> None:
        for stage in self.stages:
            stage.unknown_method(method)

    def wrap_handler(self, method: MethodInfo, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` inside every stage that applies to ``method``, the first stage outermost."""
        for stage in reversed(_fused(self.stages, method)):
            handler = stage.wrap_handler(method, handler)
        return handler


def _fused(stages: Sequence[Interceptor], method: MethodInfo) -> list[Interceptor]:
    """The stages applying to ``method``, each run of adjacent guards replaced by one fused guard."""
    out: list[Interceptor] = []
    run: list[Guard] = []
    for stage in stages:
        if not stage.applies(method):
            continue
        if isinstance(stage, Guard):
            run.append(stage)
            continue
        if run:
            out.append(run[0] if len(run) == 1 else _FusedGuards(run))
            run = []
        out.append(stage)
    if run:
        out.append(run[0] if len(run) == 1 else _FusedGuards(run))
    return out
