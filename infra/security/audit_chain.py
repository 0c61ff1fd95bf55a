"""The audit log's hash chains (SPEC F12): sealing rows and finding tampering.

The log is made of chains. Each server process appends to its own chain,
named by a random id made when its ``store.audit.AuditWriter`` starts (16 hex
digits; a restart starts a new chain), so no process waits for another's
head. Rows written before chains were per process form the legacy chain,
named ``""``. A row's place in its chain is its ``position``: ``chain_seq``
(1, 2, 3 … without gaps) on a process chain, the log-wide ``seq`` on the
legacy chain, where the two were one.

Each row's hash covers its content and the previous row OF ITS CHAIN::

    hash = sha256(bytes.fromhex(prev_hash) || canonical(row))

where ``canonical`` is compact JSON of the array

* process chain: ``[chain, chain_seq, time, principal, method, request_id,
  request_digest, outcome, trace_id, detail]``;
* legacy chain (unchanged, so its rows keep verifying): ``[seq, time,
  principal, method, request_id, request_digest, outcome, trace_id]`` plus
  ``detail`` at the end when it is not empty;

and ``time`` is rendered ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. The first row
of every chain links to ``GENESIS_HASH``. A process chain's hash does not
cover the log-wide ``seq``: that is only the list order, assigned without a
cross-process lock and with gaps; verification still demands that it orders
each chain's rows as the chain does (``SEQ_OUT_OF_ORDER``), and ``time`` is
covered. Editing a row breaks its own hash; recomputing that hash breaks the
next row's link; deleting, inserting or moving rows breaks the position
sequence or a link; moving a row to another chain breaks both chains.
Truncating a chain's tail, or deleting a whole chain, leaves valid chains,
which only heads remembered elsewhere (``expected_head``, ``checkpoint``,
``verify_chains``' checkpoints) expose.

Storage-agnostic: the store maps its rows to ``AuditRecord`` and back, and
must hand back ``time`` timezone-aware with microsecond precision intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
#: The chain of the rows written before chains were per process.
LEGACY_CHAIN = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row; ``hash`` and ``prev_hash`` are lowercase hex SHA-256.

    ``seq`` is the row's place in the whole log (list order); ``chain`` and
    ``chain_seq`` its chain and place there (``chain_seq`` is None on the
    legacy chain, where ``seq`` is the place).
    """

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
    chain: str = LEGACY_CHAIN
    chain_seq: int | None = None

    @property
    def position(self) -> int:
        """The row's place in its chain: ``chain_seq``, or ``seq`` on the legacy chain."""
        if self.chain == LEGACY_CHAIN or self.chain_seq is None:
            return self.seq
        return self.chain_seq

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
    """One piece of evidence of tampering, located by ``chain`` and ``seq`` (the position in that chain)."""

    seq: int
    kind: ProblemKind
    description: str
    chain: str = LEGACY_CHAIN

    @property
    def location(self) -> str:
        """``seq N`` on the legacy chain, ``chain C seq N`` on a process chain."""
        return f"seq {self.seq}" if self.chain == LEGACY_CHAIN else f"chain {self.chain} seq {self.seq}"

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}: {self.description}"


def request_digest(serialized_request: bytes) -> str:
    """Hex SHA-256 of the serialized request message."""
    return hashlib.sha256(serialized_request).hexdigest()


# One encoder for every row: ``json.dumps`` with these options builds a new one per call (~1.7 µs a row).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _render_time(time: datetime) -> str:
    """``time`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (``isoformat``, ~0.8 µs cheaper than ``strftime``,
    gives the same text for every 4-digit year; ``strftime`` renders the others)."""
    if time.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    utc = time.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:26] + "Z"


def _digest(prev_hash: str, fields: list[Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + _CANONICAL.encode(fields).encode()).hexdigest()


def chain_row_hash(
    prev_hash: str, chain: str, chain_seq: int | None, time: datetime, content: Sequence[str], detail: str
) -> str:
    """The hash of a process chain's row after ``prev_hash``: ``row_hash`` of that row, without building it
    (the store seals a row before the log-wide ``seq``, which it does not cover, is known). ``content`` is
    the row's principal, method, request_id, request_digest, outcome and trace_id, in that order."""
    if chain == LEGACY_CHAIN:
        raise ValueError("chain_row_hash is for a process chain's row")
    return _digest(prev_hash, [chain, chain_seq, _render_time(time), *content, detail])


def row_hash(record: AuditRecord) -> str:
    """The hash ``record`` must carry given its content and ``prev_hash`` (its own ``hash`` is ignored)."""
    content = (
        record.principal,
        record.method,
        record.request_id,
        record.request_digest,
        record.outcome,
        record.trace_id,
    )
    if record.chain != LEGACY_CHAIN:
        return chain_row_hash(
            record.prev_hash, record.chain, record.chain_seq, record.time, content, record.detail
        )
    fields: list[Any] = [record.seq, _render_time(record.time), *content]
    if record.detail:
        # Only when set, so every row sealed before ``detail`` existed keeps its hash.
        fields.append(record.detail)
    return _digest(record.prev_hash, fields)


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
    chain: str = LEGACY_CHAIN,
) -> AuditRecord:
    """The row of ``chain`` that follows ``last`` (None for the chain's first row): next seq and
    position, linked and hashed.

    Only one writer may append to a chain: the store's ``AuditWriter`` owns its
    chain (the legacy chain is closed), and ``(chain, chain_seq)`` is unique.
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
        chain=chain,
        chain_seq=None if chain == LEGACY_CHAIN else 1 if last is None else last.position + 1,
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
    chain: str = LEGACY_CHAIN,
    chain_seq: int | None = None,
) -> AuditRecord:
    """The row at ``chain_seq`` of ``chain`` (at ``seq`` of the legacy chain) after the row whose hash is
    ``prev_hash``: all it takes of the previous row. A process chain's hash does not cover ``seq``, so
    the store may set it after sealing (``dataclasses.replace``)."""
    if chain != LEGACY_CHAIN and chain_seq is None:
        raise ValueError("a process chain's row needs its chain_seq")
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
        chain=chain,
        chain_seq=chain_seq,
    )
    return replace(unsealed, hash=row_hash(unsealed))


def verify(
    rows: Iterable[AuditRecord],
    *,
    anchor: tuple[int, str] = (0, GENESIS_HASH),
    expected_head: tuple[int, str] | None = None,
    checkpoint: tuple[int, str] | None = None,
    chain: str = LEGACY_CHAIN,
) -> list[Problem]:
    """Every sign of tampering in the rows of ONE chain (as stored, in storage order); empty if intact.

    Rows are placed by ``position`` (``chain_seq``; ``seq`` on the legacy chain);
    ``chain`` names the chain in the problems. ``anchor`` is the (position, hash)
    the first row follows: the genesis for a whole chain, or a trusted checkpoint
    to verify a window. ``expected_head`` is the last (position, hash)
    remembered outside the log, which exposes a truncated tail. ``checkpoint``
    is a (position, hash) the chain must still hold (``audit_checkpoint``): its
    absence exposes deleted newest rows (or all of them), a different hash
    there a recomputed chain. Problems are sorted by position.
    """
    problems: list[Problem] = []

    def found(seq: int, kind: ProblemKind, description: str) -> None:
        problems.append(Problem(seq, kind, description, chain))

    anchor_seq, anchor_hash = anchor
    seen: set[int] = set()
    highest = anchor_seq
    walk: list[AuditRecord] = []
    # Order of appearance: a position seen twice or after a later one is a row
    # inserted or moved; the chain walk below then works on position order.
    for row in rows:
        place = row.position
        if place in seen:
            found(place, ProblemKind.SEQ_DUPLICATE, f"seq {place} appears more than once")
            continue
        seen.add(place)
        if place <= highest:
            where = (
                f"appears after seq {highest}"
                if highest > anchor_seq
                else f"is not after the chain's anchor seq {anchor_seq}"
            )
            found(place, ProblemKind.SEQ_OUT_OF_ORDER, f"seq {place} {where}")
        highest = max(highest, place)
        if place > anchor_seq:
            walk.append(row)
    walk.sort(key=lambda row: row.position)
    prev_seq, prev_hash = anchor_seq, anchor_hash
    for row in walk:
        place = row.position
        if checkpoint is not None and place == checkpoint[0] and row.hash != checkpoint[1]:
            found(
                place,
                ProblemKind.CHECKPOINT_MISMATCH,
                f"seq {place}: hash differs from the checkpoint kept outside the database "
                "(rows rewritten and the chain recomputed)",
            )
        if row_hash(row) != row.hash:
            found(place, ProblemKind.HASH_MISMATCH, f"seq {place}: content does not match its hash")
        if place > prev_seq + 1:
            missing = f"seq {prev_seq + 1}" if place == prev_seq + 2 else f"seqs {prev_seq + 1}..{place - 1}"
            found(prev_seq + 1, ProblemKind.SEQ_GAP, f"{missing} missing before seq {place}")
        elif row.prev_hash != prev_hash:
            found(
                place,
                ProblemKind.BROKEN_LINK,
                f"seq {place}: prev_hash does not match the hash of seq {prev_seq}",
            )
        prev_seq, prev_hash = place, row.hash
    if checkpoint is not None and prev_seq < checkpoint[0]:
        ends = f"log ends at seq {prev_seq}" if walk else "no row of the chain is left"
        found(
            checkpoint[0],
            ProblemKind.CHECKPOINT_MISSING,
            f"{ends}, but the checkpoint kept outside the database records "
            f"seq {checkpoint[0]} ({'newest rows' if walk else 'the whole chain'} deleted)",
        )
    if expected_head is not None and (prev_seq, prev_hash) != expected_head:
        head_seq, _ = expected_head
        found(
            head_seq,
            ProblemKind.HEAD_MISMATCH,
            f"log ends at seq {prev_seq}, expected head seq {head_seq} with its recorded hash",
        )
    problems.sort(key=lambda problem: problem.seq)
    return problems


@dataclass(frozen=True)
class ChainsVerified:
    """What ``verify_chains`` found: the problems, how many chains and rows it walked, and how many of
    those chains had no checkpoint (their truncation is undetectable)."""

    problems: list[Problem]
    chains: int
    records: int
    unguarded: int


def verify_chains(
    rows: Iterable[AuditRecord], checkpoints: Mapping[str, tuple[int, str]] | None = None
) -> ChainsVerified:
    """``verify`` of every chain in ``rows`` (the whole log in storage order), each against its entry
    of ``checkpoints`` (chain → (position, hash) kept outside the database), plus every checkpointed
    chain no row is left of. Problems are sorted by chain (the legacy chain first), then position."""
    chains: dict[str, list[AuditRecord]] = {}
    records = 0
    for row in rows:
        chains.setdefault(row.chain, []).append(row)
        records += 1
    heads = dict(checkpoints or {})
    problems: list[Problem] = []
    for chain in sorted(chains.keys() | heads.keys()):
        problems.extend(verify(chains.get(chain, []), checkpoint=heads.get(chain), chain=chain))
    return ChainsVerified(problems, len(chains), records, len(chains.keys() - heads.keys()))
