"""Domain errors: raised by plain Python code, mapped to gRPC status in ONE place.

The error-mapping interceptor (interceptors/errors.py) turns each class into
its status code with a google.rpc.ErrorInfo (reason, domain "vgi") and the
detail messages named below. Domain code never imports grpc.
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAIN = "vgi"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: a dotted path (``aggregator.display_name``) and why; ``reason`` names the contract
    rule it breaks (UPPER_SNAKE, e.g. ``BID_SLOTS_DISTINCT`` for the CEL rule ``bid.slots_distinct``), if any."""

    field: str
    description: str
    reason: str = ""


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    ``reason`` is an UPPER_SNAKE_CASE constant documented with the RPC;
    ``metadata`` goes into ErrorInfo.metadata (strings only, no secrets).
    """

    code_name = "UNKNOWN"
    default_reason = "UNKNOWN"

    def __init__(self, message: str, *, reason: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(DomainError):
    """The request is malformed; ``violations`` go into a BadRequest detail."""

    code_name = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        violations: list[FieldViolation] | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = list(violations or [])


class NotFound(DomainError):
    """The resource does not exist, or the caller may not know it exists."""

    code_name = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code_name = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


@dataclass(frozen=True)
class PreconditionViolation:
    """One failed precondition: type (e.g. ``STATE``), subject and description."""

    type: str
    subject: str
    description: str


class FailedPrecondition(DomainError):
    """The system is not in the state the call needs; ``violations`` go into a PreconditionFailure."""

    code_name = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: list[PreconditionViolation] | None = None,
        metadata: dict[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = list(violations or [])


class Aborted(DomainError):
    """A concurrency conflict; the caller may retry the whole operation."""

    code_name = "ABORTED"
    default_reason = "ABORTED"


class PermissionDenied(DomainError):
    code_name = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code_name = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


@dataclass
class QuotaViolation:
    subject: str
    description: str


class ResourceExhausted(DomainError):
    """A limit was reached; ``retry_after_s`` goes into RetryInfo when set."""

    code_name = "RESOURCE_EXHAUSTED"
    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after_s: float | None = None,
        violations: list[QuotaViolation] | None = None,
        metadata: dict[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s
        self.violations: list[QuotaViolation] = list(violations or [])


class Unavailable(DomainError):
    """The service cannot answer now; ``retry_after_s`` goes into RetryInfo when set."""

    code_name = "UNAVAILABLE"
    default_reason = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after_s: float | None = None,
        metadata: dict[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s
