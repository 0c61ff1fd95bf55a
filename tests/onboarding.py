"""Client interceptors that run an async step (onboarding the channel's aggregator) before a channel's calls.

grpc.aio files a client interceptor under ONE kind only, so there is one class per kind, as in
``clients.auth``. ``ready`` is awaited before every call; it returns at once once its work is done.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

import grpc

Ready = Callable[[], Awaitable[None]]


class _Before:
    def __init__(self, ready: Ready) -> None:
        self._ready = ready


class _UnaryUnary(_Before, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        await self._ready()
        return await continuation(client_call_details, request)


class _UnaryStream(_Before, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        await self._ready()
        return await continuation(client_call_details, request)


class _StreamUnary(_Before, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        await self._ready()
        return await continuation(client_call_details, request_iterator)


class _StreamStream(_Before, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        await self._ready()
        return await continuation(client_call_details, request_iterator)


def onboarding_interceptors(ready: Ready) -> list[Any]:
    """Interceptors for ``grpc.aio.*_channel(interceptors=...)`` awaiting ``ready()`` before every call."""
    return [_UnaryUnary(ready), _UnaryStream(ready), _StreamUnary(ready), _StreamStream(ready)]
