"""Audit: every mutating call, whatever its outcome, appended to the hash-chained log (SPEC F12).

Wraps the RPCs whose policy says ``mutating``. When the call ends, a row is
appended with the principal, the method, the request's ``request_id``, the
SHA-256 of the serialized request (every message of a client stream, each
length-prefixed), the outcome status code name, the W3C trace id of the
current span and the time; ``store.audit.AuditWriter`` chains it on this
process's own chain and commits it (grouped with the rows of concurrent
calls). The caller's answer waits for the row, so a call is never
acknowledged without its audit record: if the
row cannot be written, an otherwise successful call answers UNAVAILABLE
(AUDIT_UNAVAILABLE), and its idempotent retry is audited.

It sits after authentication, authorization and rate limiting: calls
refused there are not chained, so a flood of refused calls cannot turn into
database writes; validation and the servicer run inside it, so INVALID_ARGUMENT
and domain errors are recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import operator
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, cast

import grpc
from google.protobuf.message import Message
from opentelemetry import trace

from domain.errors import DomainError, Unavailable
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.context import current_principal
from interceptors.methods import MethodInfo
from store.audit import AuditEntry, AuditWriter
from store.faults import is_store_fault

log = logging.getLogger(__name__)

AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
#: RetryInfo of AUDIT_UNAVAILABLE: the store's own outage hint (``store.faults.RETRY_AFTER_S``).
AUDIT_RETRY_AFTER_S = 1.0
_REQUEST_ID_CHARS = 128
#: How a call ends when the client goes away: the handler task is cancelled, or a
#: response generator is closed.
_ENDED_BY_CLIENT = (asyncio.CancelledError, GeneratorExit)


def outcome_of(exc: BaseException | None, context: Context) -> str:
    """The status code name the call ends with, as the error interceptor further out will map it."""
    if exc is None:
        return "OK"
    if isinstance(exc, DomainError):
        return exc.code_name
    if isinstance(exc, NotImplementedError):
        return "UNIMPLEMENTED"
    if isinstance(exc, _ENDED_BY_CLIENT):
        return "CANCELLED"
    if isinstance(exc, grpc.aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return "INTERNAL"


def _trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


class _Digest:
    """Digest and request_id of a request stream, filled in as the servicer reads it."""

    def __init__(self, request_id_of: Callable[[Message], str]) -> None:
        self._hash = hashlib.sha256()
        self._request_id_of = request_id_of
        self.request_id = ""
        self._first = True

    async def tap(self, requests: AsyncIterator[Message]) -> AsyncIterator[Message]:
        async for request in requests:
            data = request.SerializeToString(deterministic=True)
            self._hash.update(len(data).to_bytes(8, "big"))
            self._hash.update(data)
            if self._first:
                self.request_id = self._request_id_of(request)
                self._first = False
            yield request

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class AuditInterceptor(Interceptor):
    def __init__(self, writer: AuditWriter) -> None:
        super().__init__()
        self._writer = writer

    def applies(self, method: MethodInfo) -> bool:
        return method.mutating

    def _record(self, method: MethodInfo, request_id: str, digest: str, outcome: str) -> asyncio.Future[Any]:
        principal = current_principal()
        entry = AuditEntry(
            time=datetime.now(UTC),
            principal=principal.uri if principal is not None else "",
            method=method.full_name,
            # An invalid request is audited too, and its request_id may be any length: the
            # column holds 128 characters (the digest covers the whole request anyway).
            # PostgreSQL text cannot hold NUL, so it is replaced, not stored.
            request_id=request_id[:_REQUEST_ID_CHARS].replace("\x00", "\ufffd"),
            request_digest=digest,
            outcome=outcome,
            trace_id=_trace_id(),
        )
        return self._writer.submit(entry)

    async def _finish(
        self, method: MethodInfo, request_id: str, digest: str, exc: BaseException | None, context: Context
    ) -> None:
        """Write the row; on cancellation only queue it (the task may not await any more)."""
        written = self._record(method, request_id, digest, outcome_of(exc, context))
        if isinstance(exc, _ENDED_BY_CLIENT):
            return
        try:
            await written
        except Exception as error:
            if is_store_fault(error):
                log.warning("audit row for %s not written: %s", method.full_name, error)
            else:
                log.error("audit row for %s not written", method.full_name, exc_info=error)
            if exc is None:
                raise Unavailable(
                    "the call could not be audited; retry it with the same request_id",
                    reason=AUDIT_UNAVAILABLE,
                    retry_after_s=AUDIT_RETRY_AFTER_S,
                ) from None

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._unary_request(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._unary_request(method, behavior)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._stream_request(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._stream_request(method, behavior)

    def _unary_request(self, method: MethodInfo, behavior: Any) -> Any:
        request_id_of = _request_id_getter(method)
        finish = self._finish

        def identify(request: Message) -> tuple[str, str]:
            return request_id_of(request), hashlib.sha256(
                request.SerializeToString(deterministic=True)
            ).hexdigest()

        if inspect.isasyncgenfunction(behavior):

            async def audited_gen(request: Any, context: Context) -> AsyncIterator[Any]:
                request_id, digest = identify(request)
                try:
                    async for response in behavior(request, context):
                        yield response
                except BaseException as exc:
                    await finish(method, request_id, digest, exc, context)
                    raise
                await finish(method, request_id, digest, None, context)

            return audited_gen

        async def audited(request: Any, context: Context) -> Any:
            request_id, digest = identify(request)
            try:
                response = await behavior(request, context)
            except BaseException as exc:
                await finish(method, request_id, digest, exc, context)
                raise
            await finish(method, request_id, digest, None, context)
            return response

        return audited

    def _stream_request(self, method: MethodInfo, behavior: Any) -> Any:
        request_id_of = _request_id_getter(method)
        finish = self._finish

        if inspect.isasyncgenfunction(behavior):

            async def audited_gen(requests: Any, context: Context) -> AsyncIterator[Any]:
                digest = _Digest(request_id_of)
                try:
                    async for response in behavior(digest.tap(requests), context):
                        yield response
                except BaseException as exc:
                    await finish(method, digest.request_id, digest.hexdigest(), exc, context)
                    raise
                await finish(method, digest.request_id, digest.hexdigest(), None, context)

            return audited_gen

        async def audited(requests: Any, context: Context) -> Any:
            digest = _Digest(request_id_of)
            try:
                response = await behavior(digest.tap(requests), context)
            except BaseException as exc:
                await finish(method, digest.request_id, digest.hexdigest(), exc, context)
                raise
            await finish(method, digest.request_id, digest.hexdigest(), None, context)
            return response

        return audited


def _request_id_getter(method: MethodInfo) -> Callable[[Message], str]:
    descriptor = method.input_descriptor
    if descriptor is not None and "request_id" in descriptor.fields_by_name:
        return cast(Callable[[Message], str], operator.attrgetter("request_id"))
    return lambda request: ""
