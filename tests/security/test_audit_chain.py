"""The audit hash chain: an intact log verifies, and each kind of tampering is named by seq."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from infra.security.audit_chain import (
    GENESIS_HASH,
    LEGACY_CHAIN,
    AuditRecord,
    Problem,
    ProblemKind,
    chain_row_hash,
    request_digest,
    row_hash,
    seal,
    verify,
    verify_chains,
)

T0 = datetime(2025, 7, 1, 8, 0, 0, 123456, tzinfo=UTC)


def _chain(n: int = 5) -> list[AuditRecord]:
    rows: list[AuditRecord] = []
    for i in range(n):
        rows.append(
            seal(
                rows[-1] if rows else None,
                time=T0 + timedelta(seconds=i),
                principal="vgi://aggregator/agg-1",
                method="/vgi.aggregator.v1.AggregatorService/SubmitBid",
                request_id=f"req-{i + 1}",
                request_digest=request_digest(f"request {i + 1}".encode()),
                outcome="OK",
                trace_id=f"{i + 1:032x}",
            )
        )
    return rows


def test_first_row_hash_pins_the_canonical_format() -> None:
    first = _chain(1)[0]
    digest = hashlib.sha256(b"request 1").hexdigest()
    canonical = (
        '[1,"2025-07-01T08:00:00.123456Z","vgi://aggregator/agg-1",'
        '"/vgi.aggregator.v1.AggregatorService/SubmitBid","req-1",'
        f'"{digest}","OK","00000000000000000000000000000001"]'
    )
    assert (first.seq, first.prev_hash, first.request_digest) == (1, GENESIS_HASH, digest)
    assert first.hash == hashlib.sha256(bytes(32) + canonical.encode()).hexdigest()


def test_rows_link_to_their_predecessor() -> None:
    rows = _chain()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


def test_untouched_chain_verifies() -> None:
    rows = _chain()
    assert verify(rows) == []
    assert verify(rows, expected_head=(5, rows[-1].hash)) == []
    assert verify([]) == []


def test_time_in_another_zone_hashes_the_same_but_naive_time_is_refused() -> None:
    row = _chain(1)[0]
    shanghai = row.time.astimezone(timezone(timedelta(hours=8)))
    assert row_hash(replace(row, time=shanghai)) == row.hash
    with pytest.raises(ValueError, match="timezone-aware"):
        row_hash(replace(row, time=row.time.replace(tzinfo=None)))


@pytest.mark.parametrize(
    "time",
    [
        T0,
        T0.replace(microsecond=0),
        T0.astimezone(timezone(timedelta(hours=8))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_a_process_chain_row_hashes_alike_sealed_or_from_its_fields(time: datetime) -> None:
    """The store seals a row from its fields (``chain_row_hash``); ``row_hash`` (verification) must agree,
    and both render the time exactly as the canonical format's strftime does."""
    fields = (
        "vgi://operator",
        "/vgi.operator.v1.OperatorService/CreateAggregator",
        "req-1",
        "ab" * 32,
        "OK",
        "1" * 32,
    )
    record = seal(
        None,
        time=time,
        principal=fields[0],
        method=fields[1],
        request_id=fields[2],
        request_digest=fields[3],
        outcome=fields[4],
        trace_id=fields[5],
        detail="d",
        chain="c" * 16,
    )
    assert chain_row_hash(GENESIS_HASH, "c" * 16, 1, time, fields, "d") == record.hash
    stamp = time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = json.dumps(["c" * 16, 1, stamp, *fields, "d"], separators=(",", ":"), ensure_ascii=False)
    assert record.hash == hashlib.sha256(bytes(32) + canonical.encode()).hexdigest()
    with pytest.raises(ValueError, match="timezone-aware"):
        chain_row_hash(GENESIS_HASH, "c" * 16, 1, time.replace(tzinfo=None), fields, "d")


@pytest.mark.parametrize(
    "field", ["time", "principal", "method", "request_id", "request_digest", "outcome", "trace_id"]
)
def test_edited_row_is_reported_by_seq(field: str) -> None:
    rows = _chain()
    edits: dict[str, Any] = {field: T0 + timedelta(hours=1) if field == "time" else "edited"}
    rows[2] = replace(rows[2], **edits)
    assert verify(rows) == [Problem(3, ProblemKind.HASH_MISMATCH, "seq 3: content does not match its hash")]


def test_edited_and_rehashed_row_breaks_the_next_link() -> None:
    rows = _chain()
    edited = replace(rows[2], outcome="PERMISSION_DENIED")
    rows[2] = replace(edited, hash=row_hash(edited))
    assert verify(rows) == [
        Problem(4, ProblemKind.BROKEN_LINK, "seq 4: prev_hash does not match the hash of seq 3")
    ]


def test_deleted_rows_leave_a_gap() -> None:
    rows = _chain()
    assert verify(rows[:2] + rows[3:]) == [Problem(3, ProblemKind.SEQ_GAP, "seq 3 missing before seq 4")]
    assert verify(rows[:1] + rows[3:]) == [Problem(2, ProblemKind.SEQ_GAP, "seqs 2..3 missing before seq 4")]
    assert verify(rows[1:]) == [Problem(1, ProblemKind.SEQ_GAP, "seq 1 missing before seq 2")]


def test_truncated_tail_is_caught_by_the_remembered_head() -> None:
    rows = _chain()
    assert verify(rows[:3]) == []
    assert verify(rows[:3], expected_head=(5, rows[-1].hash)) == [
        Problem(5, ProblemKind.HEAD_MISMATCH, "log ends at seq 3, expected head seq 5 with its recorded hash")
    ]


def test_inserted_row_reusing_a_seq_is_a_duplicate() -> None:
    rows = _chain()
    forged = seal(
        rows[1],
        time=T0,
        principal="vgi://operator/op-1",
        method="/vgi.operator.v1.OperatorService/DeleteAggregator",
        request_id="forged",
        request_digest=request_digest(b""),
        outcome="OK",
        trace_id="",
    )
    assert forged.seq == 3
    # Placed before the real seq 3, the forgery takes its place in the chain and seq 4 no longer links.
    assert verify([*rows[:2], forged, *rows[2:]]) == [
        Problem(3, ProblemKind.SEQ_DUPLICATE, "seq 3 appears more than once"),
        Problem(4, ProblemKind.BROKEN_LINK, "seq 4: prev_hash does not match the hash of seq 3"),
    ]
    # Placed after it, only the duplicate shows.
    assert verify([*rows[:3], forged, *rows[3:]]) == [
        Problem(3, ProblemKind.SEQ_DUPLICATE, "seq 3 appears more than once")
    ]


def test_appended_forgery_is_caught_by_the_remembered_head() -> None:
    rows = _chain()
    forged = replace(rows[-1], seq=6, prev_hash=rows[-1].hash, request_id="forged")
    forged = replace(forged, hash=row_hash(forged))
    assert verify([*rows, forged]) == []
    assert verify([*rows, forged], expected_head=(5, rows[-1].hash)) == [
        Problem(5, ProblemKind.HEAD_MISMATCH, "log ends at seq 6, expected head seq 5 with its recorded hash")
    ]


def test_reordered_rows_are_out_of_order() -> None:
    rows = _chain()
    assert verify([rows[0], rows[2], rows[1], rows[3], rows[4]]) == [
        Problem(2, ProblemKind.SEQ_OUT_OF_ORDER, "seq 2 appears after seq 3")
    ]
    assert verify([rows[4], *rows[:4]]) == [
        Problem(1, ProblemKind.SEQ_OUT_OF_ORDER, "seq 1 appears after seq 5"),
        Problem(2, ProblemKind.SEQ_OUT_OF_ORDER, "seq 2 appears after seq 5"),
        Problem(3, ProblemKind.SEQ_OUT_OF_ORDER, "seq 3 appears after seq 5"),
        Problem(4, ProblemKind.SEQ_OUT_OF_ORDER, "seq 4 appears after seq 5"),
    ]


def test_swapped_contents_under_renumbered_seqs() -> None:
    rows = _chain()
    rows[1], rows[2] = replace(rows[2], seq=2), replace(rows[1], seq=3)
    assert verify(rows) == [
        Problem(2, ProblemKind.HASH_MISMATCH, "seq 2: content does not match its hash"),
        Problem(2, ProblemKind.BROKEN_LINK, "seq 2: prev_hash does not match the hash of seq 1"),
        Problem(3, ProblemKind.HASH_MISMATCH, "seq 3: content does not match its hash"),
        Problem(3, ProblemKind.BROKEN_LINK, "seq 3: prev_hash does not match the hash of seq 2"),
        Problem(4, ProblemKind.BROKEN_LINK, "seq 4: prev_hash does not match the hash of seq 3"),
    ]


def test_a_window_verifies_from_a_trusted_anchor() -> None:
    rows = _chain()
    assert verify(rows[2:], anchor=(2, rows[1].hash)) == []
    assert verify(rows[2:], anchor=(2, rows[0].hash)) == [
        Problem(3, ProblemKind.BROKEN_LINK, "seq 3: prev_hash does not match the hash of seq 2")
    ]
    assert verify(rows[1:], anchor=(2, rows[1].hash)) == [
        Problem(2, ProblemKind.SEQ_OUT_OF_ORDER, "seq 2 is not after the chain's anchor seq 2")
    ]


def test_records_round_trip_through_store_rows() -> None:
    row = _chain(1)[0]
    as_dict = {name: getattr(row, name) for name in AuditRecord.__dataclass_fields__} | {"id": 99}
    assert AuditRecord.from_mapping(as_dict) == row


# -- per-process chains ------------------------------------------------------------------------

CHAIN_A, CHAIN_B = "a1" * 8, "b2" * 8


def _process_chain(chain: str, n: int = 4, first_seq: int = 1) -> list[AuditRecord]:
    rows: list[AuditRecord] = []
    for i in range(n):
        rows.append(
            seal(
                rows[-1] if rows else None,
                time=T0 + timedelta(seconds=i),
                principal="vgi://operator/op-1",
                method="/vgi.operator.v1.OperatorService/CreateAggregator",
                request_id=f"{chain}-{i + 1}",
                request_digest=request_digest(f"{chain} {i + 1}".encode()),
                outcome="OK",
                trace_id="",
                chain=chain,
            )
        )
    return [replace(row, seq=first_seq + 2 * i) for i, row in enumerate(rows)]


def test_a_process_chains_first_row_pins_its_canonical_format() -> None:
    first = _process_chain(CHAIN_A, 1)[0]
    digest = hashlib.sha256(f"{CHAIN_A} 1".encode()).hexdigest()
    canonical = (
        f'["{CHAIN_A}",1,"2025-07-01T08:00:00.123456Z","vgi://operator/op-1",'
        f'"/vgi.operator.v1.OperatorService/CreateAggregator","{CHAIN_A}-1","{digest}","OK","",""]'
    )
    assert (first.chain, first.chain_seq, first.position, first.prev_hash) == (CHAIN_A, 1, 1, GENESIS_HASH)
    assert first.hash == hashlib.sha256(bytes(32) + canonical.encode()).hexdigest()
    # The log-wide seq is not covered: the store assigns it after sealing.
    assert row_hash(replace(first, seq=99)) == first.hash


def _interleaved() -> list[AuditRecord]:
    a, b = _process_chain(CHAIN_A, first_seq=2), _process_chain(CHAIN_B, first_seq=3)
    legacy = _chain(1)
    return sorted([*legacy, *a, *b], key=lambda row: row.seq)


def test_interleaved_chains_verify_each_against_its_checkpoint() -> None:
    rows = _interleaved()
    heads = {chain: (r.position, r.hash) for r in rows for chain in (r.chain,)}
    found = verify_chains(rows, heads)
    assert (found.problems, found.chains, found.records, found.unguarded) == ([], 3, 9, 0)
    assert verify_chains(rows).unguarded == 3


def test_a_problem_is_located_in_its_chain() -> None:
    rows = _interleaved()
    edited = [replace(r, outcome="INTERNAL") if (r.chain, r.chain_seq) == (CHAIN_B, 2) else r for r in rows]
    (problem,) = verify_chains(edited).problems
    assert (problem.chain, problem.seq, problem.kind) == (CHAIN_B, 2, ProblemKind.HASH_MISMATCH)
    assert str(problem) == f"chain {CHAIN_B} seq 2: HASH_MISMATCH: seq 2: content does not match its hash"


def test_a_deleted_chain_and_a_cut_tail_are_caught_only_by_the_checkpoint() -> None:
    rows = _interleaved()
    heads = {chain: (r.position, r.hash) for r in rows for chain in (r.chain,)}
    without_a = [r for r in rows if r.chain != CHAIN_A]
    assert verify_chains(without_a).problems == []
    assert verify_chains(without_a, heads).problems == [
        Problem(
            4,
            ProblemKind.CHECKPOINT_MISSING,
            "no row of the chain is left, but the checkpoint kept outside the database records seq 4 "
            "(the whole chain deleted)",
            CHAIN_A,
        )
    ]
    cut = [r for r in rows if not (r.chain == CHAIN_B and (r.chain_seq or 0) > 2)]
    assert verify_chains(cut).problems == []
    assert [(p.chain, p.seq, p.kind) for p in verify_chains(cut, heads).problems] == [
        (CHAIN_B, 4, ProblemKind.CHECKPOINT_MISSING)
    ]


def test_list_order_must_agree_with_each_chains_order() -> None:
    rows = _interleaved()
    a = [i for i, r in enumerate(rows) if r.chain == CHAIN_A]
    rows[a[1]], rows[a[2]] = rows[a[2]], rows[a[1]]
    assert [(p.chain, p.seq, p.kind) for p in verify_chains(rows).problems] == [
        (CHAIN_A, 2, ProblemKind.SEQ_OUT_OF_ORDER)
    ]


def test_a_row_relabelled_into_the_legacy_chain_is_hashed_in_the_legacy_form() -> None:
    rows = _interleaved()
    moved = [
        replace(r, chain="", chain_seq=None, seq=2) if (r.chain, r.chain_seq) == (CHAIN_A, 1) else r
        for r in rows
    ]
    kinds = {(p.chain, p.kind) for p in verify_chains(moved).problems}
    assert (LEGACY_CHAIN, ProblemKind.HASH_MISMATCH) in kinds
    assert (CHAIN_A, ProblemKind.SEQ_GAP) in kinds
