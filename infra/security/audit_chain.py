"""The audit log's hash chain (SPEC F12): sealing rows and finding tampering.

Each row's hash covers its content and the previous row's hash::

    hash = sha256(bytes.fromhex(prev_hash) || canonical(row))

where ``canonical`` is compact JSON of the array
``[seq, time, principal, method, request_id, request_digest, outcome, trace_id]``
(plus ``detail`` at the end when it is not empty)
and ``time`` is rendered ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. The first row
links to ``GENESIS_HASH``. Editing a row breaks its own hash; recomputing that
hash breaks the next row's link; deleting, inserting or moving rows breaks the
``seq`` sequence or a link. Truncating the tail leaves a valid shorter chain,
which only a head remembered elsewhere (``expected_head``) exposes.

Storage-agnostic: the store maps its rows to ``AuditRecord`` and back, and
must hand back ``time`` timezone-aware with microsecond precision intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row; ``hash`` and ``prev_hash`` are lowercase hex SHA-256."""

    seq: int
    time: datetime
    principal: str
    method: str
    request_id: str
    request_digest: str
    outcome: str
    trace_id: str
    prev_hash: str
    hash: str
    detail: str = ""

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> AuditRecord:
        """Build from a store row (dict or SQLAlchemy ``RowMapping``) with these field names."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class ProblemKind(StrEnum):
    HASH_MISMATCH = "HASH_MISMATCH"
    BROKEN_LINK = "BROKEN_LINK"
    SEQ_GAP = "SEQ_GAP"
    SEQ_DUPLICATE = "SEQ_DUPLICATE"
    SEQ_OUT_OF_ORDER = "SEQ_OUT_OF_ORDER"
    HEAD_MISMATCH = "HEAD_MISMATCH"
    CHECKPOINT_MISSING = "CHECKPOINT_MISSING"
    CHECKPOINT_MISMATCH = "CHECKPOINT_MISMATCH"


@dataclass(frozen=True)
class Problem:
    """One piece of evidence of tampering, located by ``seq``."""

    seq: int
    kind: ProblemKind
    description: str


def request_digest(serialized_request: bytes) -> str:
    """Hex SHA-256 of the serialized request message."""
    return hashlib.sha256(serialized_request).hexdigest()


def row_hash(record: AuditRecord) -> str:
    """The hash ``record`` must carry given its content and ``prev_hash`` (its own ``hash`` is ignored)."""
    if record.time.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    fields: list[Any] = [
        record.seq,
        record.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        record.principal,
        record.method,
        record.request_id,
        record.request_digest,
        record.outcome,
        record.trace_id,
    ]
    if record.detail:
        # Only when set, so every row sealed before ``detail`` existed keeps its hash.
        fields.append(record.detail)
    canonical = json.dumps(
        fields,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hashlib.sha256(bytes.fromhex(record.prev_hash) + canonical).hexdigest()


def seal(
    last: AuditRecord | None,
    *,
    time: datetime,
    principal: str,
    method: str,
    request_id: str,
    request_digest: str,
    outcome: str,
    trace_id: str,
    detail: str = "",
) -> AuditRecord:
    """The row that follows ``last`` (None for the first row): next seq, linked and hashed.

    The store must read ``last`` and insert the result in one transaction (with
    ``seq`` unique), or two writers would fork the chain.
    """
    return seal_next(
        1 if last is None else last.seq + 1,
        GENESIS_HASH if last is None else last.hash,
        time=time,
        principal=principal,
        method=method,
        request_id=request_id,
        request_digest=request_digest,
        outcome=outcome,
        trace_id=trace_id,
        detail=detail,
    )


def seal_next(
    seq: int,
    prev_hash: str,
    *,
    time: datetime,
    principal: str,
    method: str,
    request_id: str,
    request_digest: str,
    outcome: str,
    trace_id: str,
    detail: str = "",
) -> AuditRecord:
    """The row ``seq`` after the row whose hash is ``prev_hash`` (``seal`` given only the head's seq and
    hash, which is all it takes of the previous row)."""
    unsealed = AuditRecord(
        seq=seq,
        time=time,
        principal=principal,
        method=method,
        request_id=request_id,
        request_digest=request_digest,
        outcome=outcome,
        trace_id=trace_id,
        prev_hash=prev_hash,
        hash="",
        detail=detail,
    )
    return replace(unsealed, hash=row_hash(unsealed))


def verify(
    rows: Iterable[AuditRecord],
    *,
    anchor: tuple[int, str] = (0, GENESIS_HASH),
    expected_head: tuple[int, str] | None = None,
    checkpoint: tuple[int, str] | None = None,
) -> list[Problem]:
    """Every sign of tampering in ``rows`` (as stored, in storage order); empty if intact.

    ``anchor`` is the (seq, hash) the first row follows: the genesis for a
    whole log, or a trusted checkpoint to verify a window. ``expected_head``
    is the last (seq, hash) remembered outside the log, which exposes a
    truncated tail. ``checkpoint`` is a (seq, hash) the log must still hold
    (``audit_checkpoint``): its absence exposes deleted newest rows (or all of
    them), a different hash there a recomputed chain. Problems are sorted by seq.
    """
    problems: list[Problem] = []
    anchor_seq, anchor_hash = anchor
    seen: set[int] = set()
    highest = anchor_seq
    chain: list[AuditRecord] = []
    # Order of appearance: a seq seen twice or after a later one is a row
    # inserted or moved; the chain walk below then works on seq order.
    for row in rows:
        if row.seq in seen:
            problems.append(
                Problem(row.seq, ProblemKind.SEQ_DUPLICATE, f"seq {row.seq} appears more than once")
            )
            continue
        seen.add(row.seq)
        if row.seq <= highest:
            where = (
                f"appears after seq {highest}"
                if highest > anchor_seq
                else f"is not after the chain's anchor seq {anchor_seq}"
            )
            problems.append(Problem(row.seq, ProblemKind.SEQ_OUT_OF_ORDER, f"seq {row.seq} {where}"))
        highest = max(highest, row.seq)
        if row.seq > anchor_seq:
            chain.append(row)
    chain.sort(key=lambda row: row.seq)
    prev_seq, prev_hash = anchor_seq, anchor_hash
    for row in chain:
        if checkpoint is not None and row.seq == checkpoint[0] and row.hash != checkpoint[1]:
            problems.append(
                Problem(
                    row.seq,
                    ProblemKind.CHECKPOINT_MISMATCH,
                    f"seq {row.seq}: hash differs from the checkpoint kept outside the database "
                    "(rows rewritten and the chain recomputed)",
                )
            )
        if row_hash(row) != row.hash:
            problems.append(
                Problem(row.seq, ProblemKind.HASH_MISMATCH, f"seq {row.seq}: content does not match its hash")
            )
        if row.seq > prev_seq + 1:
            missing = (
                f"seq {prev_seq + 1}" if row.seq == prev_seq + 2 else f"seqs {prev_seq + 1}..{row.seq - 1}"
            )
            problems.append(
                Problem(prev_seq + 1, ProblemKind.SEQ_GAP, f"{missing} missing before seq {row.seq}")
            )
        elif row.prev_hash != prev_hash:
            problems.append(
                Problem(
                    row.seq,
                    ProblemKind.BROKEN_LINK,
                    f"seq {row.seq}: prev_hash does not match the hash of seq {prev_seq}",
                )
            )
        prev_seq, prev_hash = row.seq, row.hash
    if checkpoint is not None and prev_seq < checkpoint[0]:
        problems.append(
            Problem(
                checkpoint[0],
                ProblemKind.CHECKPOINT_MISSING,
                f"log ends at seq {prev_seq}, but the checkpoint kept outside the database records "
                f"seq {checkpoint[0]} (newest rows deleted)",
            )
        )
    if expected_head is not None and (prev_seq, prev_hash) != expected_head:
        head_seq, _ = expected_head
        problems.append(
            Problem(
                head_seq,
                ProblemKind.HEAD_MISMATCH,
                f"log ends at seq {prev_seq}, expected head seq {head_seq} with its recorded hash",
            )
        )
    problems.sort(key=lambda problem: problem.seq)
    return problems
