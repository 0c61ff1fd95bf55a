"""Finding 3: the audit log stays tamper-evident against someone who can write the database.

The head is kept, HMAC'd under the server secret, in a file outside the
database after every append; VerifyAuditLog and ``vgi audit verify`` check
the log against it. Deleting the newest rows, deleting every row, or editing
a row and recomputing every later hash are all detected, as is a forged
checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from infra.security.audit_chain import AuditRecord, row_hash
from infra.security.audit_checkpoint import checkpoint_for
from infra.security.server_secret import load_server_secret
from store.security_tables import AuditLogRow
from store.tables import table_of

pytestmark = pytest.mark.timeout(120)

LOG = table_of(AuditLogRow)
ROWS = 5


def _truncate(conn: Connection) -> None:
    conn.execute(sa.delete(LOG).where(LOG.c.seq > ROWS - 2))


def _delete_all(conn: Connection) -> None:
    conn.execute(sa.delete(LOG))


def _recompute(conn: Connection) -> None:
    """Edit row 2, then re-seal it and every later row, so the chain alone verifies."""
    rows = [
        AuditRecord.from_mapping(dict(r)) for r in conn.execute(sa.select(LOG).order_by(LOG.c.seq)).mappings()
    ]
    previous = rows[0].hash
    for row in rows[1:]:
        changed = replace(row, principal="vgi://operator/someone-else" if row.seq == 2 else row.principal)
        changed = replace(changed, prev_hash=previous)
        changed = replace(changed, hash=row_hash(changed))
        conn.execute(
            sa.update(LOG)
            .where(LOG.c.seq == row.seq)
            .values(principal=changed.principal, prev_hash=changed.prev_hash, hash=changed.hash)
        )
        previous = changed.hash


TAMPERING: dict[str, tuple[Callable[[Connection], None], str]] = {
    "newest rows deleted": (_truncate, "CHECKPOINT_MISSING"),
    "every row deleted": (_delete_all, "CHECKPOINT_MISSING"),
    "row edited and chain recomputed": (_recompute, "CHECKPOINT_MISMATCH"),
}


async def _audited_calls_with_checkpoint(platform: Any) -> Any:
    for i in range(ROWS):
        await platform.operator.create_aggregator(
            f"agg-{i}t", aggregator_pb2.Aggregator(display_name=f"T{i}")
        )
    settings = platform.platform.settings
    checkpoint = checkpoint_for(
        settings.audit_checkpoint_path(), load_server_secret(settings.secret_key_path())
    )
    assert checkpoint is not None
    async with asyncio.timeout(30):  # the head is kept just after the commit
        while True:
            if checkpoint.read() == await _head(platform):
                return checkpoint
            await asyncio.sleep(0.02)


async def _head(platform: Any) -> dict[str, tuple[int, str]]:
    """The newest row's chain → (chain_seq, hash): what the server's checkpoint holds (one process)."""

    def read(conn: Connection) -> dict[str, tuple[int, str]]:
        row = conn.execute(
            sa.select(LOG.c.chain, LOG.c.chain_seq, LOG.c.hash).order_by(LOG.c.seq.desc()).limit(1)
        ).first()
        return {} if row is None else {row.chain: (row.chain_seq, row.hash)}

    return await platform.db.read(read)


async def _cli_verify(platform: Any) -> tuple[int, str]:
    settings = platform.platform.settings
    environment = {
        **os.environ,
        "VGI_AUDIT_CHECKPOINT_FILE": settings.audit_checkpoint_path(),
        "VGI_SECRET_KEY_FILE": settings.secret_key_path(),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "audit",
        "verify",
        "--database",
        settings.database_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


def _roll_back(path: Path) -> None:
    """Move every kept head back to seq 1 without the secret (so with the old MAC)."""
    document = json.loads(path.read_text())
    chains = {chain: [1, head] for chain, (_, head) in document["chains"].items()}
    path.write_text(json.dumps({**document, "chains": chains}))


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_truncation_deletion_and_recomputation_of_the_audit_log_are_detected(
    platform: Any, tampering: str
) -> None:
    await _audited_calls_with_checkpoint(platform)
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    before = await stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=30)
    assert before.intact, before
    code, output = await _cli_verify(platform)
    assert code == 0 and "each checkpointed chain up to its head in the checkpoint (1 there)" in output, (
        output
    )

    tamper, kind = TAMPERING[tampering]
    await platform.db.write(tamper)
    after = await stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=30)
    assert after.intact is False
    assert any(f": {kind}: " in problem for problem in after.problems), after.problems
    code, output = await _cli_verify(platform)
    assert code == 1 and kind in output and "TAMPERED" in output, output


async def test_a_forged_audit_checkpoint_is_reported(platform: Any) -> None:
    checkpoint = await _audited_calls_with_checkpoint(platform)
    await asyncio.to_thread(_roll_back, Path(checkpoint.path))
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    answer = await stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=30)
    assert answer.intact is False
    assert any("CHECKPOINT_FORGED" in problem for problem in answer.problems), answer.problems
    code, output = await _cli_verify(platform)
    assert code == 1 and "CHECKPOINT_FORGED" in output, output
