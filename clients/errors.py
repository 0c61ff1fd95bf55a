"""Typed client exceptions carrying the unpacked google.rpc.Status details.

``from_grpc_error`` turns a ``grpc.aio.AioRpcError`` into the subclass for its
code (like google-api-core's ``exceptions.from_grpc_error``), with the
ErrorInfo reason/domain/metadata, BadRequest field violations,
PreconditionFailure and QuotaFailure violations, and RetryInfo delay.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class VgiError(Exception):
    """A failed call. ``status`` is the full google.rpc.Status when the server sent one."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, status: status_pb2.Status | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = ""
        self.domain = ""
        self.metadata: Mapping[str, str] = {}
        self.field_violations: list[error_details_pb2.BadRequest.FieldViolation] = []
        self.precondition_violations: list[error_details_pb2.PreconditionFailure.Violation] = []
        self.quota_violations: list[error_details_pb2.QuotaFailure.Violation] = []
        self.retry_delay: float | None = None
        if status is not None:
            self._unpack(status)

    def _unpack(self, status: status_pb2.Status) -> None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                self.reason, self.domain, self.metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                self.field_violations.extend(bad.field_violations)
            elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
                failure = error_details_pb2.PreconditionFailure()
                detail.Unpack(failure)
                self.precondition_violations.extend(failure.violations)
            elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
                quota = error_details_pb2.QuotaFailure()
                detail.Unpack(quota)
                self.quota_violations.extend(quota.violations)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                self.retry_delay = retry.retry_delay.ToTimedelta().total_seconds()

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"


class CancelledError(VgiError):
    code = grpc.StatusCode.CANCELLED


class InvalidArgumentError(VgiError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(VgiError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(VgiError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(VgiError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(VgiError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(VgiError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(VgiError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(VgiError):
    code = grpc.StatusCode.ABORTED


class OutOfRangeError(VgiError):
    code = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(VgiError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(VgiError):
    code = grpc.StatusCode.INTERNAL


class UnavailableError(VgiError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLossError(VgiError):
    code = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(VgiError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[VgiError]] = {
    cls.code: cls
    for cls in (
        CancelledError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
}


def from_grpc_error(error: grpc.aio.AioRpcError) -> VgiError:
    """The typed exception for a failed call, details unpacked."""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        # The status details disagree with the call's code or message; trust
        # the call and drop the details rather than raise something else.
        status = None
    cls = _BY_CODE.get(error.code(), VgiError)
    exc = cls(error.details() or "", status=status)
    if cls is VgiError:
        exc.code = error.code()
    return exc


def from_status(status: status_pb2.Status) -> VgiError:
    """The typed exception for a google.rpc.Status carried in a response (a rejected stream message)."""
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code, VgiError)
    exc = cls(status.message, status=status)
    if cls is VgiError:
        exc.code = code
    return exc
