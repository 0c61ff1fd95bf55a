"""The audit log over a real server: what mutating calls record, the operator RPCs, and tamper detection
through both VerifyAuditLog and ``vgi audit verify``."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.errors import AlreadyExistsError, InvalidArgumentError
from infra.security.audit_chain import AuditRecord, ProblemKind, seal
from store.audit import verify_log
from store.security_tables import AuditLogRow
from store.tables import table_of

from .rpcs import call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

LOG = table_of(AuditLogRow)
CREATE = "/vgi.operator.v1.OperatorService/CreateAggregator"
OPERATOR = "vgi://operator/op-1"


async def _rows(platform: Any) -> list[AuditRecord]:
    def read(conn: Connection) -> list[AuditRecord]:
        return [
            AuditRecord.from_mapping(dict(row))
            for row in conn.execute(sa.select(LOG).order_by(LOG.c.seq)).mappings()
        ]

    rows: list[AuditRecord] = await platform.db.read(read)
    return rows


async def _create_five(platform: Any) -> None:
    for i in range(5):
        await platform.operator.create_aggregator(
            f"agg-{i}x", aggregator_pb2.Aggregator(display_name=f"A{i}")
        )


async def test_mutating_calls_are_recorded_with_their_outcome(platform: Any) -> None:
    request_id = str(uuid.uuid4())
    created = operator_pb.CreateAggregatorRequest(
        request_id=request_id, aggregator_id="acme", aggregator=aggregator_pb2.Aggregator(display_name="ACME")
    )
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    await stub.CreateAggregator(created, timeout=5)
    with pytest.raises(AlreadyExistsError):
        await platform.operator.create_aggregator("acme", aggregator_pb2.Aggregator(display_name="Other"))
    with pytest.raises(InvalidArgumentError):
        await platform.operator.create_aggregator("A!", aggregator_pb2.Aggregator(display_name="Bad id"))
    # Reads are not audited; nor are calls refused before the audit step.
    await platform.operator.get_aggregator("aggregators/acme")
    denied = await call(
        platform.channel_for("vgi://aggregator/agg-1", onboard=False), _rpc("CreateAggregator"), created
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED

    rows = await _rows(platform)
    assert [(r.seq, r.principal, r.method, r.outcome) for r in rows] == [
        (1, OPERATOR, CREATE, "OK"),
        (2, OPERATOR, CREATE, "ALREADY_EXISTS"),
        (3, OPERATOR, CREATE, "INVALID_ARGUMENT"),
    ]
    first = rows[0]
    # One server process: one chain of its own, placed 1, 2, 3.
    assert len(first.chain) == 16 and [(r.chain, r.chain_seq) for r in rows] == [
        (first.chain, n) for n in (1, 2, 3)
    ]
    assert first.request_id == request_id
    assert first.request_digest == hashlib.sha256(created.SerializeToString(deterministic=True)).hexdigest()
    assert rows[1].prev_hash == first.hash and rows[2].prev_hash == rows[1].hash
    assert all(len(r.trace_id) in (0, 32) for r in rows)


def _rpc(name: str) -> Any:
    return next(rpc for rpc in contract_rpcs() if rpc.path == f"/vgi.operator.v1.OperatorService/{name}")


async def test_concurrent_mutations_make_one_unbroken_chain(platform: Any) -> None:
    await asyncio.gather(
        *(
            platform.operator.create_aggregator(f"con-{i}", aggregator_pb2.Aggregator(display_name=f"C{i}"))
            for i in range(24)
        )
    )
    rows = await _rows(platform)
    assert [r.seq for r in rows] == list(range(1, 25))
    result = await platform.db.read(verify_log)
    assert (result.intact, result.records_checked) == (True, 24)


async def test_list_audit_records_pages_and_filters(platform: Any) -> None:
    await _create_five(platform)
    # A second operator writes one more row.
    other = operator_grpc.OperatorServiceStub(platform.channel_for("vgi://operator/op-2"))
    await other.CreateAggregator(
        operator_pb.CreateAggregatorRequest(
            request_id=str(uuid.uuid4()),
            aggregator_id="by-op2",
            aggregator=aggregator_pb2.Aggregator(display_name="B"),
        ),
        timeout=5,
    )
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    seen, token = [], ""
    while True:
        page = await stub.ListAuditRecords(
            operator_pb.ListAuditRecordsRequest(page_size=4, page_token=token), timeout=5
        )
        seen.extend(page.audit_records)
        token = page.next_page_token
        if not token:
            break
    assert [r.sequence for r in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[5].principal == "vgi://operator/op-2" and seen[5].code == "OK"
    assert seen[1].previous_hash == seen[0].hash
    assert [r.chain_sequence for r in seen] == [1, 2, 3, 4, 5, 6] and len({r.chain for r in seen}) == 1
    mine = await stub.ListAuditRecords(
        operator_pb.ListAuditRecordsRequest(principal="vgi://operator/op-2", method=CREATE), timeout=5
    )
    assert [r.sequence for r in mine.audit_records] == [6]
    # Only operators may read the log.
    grid = await call(platform.grid, _rpc("ListAuditRecords"), operator_pb.ListAuditRecordsRequest())
    assert (grid.code, grid.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")


def _edit(conn: Connection, rows: list[AuditRecord]) -> None:
    conn.execute(sa.update(LOG).where(LOG.c.seq == 2).values(principal="vgi://operator/mallory"))


def _delete(conn: Connection, rows: list[AuditRecord]) -> None:
    conn.execute(sa.delete(LOG).where(LOG.c.seq == 3))


def _insert(conn: Connection, rows: list[AuditRecord]) -> None:
    """Make room after the chain's place 2 and slip in a correctly sealed forged row."""
    for row in reversed(rows[2:]):
        assert row.chain_seq is not None
        conn.execute(
            sa.update(LOG).where(LOG.c.seq == row.seq).values(seq=row.seq + 1, chain_seq=row.chain_seq + 1)
        )
    forged = seal(
        rows[1],
        time=rows[1].time,
        principal="vgi://operator/mallory",
        method=CREATE,
        request_id="forged",
        request_digest="0" * 64,
        outcome="OK",
        trace_id="",
        chain=rows[1].chain,
    )
    assert (forged.seq, forged.chain_seq) == (3, 3)
    conn.execute(
        sa.insert(LOG).values({name: getattr(forged, name) for name in AuditRecord.__dataclass_fields__})
    )


def _swap(conn: Connection, column: str) -> None:
    """Swap ``column`` (seq or chain_seq) of the rows at seq 2 and 3, through a free value (it is unique)."""
    first, second = (
        conn.execute(sa.select(LOG.c[column]).where(LOG.c.seq == n)).scalar_one() for n in (2, 3)
    )
    conn.execute(sa.update(LOG).where(LOG.c.seq == 2).values({column: -1}))
    conn.execute(sa.update(LOG).where(LOG.c[column] == second).values({column: first}))
    conn.execute(sa.update(LOG).where(LOG.c[column] == -1).values({column: second}))


def _reorder(conn: Connection, rows: list[AuditRecord]) -> None:
    """Swap rows 2 and 3, in the list and in their chain (the hash covers the place in the chain)."""
    _swap(conn, "chain_seq")
    _swap(conn, "seq")


def _reorder_listing(conn: Connection, rows: list[AuditRecord]) -> None:
    """Swap only the log-wide seq of rows 2 and 3: the list order then contradicts the chain's."""
    _swap(conn, "seq")


TAMPERING: dict[str, tuple[Callable[[Connection, list[AuditRecord]], None], set[ProblemKind]]] = {
    "edited": (_edit, {ProblemKind.HASH_MISMATCH}),
    "deleted": (_delete, {ProblemKind.SEQ_GAP}),
    "inserted": (_insert, {ProblemKind.HASH_MISMATCH, ProblemKind.BROKEN_LINK}),
    "reordered": (_reorder, {ProblemKind.HASH_MISMATCH, ProblemKind.BROKEN_LINK}),
    "reordered in the list": (_reorder_listing, {ProblemKind.SEQ_OUT_OF_ORDER}),
}


async def _cli_verify(platform: Any) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "audit",
        "verify",
        "--database",
        platform.platform.settings.database_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_verify_passes_untouched_and_fails_for_each_tampering(platform: Any, tampering: str) -> None:
    await _create_five(platform)
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    untouched = await stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=10)
    assert (
        untouched.intact,
        untouched.records_checked,
        list(untouched.problems),
        untouched.chains_checked,
    ) == (
        True,
        5,
        [],
        1,
    )

    tamper, kinds = TAMPERING[tampering]
    rows = await _rows(platform)
    await platform.db.write(lambda conn: tamper(conn, rows))

    result = await platform.db.read(verify_log)
    assert not result.intact
    assert {problem.kind for problem in result.problems} == kinds
    answer = await stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=10)
    assert answer.intact is False
    # The server also checks the head it keeps outside the database, which may add its own finding.
    assert {str(problem) for problem in result.problems} <= set(answer.problems)


async def test_vgi_audit_verify_exits_non_zero_and_prints_the_problems(platform: Any) -> None:
    await _create_five(platform)
    code, output = await _cli_verify(platform)
    assert (code, output.strip()) == (
        0,
        "audit log intact: 5 records in 1 chain (no checkpoint: truncation undetectable)",
    )
    rows = await _rows(platform)
    await platform.db.write(lambda conn: _edit(conn, rows))
    code, output = await _cli_verify(platform)
    assert code == 1
    assert f"chain {rows[1].chain} seq 2: HASH_MISMATCH: seq 2: content does not match its hash" in output
    assert "audit log TAMPERED: 1 problems in 5 records (1 chain)" in output
