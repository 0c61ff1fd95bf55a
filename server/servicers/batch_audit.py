"""One audit record per accepted telemetry batch (SPEC F12: every mutating effect is audited).

UploadTelemetry is one long stream of many batches, so the call-level audit
of mutating RPCs would record at most one row for thousands of batches. Each
batch the store accepted is recorded on its own instead — principal, the
method, the batch id as request id, the SHA-256 of the batch as sent (``wire.resources.batch_digest``,
the digest the store compares re-sends by, taken once), and
``points=<stored>/<sent>`` (or ``duplicate``) as detail — before it is
acknowledged, through the same group-committed writer as the interceptor.
"""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry import trace

from domain.principal import Principal
from store.audit import AuditEntry, AuditWriter


async def audit_batch(
    writer: AuditWriter,
    principal: Principal,
    method: str,
    batch_id: str,
    digest: str,
    *,
    stored: int,
    sent: int,
    duplicate: bool,
) -> None:
    span = trace.get_current_span().get_span_context()
    await writer.append(
        AuditEntry(
            time=datetime.now(UTC),
            principal=principal.uri,
            method=method,
            request_id=batch_id,
            request_digest=digest,
            outcome="OK",
            trace_id=format(span.trace_id, "032x") if span.is_valid else "",
            detail="duplicate" if duplicate else f"points={stored}/{sent}",
        )
    )
