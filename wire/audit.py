"""Audit records (store.audit) → vgi.operator.v1.AuditRecord."""

from __future__ import annotations

from vgi.operator.v1 import operator_service_pb2 as pb

from infra.security.audit_chain import AuditRecord
from wire.timestamps import timestamp


def audit_record_message(record: AuditRecord) -> pb.AuditRecord:
    return pb.AuditRecord(
        sequence=record.seq,
        record_time=timestamp(record.time),
        principal=record.principal,
        method=record.method,
        request_id=record.request_id,
        request_digest=record.request_digest,
        code=record.outcome,
        trace_id=record.trace_id,
        previous_hash=record.prev_hash,
        hash=record.hash,
        detail=record.detail,
        chain=record.chain,
        chain_sequence=record.chain_seq or 0,
    )
