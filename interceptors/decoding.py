"""Request decoding: bytes that are not the method's request message → INVALID_ARGUMENT.

grpc decodes a request before any interceptor runs, and when decoding fails it
answers by itself: UNKNOWN "Unexpected <class 'DecodeError'>" on a unary call
(naming the exception class), while on a client stream the error escapes from
the request iterator inside the servicer. This stage takes decoding over: the
handler is registered without a deserializer, so grpc hands over the raw
bytes, and each request (or each message of a client stream) is decoded here,
a failure raising ``domain.errors.InvalidArgument`` (reason MALFORMED_MESSAGE)
for the error stage to answer like any other bad input.

It sits after the guards, so an unauthenticated or throttled caller never
makes the server parse anything, and before audit, limits and validation,
which read the decoded message.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from domain.errors import FieldViolation, InvalidArgument
from interceptors.base import Context, Interceptor, _as_async
from interceptors.methods import MethodInfo

MALFORMED_MESSAGE = "MALFORMED_MESSAGE"

Decode = Callable[[bytes], Any]


def _decoder(method: MethodInfo, deserialize: Decode) -> Decode:
    type_name = method.input_descriptor.full_name if method.input_descriptor is not None else "request"

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            # The parser's own text (offsets, class names) stays inside: the caller
            # learns which message did not parse, which is all it can act on.
            raise InvalidArgument(
                f"the request bytes are not a valid {type_name} message",
                reason=MALFORMED_MESSAGE,
                violations=[FieldViolation("", f"not a serialized {type_name}")],
            ) from None

    return decode


async def _decoded(requests: AsyncIterator[bytes], decode: Decode) -> AsyncIterator[Any]:
    async for data in requests:
        yield decode(data)


class DecodingInterceptor(Interceptor):
    """Decodes requests itself so that undecodable bytes are a clear INVALID_ARGUMENT."""

    def wrap_handler(self, method: MethodInfo, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        deserialize = handler.request_deserializer
        if deserialize is None:
            return handler
        decode = _decoder(method, deserialize)
        serializer = handler.response_serializer
        if handler.unary_unary is not None:
            unary = _as_async(handler.unary_unary)

            async def unary_unary(request: bytes, context: Context) -> Any:
                return await unary(decode(request), context)

            return grpc.unary_unary_rpc_method_handler(unary_unary, response_serializer=serializer)
        if handler.stream_unary is not None:
            client_stream = _as_async(handler.stream_unary)

            async def stream_unary(requests: AsyncIterator[bytes], context: Context) -> Any:
                return await client_stream(_decoded(requests, decode), context)

            return grpc.stream_unary_rpc_method_handler(stream_unary, response_serializer=serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(_as_async(handler.unary_stream), lambda request: decode(request)),
                response_serializer=serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _streaming(_as_async(handler.stream_stream), lambda requests: _decoded(requests, decode)),
                response_serializer=serializer,
            )
        return handler


def _streaming(behavior: Callable[..., Any], convert: Callable[[Any], Any]) -> Callable[..., Any]:
    """A server-streaming behaviour fed converted requests, keeping its shape (generator or not)."""
    if inspect.isasyncgenfunction(behavior):

        async def generated(request: Any, context: Context) -> AsyncIterator[Any]:
            async for response in behavior(convert(request), context):
                yield response

        return generated

    async def written(request: Any, context: Context) -> Any:
        return await behavior(convert(request), context)

    return written
