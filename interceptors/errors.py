"""Error mapping: the ONE place where exceptions become gRPC statuses (AIP-193).

* ``domain.errors.DomainError`` → its code, message, and a google.rpc.Status
  with ErrorInfo(reason, domain "vgi", metadata) plus BadRequest /
  PreconditionFailure / QuotaFailure / RetryInfo as the error carries them (a
  store outage arrives here already as ``Unavailable``, see ``store.faults``);
* ``NotImplementedError`` (the generated servicer base) → UNIMPLEMENTED with
  ErrorInfo reason NOT_IMPLEMENTED;
* anything else → INTERNAL "internal error", logged with its traceback and
  never leaked to the caller.

This interceptor also opens the per-call context (``interceptors.context``)
because it is the outermost of ours and every later concern may read it.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from domain.errors import (
    DOMAIN,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.context import CallInfo, set_call
from interceptors.methods import MethodInfo

log = logging.getLogger(__name__)

NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
INTERNAL = "INTERNAL"


#: Bytes of field violations one status carries at most. The details travel in the
#: ``grpc-status-details-bin`` trailer, and gRPC clients refuse metadata past 8 KiB (soft) / 16 KiB
#: (hard) by default: a refused batch of thousands of items would reach them as RESOURCE_EXHAUSTED
#: instead of its INVALID_ARGUMENT. Past the budget the first violations are listed, the message
#: says how many there are, and ErrorInfo's metadata ``field_violations`` counts them all.
FIELD_VIOLATION_BYTES = 4096


def status_for(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error, details included."""
    message, metadata = error.message, error.metadata
    listed: list[error_details_pb2.BadRequest.FieldViolation] = []
    if isinstance(error, InvalidArgument) and error.violations:
        listed = _within_budget(error.violations, error.reason)
        if len(listed) < len(error.violations):
            # The count replaces a message's own "(and N more)": said once.
            message = message.removesuffix(f" (and {len(error.violations) - 1} more)")
            message = (
                f"{message} (the first {len(listed)} of {len(error.violations)} field violations listed)"
            )
            metadata = {**metadata, "field_violations": str(len(error.violations))}
    status = status_pb2.Status(code=grpc.StatusCode[error.code_name].value[0], message=message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata)
    )
    if listed:
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=listed))
    if isinstance(error, FailedPrecondition):
        status.details.add().Pack(_precondition_failure(error))
    elif isinstance(error, ResourceExhausted):
        if error.violations:
            status.details.add().Pack(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(subject=v.subject, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        if error.retry_after_s is not None:
            status.details.add().Pack(_retry_info(error.retry_after_s))
    elif isinstance(error, Unavailable) and error.retry_after_s is not None:
        status.details.add().Pack(_retry_info(error.retry_after_s))
    return status


def _within_budget(
    violations: Sequence[FieldViolation], reason: str
) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """The violations in order while their encoding stays within ``FIELD_VIOLATION_BYTES`` (the first always).

    A violation without a rule of its own carries the refusal's ``reason``: every one says why.
    """
    listed: list[error_details_pb2.BadRequest.FieldViolation] = []
    size = 0
    for v in violations:
        encoded = error_details_pb2.BadRequest.FieldViolation(
            field=v.field, description=v.description, reason=v.reason or reason
        )
        size += encoded.ByteSize() + 3  # the repeated field's tag and length
        if listed and size > FIELD_VIOLATION_BYTES:
            break
        listed.append(encoded)
    return listed


def _precondition_failure(error: FailedPrecondition) -> error_details_pb2.PreconditionFailure:
    """The refusal's own violations; without any, one of its reason (the type), the first value of its
    metadata, which names the resource refused (the subject), and its message: every FAILED_PRECONDITION
    carries the detail."""
    Violation = error_details_pb2.PreconditionFailure.Violation
    if error.violations:
        violations = [
            Violation(type=v.type, subject=v.subject, description=v.description) for v in error.violations
        ]
    else:
        subject = next(iter(error.metadata.values()), "")
        violations = [Violation(type=error.reason, subject=subject, description=error.message)]
    return error_details_pb2.PreconditionFailure(violations=violations)


def _retry_info(after_s: float) -> error_details_pb2.RetryInfo:
    seconds = math.floor(after_s)
    return error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=seconds, nanos=round((after_s - seconds) * 1_000_000_000))
    )


def _status_for_exception(method: MethodInfo, exc: Exception) -> status_pb2.Status:
    if isinstance(exc, DomainError):
        return status_for(exc)
    if isinstance(exc, NotImplementedError):
        status = status_pb2.Status(
            code=grpc.StatusCode.UNIMPLEMENTED.value[0], message=f"{method.full_name} is not implemented"
        )
        status.details.add().Pack(
            error_details_pb2.ErrorInfo(
                reason=NOT_IMPLEMENTED, domain=DOMAIN, metadata={"method": method.full_name}
            )
        )
        return status
    log.error("internal error in %s", method.full_name, exc_info=exc)
    status = status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message="internal error")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=INTERNAL, domain=DOMAIN))
    return status


async def _abort(method: MethodInfo, context: Context, exc: Exception) -> NoReturn:
    status = rpc_status.to_status(_status_for_exception(method, exc))
    await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)
    raise AssertionError("context.abort returned")  # abort always raises; this satisfies NoReturn


class ErrorMappingInterceptor(Interceptor):
    """Maps every exception escaping the inner chain or the servicer to a rich status."""

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return _map_unary(method, behavior)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return _map_unary(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return _map_stream(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return _map_stream(method, behavior)


def _map_unary(method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
    async def mapped(request: Any, context: Context) -> Any:
        # No reset: the contextvar lives in this RPC's own task and dies with it.
        set_call(CallInfo(method, context))
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(method, context, exc)

    return mapped


def _map_stream(method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
    if inspect.isasyncgenfunction(behavior):

        async def mapped_gen(request: Any, context: Context) -> AsyncIterator[Any]:
            set_call(CallInfo(method, context))
            try:
                async for response in behavior(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(method, context, exc)

        return mapped_gen

    async def mapped(request: Any, context: Context) -> Any:
        set_call(CallInfo(method, context))
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(method, context, exc)

    return mapped
